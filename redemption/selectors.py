"""Reads of redemption for the console, the API, the holder's page, settlement's statements and dashboards."""

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import CardCode, Sku
from redemption.models import (
    CodeBalance,
    CodeHolding,
    HolderLink,
    Merchant,
    MerchantClerk,
    MerchantSkuPrice,
    Redemption,
    RedemptionAttempt,
    ReminderSent,
    Store,
)
from voucherhub.core.money import ZERO

_STORE_ID = re.compile(r"[0-9]{1,18}")  # a store id as a filter names it; anything else is a store code


@dataclass(frozen=True)
class Period:
    """Calendar days from `start` to `end`, both included, in the platform's time zone."""

    start: date
    end: date

    @classmethod
    def month(cls, year: int, month: int) -> "Period":
        return cls(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))

    @classmethod
    def day(cls, day: date) -> "Period":
        return cls(day, day)

    @classmethod
    def of(cls, value) -> "Period":
        if isinstance(value, Period):
            return value
        start, end = value
        return cls(start, end)

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes."""
        tz = timezone.get_current_timezone()
        return (
            timezone.make_aware(datetime.combine(self.start, time.min), tz),
            timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min), tz),
        )


def today() -> date:
    return timezone.localdate()


# --- Clerks ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def codes_for_merchant(*, merchant_id: int) -> QuerySet:
    """Card codes with their `.sku` and what a verify or redeem at this merchant judges them by:
    `.settlement_price` (this merchant's price for the SKU, or None) and `.reminded` (an expiry reminder
    was sent for the code). One query for a code (lock_objects.code_locked locks it).

    Kept per merchant in the process (never evaluated itself: every use filters a clone): building the two
    annotations costs about as much CPU as the query they are part of, 1.5 of the redeem's ~9 ms measured
    on the benchmark machine (docs/performance.md, issue 14)."""
    price = MerchantSkuPrice.objects.filter(merchant_id=merchant_id, sku_id=OuterRef("sku_id")).values("settlement_price")[:1]
    reminder = ReminderSent.objects.filter(code_id=OuterRef("pk"), outcome=ReminderSent.Outcome.SENT)
    return CardCode.objects.select_related("sku").annotate(settlement_price=Subquery(price), reminded=Exists(reminder))


def code_of_merchant(*, merchant_id: int, blind_index: str | None = None, code_id: int | None = None) -> CardCode | None:
    """One code of codes_for_merchant, by blind index or id, or None."""
    return code_from(codes_for_merchant(merchant_id=merchant_id), blind_index=blind_index, code_id=code_id)


def code_from(codes: QuerySet, *, blind_index: str | None, code_id: int | None) -> CardCode | None:
    """The code of `codes` with this blind index (or id), or None."""
    lookup = {"blind_index": blind_index} if blind_index is not None else {"pk": code_id}
    try:
        return codes.get(**lookup)  # get(), not first(): no ORDER BY to compile for a unique key
    except CardCode.DoesNotExist:
        return None


def code_balance(code: CardCode) -> Decimal:
    """A stored-value code's balance: its face value until first used."""
    remaining = CodeBalance.objects.filter(code_id=code.pk).values_list("remaining", flat=True).first()
    return remaining if remaining is not None else code.sku.face_value


def clerk_for(user) -> MerchantClerk | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return MerchantClerk.objects.select_related("merchant").filter(user=user, merchant__active=True).first()


def clerk_stores(clerk: MerchantClerk) -> list[Store]:
    stores = list(clerk.stores.filter(active=True).select_related("merchant"))
    if stores:
        return stores
    if clerk.stores.exists():
        return []
    return list(Store.objects.filter(merchant=clerk.merchant, active=True).select_related("merchant"))


def clerk_store_ids(clerk: MerchantClerk) -> frozenset[int] | None:
    """The stores a clerk may see, or None for every store of the merchant."""
    ids = frozenset(clerk.stores.values_list("pk", flat=True))
    return ids or None


# --- Redemptions -------------------------------------------------------------------------------------------


def redemptions_visible(*, merchant: Merchant, store_ids=None) -> QuerySet:
    queryset = Redemption.objects.filter(merchant=merchant)
    if store_ids is not None:
        queryset = queryset.filter(store_id__in=store_ids)
    return queryset.select_related("code", "sku", "store__merchant", "terminal", "clerk")


def redemptions_list(
    *, merchant: Merchant, store_ids=None, store: Store | int | str | None = None, day: date | None = None, period=None
) -> QuerySet:
    """A merchant's redemptions, newest first, optionally of one store (id or code) and one day or period."""
    queryset = redemptions_visible(merchant=merchant, store_ids=store_ids)
    if store not in (None, ""):
        if isinstance(store, Store):
            queryset = queryset.filter(store=store)
        elif _STORE_ID.fullmatch(str(store)):  # ASCII digits that fit an id ("¹" is a digit to isdigit, not to int)
            queryset = queryset.filter(store_id=int(store))
        else:
            queryset = queryset.filter(store__code=str(store))
    if day is not None:
        period = Period.day(day)
    if period is not None:
        start, end = Period.of(period).bounds()
        queryset = queryset.filter(created_at__gte=start, created_at__lt=end)
    return queryset.order_by("-created_at", "-id")


def merchant_redemptions(*, merchant: Merchant, period, include_reversed: bool = False) -> QuerySet:
    """Redemptions of `merchant` in `period` (a Period or (start, end) dates), oldest first: a statement's lines."""
    start, end = Period.of(period).bounds()
    queryset = Redemption.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
    if not include_reversed:
        queryset = queryset.filter(status=Redemption.Status.COMPLETED)
    return queryset.select_related("code", "sku", "store__merchant", "terminal").order_by("created_at", "id")


@dataclass(frozen=True)
class PayableRow:
    merchant_id: int
    merchant_name: str
    sku_id: int
    sku_code: str
    sku_name: str
    count: int
    amount: Decimal
    owed: Decimal


def merchant_payable_summary(*, period, merchant: Merchant | None = None) -> list[PayableRow]:
    """What the platform owes each merchant in `period`, per SKU (reversed redemptions excluded)."""
    start, end = Period.of(period).bounds()
    queryset = Redemption.objects.filter(status=Redemption.Status.COMPLETED, created_at__gte=start, created_at__lt=end)
    if merchant is not None:
        queryset = queryset.filter(merchant=merchant)
    rows = (
        queryset.values("merchant_id", "merchant__name", "sku_id", "sku__code", "sku__name")
        .annotate(count=Count("id"), amount=Sum("amount"), owed=Sum("amount_owed"))
        .order_by("merchant__name", "sku__code")
    )
    return [
        PayableRow(
            merchant_id=r["merchant_id"],
            merchant_name=r["merchant__name"],
            sku_id=r["sku_id"],
            sku_code=r["sku__code"],
            sku_name=r["sku__name"],
            count=r["count"],
            amount=r["amount"] or ZERO,
            owed=r["owed"] or ZERO,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PayableLine:
    """One store and SKU of a merchant in a period: completed redemptions (count, value used, owed) and reversals."""

    store_id: int
    store_code: str
    store_name: str
    sku_id: int
    sku_code: str
    sku_name: str
    currency: str
    count: int
    amount: Decimal
    owed: Decimal
    reversed: int


def merchant_payable_lines(*, merchant: Merchant, period) -> list[PayableLine]:
    """What the platform owes `merchant` for `period`, per store and SKU (for settlement's merchant statements).
    Reversed redemptions are counted apart and owe nothing; their totals agree with merchant_payable_summary."""
    start, end = Period.of(period).bounds()
    rows = (
        Redemption.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
        .values("store_id", "store__code", "store__name", "sku_id", "sku__code", "sku__name", "sku__currency")
        .annotate(**_totals())
        .order_by("store__name", "store_id", "sku__code")
    )
    return [
        PayableLine(
            store_id=r["store_id"],
            store_code=r["store__code"],
            store_name=r["store__name"],
            sku_id=r["sku_id"],
            sku_code=r["sku__code"],
            sku_name=r["sku__name"],
            currency=r["sku__currency"],
            **_totals_of(r),
        )
        for r in rows
    ]


def _totals() -> dict:
    """The aggregates a payable or daily line carries: completed redemptions, their value, what is owed, reversals."""
    completed = Q(status=Redemption.Status.COMPLETED)
    return {
        "count": Count("id", filter=completed),
        "amount": Sum("amount", filter=completed),
        "owed": Sum("amount_owed", filter=completed),
        "reversed": Count("id", filter=Q(status=Redemption.Status.REVERSED)),
    }


def _totals_of(row: dict) -> dict:
    return {"count": row["count"], "amount": row["amount"] or ZERO, "owed": row["owed"] or ZERO, "reversed": row["reversed"]}


def merchants_with_redemptions(*, period) -> list[int]:
    """Ids of merchants with a redemption (completed or reversed) in `period`."""
    start, end = Period.of(period).bounds()
    return list(
        Redemption.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by("merchant_id")
        .values_list("merchant_id", flat=True)
        .distinct()
    )


@dataclass(frozen=True)
class StoreDay:
    day: date
    store_id: int
    store_name: str
    count: int
    amount: Decimal
    owed: Decimal
    reversed: int


def store_daily_summary(*, merchant: Merchant, period, store_ids=None) -> list[StoreDay]:
    """Per store and day: completed redemptions, their value and what is owed, and how many were reversed."""
    start, end = Period.of(period).bounds()
    queryset = Redemption.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
    if store_ids is not None:
        queryset = queryset.filter(store_id__in=store_ids)
    rows = (
        queryset.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "store_id", "store__name")
        .annotate(**_totals())
        .order_by("-day", "store__name")
    )
    return [
        StoreDay(
            day=r["day"],
            store_id=r["store_id"],
            store_name=r["store__name"],
            **_totals_of(r),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ReminderStats:
    sent: int
    redeemed_after_reminder: int

    @property
    def conversion(self) -> Decimal:
        return (Decimal(self.redeemed_after_reminder) / self.sent).quantize(Decimal("0.0001")) if self.sent else Decimal("0")


def reminder_stats(*, period) -> ReminderStats:
    """Reminders sent in `period` and redemptions in it that came after a reminder (for the dashboards)."""
    start, end = Period.of(period).bounds()
    sent = ReminderSent.objects.filter(outcome=ReminderSent.Outcome.SENT, created_at__gte=start, created_at__lt=end).count()
    redeemed = Redemption.objects.filter(
        status=Redemption.Status.COMPLETED, after_reminder=True, created_at__gte=start, created_at__lt=end
    ).count()
    return ReminderStats(sent=sent, redeemed_after_reminder=redeemed)


# --- The holder's page -----------------------------------------------------------------------------------


@dataclass
class HeldCode:
    holding: CodeHolding
    code: CardCode
    sku: Sku
    balance: Decimal | None
    usable: bool
    expired: bool
    merchants: list[str]
    stores: list[str]
    last_redemption: Redemption | None

    @property
    def weekdays(self) -> list[int]:
        return sorted(int(d) for d in (self.sku.allowed_weekdays or []))


@dataclass
class GiftedCode:
    holding: CodeHolding
    sku: Sku
    to: str


def link_codes(link: HolderLink) -> tuple[list[HeldCode], list[GiftedCode]]:
    """The codes a link shows, and the ones it gave away (named by SKU only: the old link no longer shows them)."""
    from redemption.holdings import contact_masked

    now = timezone.now()
    active = list(link.holdings.filter(active=True).select_related("code__sku__product").order_by("code__expires_at", "pk"))
    codes = [h.code for h in active]
    balances = dict(CodeBalance.objects.filter(code_id__in=[c.pk for c in codes]).values_list("code_id", "remaining"))
    merchant_ids = {int(m) for c in codes for m in (c.sku.allowed_merchant_ids or [])}
    store_ids = {int(s) for c in codes for s in (c.sku.allowed_store_ids or [])}
    merchant_names = dict(Merchant.objects.filter(pk__in=merchant_ids).values_list("pk", "name"))
    store_names = {s.pk: str(s) for s in Store.objects.filter(pk__in=store_ids).select_related("merchant")}
    last = {}
    for redemption in (
        Redemption.objects.filter(code_id__in=[c.pk for c in codes], status=Redemption.Status.COMPLETED)
        .select_related("store__merchant")
        .order_by("id")
    ):
        last[redemption.code_id] = redemption
    held = []
    for holding in active:
        code, sku = holding.code, holding.code.sku
        balance = None
        if sku.is_stored_value:
            balance = ZERO if code.status == CardCode.Status.REDEEMED else balances.get(code.pk, sku.face_value)
        expired = code.status == CardCode.Status.EXPIRED or bool(code.expires_at and code.expires_at <= now)
        held.append(
            HeldCode(
                holding=holding,
                code=code,
                sku=sku,
                balance=balance,
                usable=code.status == CardCode.Status.SOLD and not expired,
                expired=expired,
                merchants=[merchant_names[m] for m in (int(x) for x in sku.allowed_merchant_ids or []) if m in merchant_names],
                stores=[store_names[s] for s in (int(x) for x in sku.allowed_store_ids or []) if s in store_names],
                last_redemption=last.get(code.pk),
            )
        )
    gifted = [
        GiftedCode(holding=h, sku=h.code.sku, to=contact_masked(next((g.link.contact for g in h.gifted_to.all()), "")))
        for h in link.holdings.filter(active=False, gifted_at__isnull=False).select_related("code__sku").prefetch_related("gifted_to__link")
    ]
    return held, gifted


@dataclass(frozen=True)
class RedemptionOverview:
    """The ops home's redemption panel for a period."""

    redemptions: int
    value_used: Decimal
    owed_to_merchants: Decimal
    failed_attempts: int
    reminders: ReminderStats


def redemption_overview(*, period) -> RedemptionOverview:
    start, end = Period.of(period).bounds()
    totals = Redemption.objects.filter(status=Redemption.Status.COMPLETED, created_at__gte=start, created_at__lt=end).aggregate(
        n=Count("id"), used=Sum("amount"), owed=Sum("amount_owed")
    )
    failed = RedemptionAttempt.objects.filter(created_at__gte=start, created_at__lt=end).exclude(outcome=RedemptionAttempt.Outcome.OK)
    return RedemptionOverview(
        redemptions=totals["n"] or 0,
        value_used=totals["used"] or Decimal("0.00"),
        owed_to_merchants=totals["owed"] or Decimal("0.00"),
        failed_attempts=failed.count(),
        reminders=reminder_stats(period=period),
    )
