"""Supply's reads for the ops pages, exports and other apps."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from supply.models import SupplyAlert, Topup, TopupAttempt, Upstream


@dataclass(frozen=True)
class UpstreamStats:
    upstream: Upstream
    finished: int  # final attempts since `since`
    successes: int
    success_rate: Decimal | None  # 0..1, None without finished attempts
    median_seconds: float | None  # submit to final state
    p95_seconds: float | None
    in_flight: int  # open attempts right now


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * fraction // 1))  # ceil
    return sorted_values[int(rank) - 1]


def upstream_stats(*, since: datetime) -> list[UpstreamStats]:
    """Per upstream: success rate, median and p95 seconds to a final state of its attempts finished since
    `since`, and its in-flight count."""
    durations: dict[int, list[float]] = {}
    successes: dict[int, int] = {}
    finished = TopupAttempt.objects.filter(finished_at__gte=since, status__in=TopupAttempt.FINAL, submitted_at__isnull=False)
    for upstream_id, status, submitted_at, finished_at in finished.values_list(
        "upstream_id", "status", "submitted_at", "finished_at"
    ).iterator():
        durations.setdefault(upstream_id, []).append((finished_at - submitted_at).total_seconds())
        successes[upstream_id] = successes.get(upstream_id, 0) + (status == TopupAttempt.Status.SUCCESS)
    in_flight: dict[int, int] = {}
    for upstream_id in TopupAttempt.objects.filter(status__in=TopupAttempt.OPEN).values_list("upstream_id", flat=True).iterator():
        in_flight[upstream_id] = in_flight.get(upstream_id, 0) + 1
    stats = []
    for upstream in Upstream.objects.select_related("supplier").order_by("supplier__name"):
        values = sorted(durations.get(upstream.pk, []))
        done = len(values)
        won = successes.get(upstream.pk, 0)
        stats.append(
            UpstreamStats(
                upstream=upstream,
                finished=done,
                successes=won,
                success_rate=(Decimal(won) / done).quantize(Decimal("0.0001")) if done else None,
                median_seconds=_percentile(values, 0.5),
                p95_seconds=_percentile(values, 0.95),
                in_flight=in_flight.get(upstream.pk, 0),
            )
        )
    return stats


def hold_queue() -> QuerySet[Topup]:
    """Top-ups waiting for operations (压单), oldest first."""
    return Topup.objects.filter(status=Topup.Status.ON_HOLD).select_related("sku", "upstream__supplier").order_by("created_at", "pk")


def topup_detail(*, topup_id: int) -> Topup:
    return (
        Topup.objects.select_related("sku", "upstream__supplier")
        .prefetch_related("attempts__upstream__supplier", "events")
        .get(pk=topup_id)
    )


def alerts_open() -> QuerySet[SupplyAlert]:
    return SupplyAlert.objects.filter(acknowledged_at__isnull=True).select_related("upstream__supplier").order_by("-created_at", "-pk")
