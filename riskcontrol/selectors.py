"""Reads of risk control for its pages, the ops home and other apps."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from riskcontrol.models import Outcome, RiskAlert, RiskEvent


@dataclass(frozen=True)
class OpsSummary:
    open_alerts: list
    open_alert_count: int
    pending_reviews: int
    events_24h: int
    blocked_24h: int
    challenged_24h: int


def ops_summary(*, alert_limit: int = 5) -> OpsSummary:
    """What the ops home shows: open alerts, the review queue and the last day's outcomes."""
    since = timezone.now() - timedelta(hours=24)
    counts = RiskEvent.objects.filter(created_at__gte=since).aggregate(
        total=Count("id"),
        blocked=Count("id", filter=Q(outcome=Outcome.BLOCK)),
        challenged=Count("id", filter=Q(outcome=Outcome.CHALLENGE)),
    )
    open_alerts = RiskAlert.objects.filter(acknowledged_at__isnull=True)
    return OpsSummary(
        open_alerts=list(open_alerts.order_by("-id")[:alert_limit]),
        open_alert_count=open_alerts.count(),
        pending_reviews=RiskEvent.objects.pending_review().count(),
        events_24h=counts["total"] or 0,
        blocked_24h=counts["blocked"] or 0,
        challenged_24h=counts["challenged"] or 0,
    )


def review_queue(*, status: str = "pending"):
    queryset = RiskEvent.objects.select_related("sku", "reviewed_by")
    if status == "all":
        return queryset.exclude(review_status="").order_by("-id")
    if status == "pending":
        return queryset.pending_review().order_by("id")  # oldest first: work the queue in order
    return queryset.filter(review_status=status).order_by("-reviewed_at", "-id")


def event_get(*, event_id: int) -> RiskEvent | None:
    return RiskEvent.objects.select_related("sku", "reviewed_by").filter(pk=event_id).first()


def related_events(*, event: RiskEvent, limit: int = 50) -> list[RiskEvent]:
    """Other events of the same IP, device, account, phone or email, newest first."""
    match = Q()
    if event.ip:
        match |= Q(ip=event.ip)
    if event.device:
        match |= Q(device=event.device)
    if event.account_id:
        match |= Q(account_id=event.account_id)
    if event.phone:
        match |= Q(phone=event.phone)
    if event.email:
        match |= Q(email=event.email)
    if not match:
        return []
    return list(RiskEvent.objects.filter(match).exclude(pk=event.pk).select_related("sku").order_by("-id")[:limit])


def related_counts(*, event: RiskEvent, days: int = 30) -> dict[str, dict]:
    """Per shared value: how many events and blocks in the last `days`."""
    since = timezone.now() - timedelta(days=days)
    out = {}
    for label, field in (("ip", "ip"), ("device", "device"), ("account", "account_id"), ("phone", "phone"), ("email", "email")):
        value = getattr(event, field)
        if not value:
            continue
        rows = RiskEvent.objects.filter(**{field: value}, created_at__gte=since).exclude(pk=event.pk)
        out[label] = rows.aggregate(total=Count("id"), blocked=Count("id", filter=Q(outcome=Outcome.BLOCK)))
    return out


def alerts_list(*, open_only: bool = False):
    queryset = RiskAlert.objects.select_related("acknowledged_by").order_by("-id")
    return queryset.filter(acknowledged_at__isnull=True) if open_only else queryset


def risk_counters_reserved(*, seconds: int) -> dict[str, int]:
    """Counter bucket -> what the evaluations of the last `seconds` reserved there and kept.

    Released reservations (risk_release, a rejected review) are left out; refused evaluations reserved
    nothing. Events are written with their request's transaction (riskcontrol.eventlog), so the rows are all.
    On PostgreSQL one aggregate over the JSON pairs (the rows of a day may be many); elsewhere the rows are summed here.
    """
    since = timezone.now() - timedelta(seconds=seconds)
    rows = RiskEvent.objects.filter(created_at__gte=since, released_at__isnull=True).exclude(counters=[])
    totals: dict[str, int] = {}
    if connection.vendor == "postgresql":
        query, params = rows.values("counters").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT pair->>0, SUM((pair->>1)::bigint) FROM ({query}) AS kept, jsonb_array_elements(kept.counters) AS pair GROUP BY 1",  # noqa: S608 - the ORM's own query
                params,
            )
            totals.update({name: int(amount) for name, amount in cursor.fetchall()})
        return totals
    for pairs in rows.values_list("counters", flat=True).iterator(chunk_size=2000):
        for name, amount in pairs:
            totals[name] = totals.get(name, 0) + int(amount)
    return totals
