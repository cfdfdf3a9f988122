"""Redemptions per hour, store and SKU (RedemptionHour) and the daily tables summed from it: RedemptionDay,
SkuRedemptionDay and RedemptionHeat (docs/analytics.md, "Redemptions").

A redemption is bucketed by its `created_at` (the moment the merchant redeemed the code), in local time
(settings.TIME_ZONE): `hour` is the start of its local hour, `weekday` (0 Monday) and `local_hour` are local.

Measures of a bucket:
- redemptions: redemptions still completed (not reversed); reversed: those reversed since (counted on the day
  they were redeemed, not the day of the reversal);
- amount (value used), owed (amount_owed) and after_reminder: over the completed ones only;
- known_holders: completed redemptions whose holder is known; new_holders: those that are their holder's first
  completed redemption at that merchant.

The holder of a code is the buyer of the storefront order that delivered it, known by the order's
`contact_key` (the HMAC of the normalised phone or e-mail that settlement and marketing use for "new user"):
the code's OrderItem that was delivered (later possibly refunded or replaced) -> its Order's contact_key. A
code that the buyer gifted to a friend (its active CodeHolding has `gifted_from`) has an unknown holder: the
friend's contact is kept only in plaintext on the holder link and cannot be compared with the buyers' keys.
Portal and API orders carry no contact: their codes' holders are unknown.

"First completed redemption at that merchant" looks at every earlier completed redemption (any day, ties on
the same instant broken by id), so recomputing one day gives the same figure as a full rebuild. A reversal
changes the "first" redemption of later days: changed_days therefore also returns the days of the holder's
later redemptions at that merchant.
"""

from datetime import date, datetime

from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay, TruncHour
from django.utils import timezone

from analytics.models import RedemptionDay, RedemptionHeat, RedemptionHour, SkuRedemptionDay
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.replace import local_date, rows_replace, sums, unprefixed
from redemption.models import CodeHolding, Redemption, RedemptionAttempt
from settlement.models import Order, OrderItem

COMPLETED = Redemption.Status.COMPLETED
# Items that delivered their code to the buyer (a refund or an after-sales replacement came later).
DELIVERED_ITEMS = [OrderItem.State.DELIVERED, OrderItem.State.REFUNDED, OrderItem.State.REPLACED]
MEASURES = ("redemptions", "reversed", "amount", "owed", "after_reminder", "known_holders", "new_holders")


def _gifted(code_ref: str = "code_id") -> Exists:
    """The code's active holding is a gift: its holder is not the buyer."""
    return Exists(CodeHolding.objects.filter(code_id=OuterRef(code_ref), active=True, gifted_from__isnull=False))


def holder_key() -> Coalesce:
    """The contact_key of the buyer holding the redemption's code, "" when unknown (see the module docstring)."""
    buyer = (
        OrderItem.objects.filter(code_id=OuterRef("code_id"), state__in=DELIVERED_ITEMS)
        .exclude(order__contact_key="")
        .exclude(_gifted())
        .order_by("-pk")
        .values("order__contact_key")[:1]
    )
    return Coalesce(Subquery(buyer), Value(""))


def _earlier_visit() -> Exists:
    """A completed redemption at the same merchant, before this one, of a code bought under the same contact.

    Read from the holder's orders (settlement's partial index on contact_key, hence the explicit `<> ''`) to
    their items' codes' redemptions: a few index lookups per redemption, whatever the merchant's history."""
    same_merchant_before = Q(items__code__redemptions__created_at__lt=OuterRef("created_at")) | Q(
        items__code__redemptions__created_at=OuterRef("created_at"), items__code__redemptions__pk__lt=OuterRef("pk")
    )
    orders = Order.objects.exclude(contact_key="").filter(
        same_merchant_before,
        ~_gifted("items__code_id"),
        contact_key=OuterRef("holder"),
        items__state__in=DELIVERED_ITEMS,
        items__code__redemptions__merchant_id=OuterRef("merchant_id"),
        items__code__redemptions__status=COMPLETED,
    )
    return Exists(orders)


def _hour_rows(first: date, last: date) -> list[dict]:
    """One aggregate query: the local days' redemptions grouped by local hour, SKU, merchant and store."""
    tz = timezone.get_current_timezone()
    start, end = local_day_bounds(first, last)
    done = Q(status=COMPLETED)
    known = done & ~Q(holder="")
    rows = (
        Redemption.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(
            holder=holder_key(),
            seen_before=_earlier_visit(),
            bucket=TruncHour("created_at", tzinfo=tz),
            iso_weekday=ExtractIsoWeekDay("created_at", tzinfo=tz),
            clock_hour=ExtractHour("created_at", tzinfo=tz),
        )
        .values("bucket", "iso_weekday", "clock_hour", "sku_id", "merchant_id", "store_id")
        .annotate(
            n_done=Count("pk", filter=done),
            n_reversed=Count("pk", filter=Q(status=Redemption.Status.REVERSED)),
            s_amount=Sum("amount", filter=done),
            s_owed=Sum("amount_owed", filter=done),
            n_reminded=Count("pk", filter=done & Q(after_reminder=True)),
            n_known=Count("pk", filter=known),
            n_new=Count("pk", filter=known & Q(seen_before=False)),
        )
        .order_by()
    )
    return [_hour_row(row) for row in rows]


def _hour_row(row: dict) -> dict:
    return {
        "hour": row["bucket"],
        "sku_id": row["sku_id"],
        "merchant_id": row["merchant_id"],
        "store_id": row["store_id"],
        "weekday": row["iso_weekday"] - 1,
        "local_hour": row["clock_hour"],
        "redemptions": row["n_done"],
        "reversed": row["n_reversed"],
        "amount": row["s_amount"] or 0,
        "owed": row["s_owed"] or 0,
        "after_reminder": row["n_reminded"],
        "known_holders": row["n_known"],
        "new_holders": row["n_new"],
    }


def _summed(first: date, last: date, keys: tuple[str, ...]) -> list[dict]:
    """RedemptionHour rows of the local days summed per local day and `keys` (one aggregate query)."""
    start, end = local_day_bounds(first, last)
    rows = (
        RedemptionHour.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(day=local_date("hour"))
        .values("day", *keys)
        .annotate(**sums(MEASURES))
        .order_by()
    )
    return [unprefixed(row) for row in rows]


def recompute(first: date, last: date) -> int:
    """Rewrite the redemption tables' rows of the local days first..last; returns the rows written."""
    written = rows_replace(RedemptionHour, first=first, last=last, rows=_hour_rows(first, last), bucket="hour")
    written += rows_replace(RedemptionDay, first=first, last=last, rows=_summed(first, last, ("sku_id", "merchant_id", "store_id")))
    written += rows_replace(SkuRedemptionDay, first=first, last=last, rows=_summed(first, last, ("sku_id",)))
    written += rows_replace(RedemptionHeat, first=first, last=last, rows=_summed(first, last, ("merchant_id", "weekday", "local_hour")))
    return written


def _later_visits_days(reversed_rows: list[dict]) -> set[date]:
    """The local days of completed redemptions by the same holders at the same merchants, after each reversed
    redemption: their "first visit" may have moved."""
    wanted: dict[tuple[int, str], datetime] = {}
    for row in reversed_rows:
        pair = (row["merchant_id"], row["holder"])
        if row["holder"] and (pair not in wanted or row["created_at"] < wanted[pair]):
            wanted[pair] = row["created_at"]
    if not wanted:
        return set()
    later = (
        Redemption.objects.filter(
            ~_gifted(),
            status=COMPLETED,
            merchant_id__in={merchant for merchant, _key in wanted},
            created_at__gt=min(wanted.values()),
            code__order_items__state__in=DELIVERED_ITEMS,
            code__order_items__order__contact_key__in={key for _merchant, key in wanted},
        )
        .values_list("merchant_id", "code__order_items__order__contact_key", "created_at")
        .order_by()
    )
    return {timezone.localdate(at) for merchant, key, at in later if (merchant, key) in wanted and at > wanted[(merchant, key)]}


def reversed_since(since: datetime):
    """Ids of the redemptions reversed at or after `since`. Found through the reverse attempt that redemption
    writes with every reversal, in its transaction and at the same instant (RedemptionAttempt.created_at is
    indexed; Redemption.reversed_at is not)."""
    return RedemptionAttempt.objects.filter(
        kind=RedemptionAttempt.Kind.REVERSE, outcome=RedemptionAttempt.Outcome.OK, created_at__gte=since, redemption_id__isnull=False
    ).values("redemption_id")


def touched_since(since: datetime):
    """The redemptions made or reversed at or after `since`."""
    return Redemption.objects.filter(Q(created_at__gte=since) | Q(pk__in=reversed_since(since)))


def changed_days(since: datetime | None) -> set[date]:
    """Local days of the redemptions made or reversed at or after `since` (every day when None), and the days
    whose first visits a reversal moved."""
    rows = Redemption.objects.all() if since is None else touched_since(since)
    days = set(rows.annotate(day=local_date("created_at")).values_list("day", flat=True).distinct().order_by())
    if since is not None:
        reversed_rows = list(
            Redemption.objects.filter(pk__in=reversed_since(since), created_at__lt=since)
            .annotate(holder=holder_key())
            .values("merchant_id", "holder", "created_at")
        )
        days |= _later_visits_days(reversed_rows)
    return days


ROLLUP = Rollup(name="redemptions", changed_days=changed_days, recompute=recompute)
