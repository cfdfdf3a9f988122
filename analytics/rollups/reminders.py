"""Expiry reminders per local day and SKU (ReminderDay), from redemption's ReminderSent rows
(docs/analytics.md, "Expiry reminders").

sent: reminders with outcome "sent" (a reminder skipped because a nearer one applied is not counted), on the
local day (settings.TIME_ZONE) of their `created_at`, under their code's SKU. redeemed_after: those of them
whose code has a completed (not reversed) redemption made after the reminder was sent, counted on the
reminder's day; it grows on later days as holders redeem, so a redemption made or reversed since the watermark
brings its code's reminder days back into the refresh.
"""

from datetime import date, datetime

from django.db.models import Count, Exists, OuterRef, Q

from analytics.models import ReminderDay
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.redemptions import touched_since
from analytics.rollups.replace import local_date, rows_replace
from redemption.models import Redemption, ReminderSent

SENT = ReminderSent.Outcome.SENT


def _redeemed_after() -> Exists:
    return Exists(
        Redemption.objects.filter(code_id=OuterRef("code_id"), status=Redemption.Status.COMPLETED, created_at__gt=OuterRef("created_at"))
    )


def recompute(first: date, last: date) -> int:
    """Rewrite ReminderDay's rows of the local days first..last (one aggregate query); returns the rows written."""
    start, end = local_day_bounds(first, last)
    rows = (
        ReminderSent.objects.filter(outcome=SENT, created_at__gte=start, created_at__lt=end)
        .annotate(bucket=local_date("created_at"), used=_redeemed_after())
        .values("bucket", "code__sku_id")
        .annotate(n_sent=Count("pk"), n_used=Count("pk", filter=Q(used=True)))
        .order_by()
    )
    return rows_replace(
        ReminderDay,
        first=first,
        last=last,
        rows=(
            {"day": row["bucket"], "sku_id": row["code__sku_id"], "sent": row["n_sent"], "redeemed_after": row["n_used"]} for row in rows
        ),
    )


def _days(reminders) -> set[date]:
    return set(reminders.annotate(bucket=local_date("created_at")).values_list("bucket", flat=True).distinct().order_by())


def changed_days(since: datetime | None) -> set[date]:
    """Local days of reminders sent at or after `since`, and of earlier reminders whose code was redeemed or had
    a redemption reversed since (every day when None)."""
    sent = ReminderSent.objects.filter(outcome=SENT)
    if since is None:
        return _days(sent)
    touched = touched_since(since).values("code_id")
    return _days(sent.filter(created_at__gte=since)) | _days(sent.filter(created_at__lt=since, code_id__in=touched))


ROLLUP = Rollup(name="reminders", changed_days=changed_days, recompute=recompute)
