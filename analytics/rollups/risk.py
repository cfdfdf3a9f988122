"""Risk decisions per local day, channel and outcome (RiskDay), from riskcontrol's RiskEvent rows
(docs/analytics.md, "Risk").

Every recorded evaluation counts once, on the local day (settings.TIME_ZONE) of its `created_at`, under the
outcome the engine gave it (allow, challenge, review, block; a later review decision does not change it).
`channel` is the purchase channel the event recorded (storefront, portal, api: riskcontrol keeps it in the
event's `extra`), and for an event that names none, its action (redeem, login, reveal, withdrawal,
coupon_claim, group_join, campaign_order, or purchase when the caller gave no channel).
"""

from datetime import date, datetime

from django.db.models import CharField, Count
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce

from analytics.models import RiskDay
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.replace import local_date, rows_replace
from riskcontrol.models import RiskEvent


def recompute(first: date, last: date) -> int:
    """Rewrite RiskDay's rows of the local days first..last (one aggregate query); returns the rows written."""
    start, end = local_day_bounds(first, last)
    rows = (
        RiskEvent.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(bucket=local_date("created_at"), route=Coalesce(KeyTextTransform("channel", "extra"), "action", output_field=CharField()))
        .values("bucket", "route", "outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return rows_replace(
        RiskDay,
        first=first,
        last=last,
        rows=({"day": row["bucket"], "channel": row["route"][:20], "outcome": row["outcome"], "events": row["n"]} for row in rows),
    )


def changed_days(since: datetime | None) -> set[date]:
    """Local days of the events recorded at or after `since` (every day when None)."""
    events = RiskEvent.objects.all() if since is None else RiskEvent.objects.filter(created_at__gte=since)
    return set(events.annotate(bucket=local_date("created_at")).values_list("bucket", flat=True).distinct().order_by())


ROLLUP = Rollup(name="risk", changed_days=changed_days, recompute=recompute)
