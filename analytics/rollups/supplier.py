"""Direct top-ups per local day, upstream supplier and SKU (SupplierDay), from supply's Topup rows
(docs/analytics.md, "Suppliers").

A top-up counts once it is final (succeeded, failed or partly delivered), on the local day (settings.TIME_ZONE)
of its `finished_at`. upstream: the supplier that delivered it; a failed top-up (supply records no supplier on
it) counts under the supplier of its last attempt, 0 when it never reached one. face_value: the value delivered
(Topup.delivered_value of succeeded and partial ones); cost: what we owe the supplier for them (Topup.cost, as
supply's reconciliation values an attempt); seconds_total: finished_at − created_at summed over every final
top-up of the bucket (divide by succeeded + failed + partial for the average time to finish).
"""

from datetime import date, datetime, timedelta

from django.db.models import BigIntegerField, Count, DurationField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from analytics.models import SupplierDay
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.replace import local_date, rows_replace
from supply.models import Topup, TopupAttempt

S = Topup.Status


def _upstream() -> Coalesce:
    last_attempt = TopupAttempt.objects.filter(topup_id=OuterRef("pk")).order_by("-n", "-pk").values("upstream_id")[:1]
    return Coalesce("upstream_id", Subquery(last_attempt), Value(0), output_field=BigIntegerField())


def _seconds(value) -> float:
    if value is None:
        return 0.0
    return value.total_seconds() if isinstance(value, timedelta) else value / 1_000_000


def _row(row: dict) -> dict:
    return {
        "day": row["bucket"],
        "upstream_id": row["supplier"],
        "sku_id": row["sku_id"],
        "succeeded": row["n_success"],
        "failed": row["n_failed"],
        "partial": row["n_partial"],
        "face_value": row["s_delivered"] or 0,
        "cost": row["s_cost"] or 0,
        "seconds_total": _seconds(row["s_duration"]),
    }


def recompute(first: date, last: date) -> int:
    """Rewrite SupplierDay's rows of the local days first..last (one aggregate query); returns the rows written."""
    start, end = local_day_bounds(first, last)
    delivered = Q(status__in=[S.SUCCESS, S.PARTIAL])
    rows = (
        Topup.objects.filter(status__in=Topup.FINAL, finished_at__gte=start, finished_at__lt=end)
        .annotate(
            bucket=local_date("finished_at"),
            supplier=_upstream(),
            duration=ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField()),
        )
        .values("bucket", "supplier", "sku_id")
        .annotate(
            n_success=Count("pk", filter=Q(status=S.SUCCESS)),
            n_failed=Count("pk", filter=Q(status=S.FAILED)),
            n_partial=Count("pk", filter=Q(status=S.PARTIAL)),
            s_delivered=Sum("delivered_value", filter=delivered),
            s_cost=Sum("cost", filter=delivered),
            s_duration=Sum("duration"),
        )
        .order_by()
    )
    return rows_replace(SupplierDay, first=first, last=last, rows=[_row(row) for row in rows])


def changed_days(since: datetime | None) -> set[date]:
    """Local days of the top-ups that became final at or after `since` (every day when None)."""
    final = Topup.objects.filter(status__in=Topup.FINAL, finished_at__isnull=False)
    if since is not None:
        final = final.filter(finished_at__gte=since)
    return set(final.annotate(bucket=local_date("finished_at")).values_list("bucket", flat=True).distinct().order_by())


ROLLUP = Rollup(name="supplier", changed_days=changed_days, recompute=recompute)
