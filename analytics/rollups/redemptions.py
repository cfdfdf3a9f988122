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
the code's latest OrderItem that delivered it (later possibly refunded or replaced; a code put back in stock
before delivery and sold again belongs to its last buyer) -> its Order's contact_key. A code that the buyer
gifted to a friend (its active CodeHolding has `gifted_from`) has an unknown holder: the friend's contact is
kept only in plaintext on the holder link and cannot be compared with the buyers' keys.
Portal and API orders carry no contact: their codes' holders are unknown.

"First completed redemption at that merchant" looks at every completed redemption of the holder there (any
day, ties on the same instant broken by id), kept in analytics' HolderVisit table: one row per merchant and
holder naming the first visit. A recompute of some days first refreshes the rows of the holders of those days'
redemptions (one join resolves them, one grouped query finds their first visits), then counts as new_holders
the redemptions that are their holder's first visit; so recomputing one day gives the same figure as a full
rebuild. A reversal (or a late redemption) can move a holder's first visit to another day: changed_days
compares the stored first visits of the holders it touched with their first visits now and returns the days of
both when they differ.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, F, Lookup, OuterRef, Q, QuerySet, Sum, Window
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, RowNumber, TruncHour
from django.utils import timezone

from analytics.models import HolderVisit, RedemptionDay, RedemptionHeat, RedemptionHour, SkuRedemptionDay
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.coarse import heat_recompute
from analytics.rollups.replace import BATCH, local_date, rows_replace, sums, unprefixed
from redemption.models import CodeHolding, Redemption
from settlement.models import OrderItem

COMPLETED = Redemption.Status.COMPLETED
# Items that delivered their code to the buyer (a refund or an after-sales replacement came later).
DELIVERED_ITEMS = [OrderItem.State.DELIVERED, OrderItem.State.REFUNDED, OrderItem.State.REPLACED]
MEASURES = ("redemptions", "reversed", "amount", "owed", "after_reminder", "known_holders", "new_holders")
HOUR_KEYS = ("bucket", "sku_id", "merchant_id", "store_id")
# Through an OrderItem of holder_items(): its code's redemptions.
R = "code__redemptions__"

Pair = tuple[int, str]  # (merchant_id, holder)


class OneOf(Lookup):
    """`lhs` is one of a list of values: on PostgreSQL one array parameter (`= ANY(%s)`), elsewhere `IN`. A day's
    holders are thousands of keys: one parameter instead of thousands saves building and parsing the query."""

    lookup_name = "one_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, list(self.rhs)]
        return f"{lhs} IN ({', '.join(['%s'] * len(self.rhs))})", [*params, *self.rhs]


def _gifted(code_ref: str = "code_id") -> Exists:
    """The code's active holding is a gift: its holder is not the buyer."""
    return Exists(CodeHolding.objects.filter(code_id=OuterRef(code_ref), active=True, gifted_from__isnull=False))


def holder_items() -> QuerySet:
    """The order items that name their code's holder (`order__contact_key`), at most one per code: the code's
    latest item that delivered it (a code put back in stock before delivery and sold again belongs to its last
    buyer), of an order with a contact, the code not gifted."""
    later = OrderItem.objects.filter(code_id=OuterRef("code_id"), pk__gt=OuterRef("pk"), state__in=DELIVERED_ITEMS)
    return OrderItem.objects.filter(state__in=DELIVERED_ITEMS).exclude(order__contact_key="").exclude(_gifted()).exclude(Exists(later))


def _day_holders(start: datetime, end: datetime) -> list[dict]:
    """One join: the redemptions of [start, end) whose holder is known, per hour bucket keys and holder, with
    how many of them are completed (known_holders)."""
    tz = timezone.get_current_timezone()
    return list(
        holder_items()
        .filter(**{f"{R}created_at__gte": start, f"{R}created_at__lt": end})
        .annotate(
            bucket=TruncHour(f"{R}created_at", tzinfo=tz),
            sku_id=F(f"{R}sku_id"),
            merchant_id=F(f"{R}merchant_id"),
            store_id=F(f"{R}store_id"),
            holder=F("order__contact_key"),
        )
        .values(*HOUR_KEYS, "holder")
        .annotate(n_known=Count(f"{R}id", filter=Q(**{f"{R}status": COMPLETED})))
        .order_by()
    )


def first_visits(merchants: Iterable[int], holders: Iterable[str], before: datetime | None = None) -> QuerySet:
    """(merchant_id, holder, first_redemption_id) of the holders' first completed redemption at each of the
    merchants: one query over their redemptions, grouped per merchant and holder (the first by time, then by
    id). `before`: only redemptions made before it are read, exact for holders known to have a completed
    redemption there before it (their first visit cannot be later)."""
    bound = {} if before is None else {f"{R}created_at__lt": before}
    first = Window(RowNumber(), partition_by=[F("merchant"), F("holder")], order_by=[F("at").asc(), F("redemption").asc()])
    return (
        holder_items()
        .filter(OneOf(F("order__contact_key"), list(holders)))
        .filter(**{f"{R}merchant_id__in": list(merchants), f"{R}status": COMPLETED}, **bound)
        .annotate(merchant=F(f"{R}merchant_id"), holder=F("order__contact_key"), at=F(f"{R}created_at"), redemption=F(f"{R}id"))
        .annotate(rank=first)
        .filter(rank=1)
        .values_list("merchant", "holder", "redemption")
        .order_by()
    )


def _visits_of(merchants: set[int], holders: set[str]) -> dict[Pair, int]:
    """The stored first visits of these merchants and holders: {(merchant_id, holder): first_redemption_id}."""
    stored = HolderVisit.objects.filter(OneOf(F("holder"), list(holders)), merchant_id__in=merchants)
    return {(m, h): rid for m, h, rid in stored.values_list("merchant_id", "holder", "first_redemption_id")}


def visits_refresh(pairs: set[Pair], before: datetime | None = None) -> None:
    """Bring the HolderVisit rows of these merchants and holders up to date: their first visits now against the
    stored rows (one query each; a redemption's time never changes, so comparing ids is enough), and only the
    rows that differ rewritten. `before`: as first_visits."""
    if not pairs:
        return
    merchants, holders = {merchant for merchant, _h in pairs}, {holder for _m, holder in pairs}
    stored = _visits_of(merchants, holders)
    now = {(m, h): rid for m, h, rid in first_visits(merchants, holders, before)}
    if before is not None:  # only the pairs asked for: others of these merchants and holders may be later
        now = {pair: rid for pair, rid in now.items() if pair in pairs}
        stored = {pair: rid for pair, rid in stored.items() if pair in pairs}
    changed = {pair: rid for pair, rid in now.items() if stored.get(pair) != rid}
    gone = [pair for pair in stored if now.get(pair) != stored[pair]]
    for merchant in {m for m, _h in gone}:
        HolderVisit.objects.filter(merchant_id=merchant, holder__in=[h for m, h in gone if m == merchant]).delete()
    times = dict(Redemption.objects.filter(OneOf(F("pk"), list(changed.values()))).values_list("pk", "created_at"))
    rows = [
        HolderVisit(merchant_id=merchant, holder=holder, first_at=times[rid], first_redemption_id=rid)
        for (merchant, holder), rid in changed.items()
    ]
    HolderVisit.objects.bulk_create(rows, batch_size=BATCH)


def _hour_rows(start: datetime, end: datetime) -> list[dict]:
    """The redemptions of [start, end) grouped by local hour, SKU, merchant and store: one aggregate query, with
    known_holders from the holders' join and new_holders from the (refreshed) HolderVisit rows."""
    holders = _day_holders(start, end)
    redeemed = {(row["merchant_id"], row["holder"]) for row in holders if row["n_known"]}
    others = {(row["merchant_id"], row["holder"]) for row in holders} | set(
        HolderVisit.objects.filter(first_at__gte=start, first_at__lt=end).values_list("merchant_id", "holder")
    )
    visits_refresh(redeemed, before=end)  # a completed redemption on the day: the first visit is not later
    visits_refresh(others - redeemed)  # only reversed ones on the day, or a stored first visit that moved
    known: dict[tuple, int] = {}
    for row in holders:
        key = tuple(row[name] for name in HOUR_KEYS)
        known[key] = known.get(key, 0) + row["n_known"]
    firsts = HolderVisit.objects.filter(first_at__gte=start, first_at__lt=end).values("first_redemption_id")
    tz = timezone.get_current_timezone()
    done = Q(status=COMPLETED)
    rows = (
        Redemption.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(
            bucket=TruncHour("created_at", tzinfo=tz),
            iso_weekday=ExtractIsoWeekDay("created_at", tzinfo=tz),
            clock_hour=ExtractHour("created_at", tzinfo=tz),
        )
        .values(*HOUR_KEYS, "iso_weekday", "clock_hour")
        .annotate(
            n_done=Count("pk", filter=done),
            n_reversed=Count("pk", filter=Q(status=Redemption.Status.REVERSED)),
            s_amount=Sum("amount", filter=done),
            s_owed=Sum("amount_owed", filter=done),
            n_reminded=Count("pk", filter=done & Q(after_reminder=True)),
            n_new=Count("pk", filter=Q(pk__in=firsts)),
        )
        .order_by()
    )
    return [_hour_row(row, known.get(tuple(row[name] for name in HOUR_KEYS), 0)) for row in rows]


def _hour_row(row: dict, known: int) -> dict:
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
        "known_holders": known,
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
    """Rewrite the redemption tables' rows of the local days first..last (their holders' first visits day by
    day, so that a long range never holds more than a day's holders); returns the rows written."""
    hours = []
    day = first
    while day <= last:
        hours += _hour_rows(*local_day_bounds(day, day))
        day += timedelta(days=1)
    written = rows_replace(RedemptionHour, first=first, last=last, rows=hours, bucket="hour")
    written += rows_replace(RedemptionDay, first=first, last=last, rows=_summed(first, last, ("sku_id", "merchant_id", "store_id")))
    written += rows_replace(SkuRedemptionDay, first=first, last=last, rows=_summed(first, last, ("sku_id",)))
    written += rows_replace(RedemptionHeat, first=first, last=last, rows=_summed(first, last, ("merchant_id", "weekday", "local_hour")))
    return written + heat_recompute(first, last)


def touched_since(since: datetime) -> QuerySet:
    """The redemptions made or reversed at or after `since` (Redemption.reversed_at has a partial index)."""
    return Redemption.objects.filter(Q(created_at__gte=since) | Q(reversed_at__gte=since))


def _moved_visit_days(since: datetime) -> set[date]:
    """The local days of the first visits that moved for the holders of the redemptions made or reversed since
    `since`: their stored HolderVisit row against their first visit now (both days when they differ)."""
    pairs = set(holder_items().filter(**{f"{R}in": touched_since(since)}).values_list(f"{R}merchant_id", "order__contact_key"))
    if not pairs:
        return set()
    merchants, holders = {merchant for merchant, _h in pairs}, {holder for _m, holder in pairs}
    before = _visits_of(merchants, holders)
    now = {(m, h): rid for m, h, rid in first_visits(merchants, holders)}
    moved = {rid for pair in pairs if before.get(pair) != now.get(pair) for rid in (before.get(pair), now.get(pair)) if rid}
    return set(Redemption.objects.filter(pk__in=moved).annotate(day=local_date("created_at")).values_list("day", flat=True))


def changed_days(since: datetime | None) -> set[date]:
    """Local days of the redemptions made or reversed at or after `since` (every day when None), and the days
    whose first visits those moved."""
    rows = Redemption.objects.all() if since is None else touched_since(since)
    days = set(rows.annotate(day=local_date("created_at")).values_list("day", flat=True).distinct().order_by())
    if since is not None:
        days |= _moved_visit_days(since)
    return days


ROLLUP = Rollup(name="redemptions", changed_days=changed_days, recompute=recompute)
