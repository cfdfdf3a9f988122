"""The usage rules of a code at one store and one moment: the catalog states them, redemption enforces them.

`code_refusal(...)` returns the first rule that refuses, or None. It reads only what it is given plus, in
the rare case of a store restriction, which stores of this merchant the SKU lists.
"""

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import CardCode, Sku
from redemption.models import PROBE_REASONS, Merchant, RefusalReason, Store

# HTTP status of each refusal for API callers (the console shows the message).
STATUS = {
    RefusalReason.ALREADY_REDEEMED: 409,
    RefusalReason.LOCKED_OUT: 429,
    RefusalReason.REVERSAL_WINDOW_CLOSED: 409,
}
DEFAULT_STATUS = 422

# What a caller outside the code's merchant may learn: nothing but "not valid here".
HIDDEN = {RefusalReason.UNKNOWN_CODE, RefusalReason.OTHER_MERCHANT, RefusalReason.BAD_TOKEN, RefusalReason.SERIAL_MISMATCH}

MESSAGES = {
    RefusalReason.MALFORMED: _("This is not a valid code: check it and type it again."),
    RefusalReason.NOT_VALID_HERE: _("This code is not valid here."),
    RefusalReason.TOKEN_EXPIRED: _("This QR code has expired: ask the holder to open the code page again."),
    RefusalReason.NOT_ACTIVE: _("This code has not been activated."),
    RefusalReason.EXPIRED: _("This code has expired."),
    RefusalReason.VOID: _("This code has been voided."),
    RefusalReason.NOT_YET_VALID: _("This code is not valid yet."),
    RefusalReason.STORE_NOT_ALLOWED: _("This code is not accepted at this store."),
    RefusalReason.WEEKDAY_NOT_ALLOWED: _("This code cannot be used on this day of the week."),
    RefusalReason.OUTSIDE_HOURS: _("This code cannot be used at this time of day."),
    RefusalReason.BELOW_MIN_SPEND: _("This code needs a bill of at least %(min_spend)s."),
    RefusalReason.AMOUNT_REQUIRED: _("Enter the amount to take from the balance (more than zero)."),
    RefusalReason.BALANCE_INSUFFICIENT: _("The remaining balance is %(balance)s, less than %(amount)s."),
    RefusalReason.LOCKED_OUT: _("Too many failed attempts: try again later."),
    RefusalReason.REVERSAL_WINDOW_CLOSED: _("This redemption can no longer be reversed: the %(hours)s-hour window has closed."),
}
ALREADY_REDEEMED_AT = _("Already redeemed at %(store)s %(time)s.")
ALREADY_REDEEMED = _("This code has already been used.")


@dataclass(frozen=True)
class Refusal:
    reason: str
    params: dict | None = None

    @property
    def public_reason(self) -> str:
        return RefusalReason.NOT_VALID_HERE if self.reason in HIDDEN else self.reason

    @property
    def status(self) -> int:
        return STATUS.get(self.public_reason, DEFAULT_STATUS)

    @property
    def is_probe(self) -> bool:
        return self.reason in PROBE_REASONS

    @property
    def message(self) -> str:
        reason = self.public_reason
        params = self.params or {}
        if reason == RefusalReason.ALREADY_REDEEMED:
            return str(ALREADY_REDEEMED_AT % params) if params.get("store") else str(ALREADY_REDEEMED)
        return str(MESSAGES[reason]) % params if params else str(MESSAGES[reason])


def local_time_label(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i")


def merchant_accepts(*, sku: Sku, merchant: Merchant, store: Store) -> bool:
    """A SKU is honoured by the merchants it lists, and at the stores it lists (of any merchant)."""
    return merchant.pk in (sku.allowed_merchant_ids or []) or store.pk in (sku.allowed_store_ids or [])


def store_accepts(*, sku: Sku, merchant: Merchant, store: Store) -> bool:
    """Stores restrict per merchant: if the SKU lists some of this merchant's stores, only those; else all of them."""
    listed = sku.allowed_store_ids or []
    if store.pk in listed:
        return True
    if not listed:
        return True
    return not Store.objects.filter(pk__in=listed, merchant_id=merchant.pk).exists()


def within_hours(now_local: time, start: time | None, end: time | None) -> bool:
    if start is None and end is None:
        return True
    if start is None:
        return now_local <= end
    if end is None:
        return now_local >= start
    if start <= end:
        return start <= now_local <= end
    return now_local >= start or now_local <= end  # a window across midnight, e.g. 22:00-02:00


def status_refusal(*, code: CardCode, redeemed_where: tuple[str, datetime] | None = None) -> Refusal | None:
    status = code.status
    if status == CardCode.Status.SOLD:
        return None
    if status == CardCode.Status.REDEEMED:
        if redeemed_where:
            return Refusal(RefusalReason.ALREADY_REDEEMED, {"store": redeemed_where[0], "time": local_time_label(redeemed_where[1])})
        return Refusal(RefusalReason.ALREADY_REDEEMED)
    if status == CardCode.Status.EXPIRED:
        return Refusal(RefusalReason.EXPIRED)
    if status == CardCode.Status.VOID:
        return Refusal(RefusalReason.VOID)
    return Refusal(RefusalReason.NOT_ACTIVE)


def code_refusal(
    *,
    code: CardCode,
    sku: Sku,
    merchant: Merchant,
    store: Store,
    now: datetime,
    balance: Decimal | None = None,
    amount: Decimal | None = None,
    spend: Decimal | None = None,
    redeemed_where=None,
    check_amount: bool = True,
) -> Refusal | None:
    """The first rule that refuses `code` at `store` at `now`, or None. Order: who may see it, then state, then rules."""
    if not merchant_accepts(sku=sku, merchant=merchant, store=store):
        return Refusal(RefusalReason.OTHER_MERCHANT)
    refusal = status_refusal(code=code, redeemed_where=redeemed_where)
    if refusal:
        return refusal
    if sku.valid_from and now < sku.valid_from:
        return Refusal(RefusalReason.NOT_YET_VALID)
    if (code.expires_at and now >= code.expires_at) or (
        sku.validity_kind == Sku.ValidityKind.FIXED and sku.valid_until and now >= sku.valid_until
    ):
        return Refusal(RefusalReason.EXPIRED)
    if not store_accepts(sku=sku, merchant=merchant, store=store):
        return Refusal(RefusalReason.STORE_NOT_ALLOWED)
    local = timezone.localtime(now)
    if sku.allowed_weekdays and local.isoweekday() not in {int(d) for d in sku.allowed_weekdays}:
        return Refusal(RefusalReason.WEEKDAY_NOT_ALLOWED)
    if not within_hours(local.time().replace(tzinfo=None), sku.usable_from_time, sku.usable_until_time):
        return Refusal(RefusalReason.OUTSIDE_HOURS)
    if sku.min_spend and (spend is None or spend < sku.min_spend):
        return Refusal(RefusalReason.BELOW_MIN_SPEND, {"min_spend": sku.min_spend})
    if check_amount and sku.is_stored_value:
        if amount is None or amount <= 0:
            return Refusal(RefusalReason.AMOUNT_REQUIRED)
        if balance is not None and amount > balance:
            return Refusal(RefusalReason.BALANCE_INSUFFICIENT, {"balance": balance, "amount": amount})
    return None
