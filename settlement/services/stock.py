"""Card-code moves made by orders: hold for an order, sell, release, void.

Which codes an order gets is catalog's (catalog.allocation.codes_claim: locked, status unchanged); every
status change then goes through catalog's `code_status_change`, the one writer of a code's status and its
CodeEvent rows (it re-checks CardCode.TRANSITIONS on the locked rows).
"""

from django.utils import timezone

from catalog import allocation
from catalog.models import CardCode, Sku
from catalog.services import code_status_change

S = CardCode.Status


def codes_claim(*, sku: Sku, quantity: int, order_ref: str, exclude_ids=()) -> list[CardCode]:
    """Claim `quantity` available, unexpired codes of `sku` and reserve them for `order_ref` (caller holds a
    transaction), or raise OutOfStock."""
    codes = allocation.codes_claim(sku=sku, quantity=quantity, exclude_ids=exclude_ids)
    return codes_hold(codes=codes, order_ref=order_ref)


def codes_hold(*, codes: list[CardCode], order_ref: str) -> list[CardCode]:
    """Codes just claimed (catalog.allocation.codes_claim, in this transaction) are reserved for an order
    that is not delivered yet (awaiting payment or risk review)."""
    return code_status_change(
        codes=codes, to_status=S.RESERVED, from_statuses=[S.AVAILABLE], reference=order_ref, order_ref=order_ref, locked=True
    )


def codes_reserve(*, sku: Sku, quantity: int, order_ref: str, exclude_ids=()) -> list[int]:
    """Claim `quantity` available, unexpired codes of `sku` (caller holds a transaction), or raise OutOfStock."""
    return [code.pk for code in codes_claim(sku=sku, quantity=quantity, order_ref=order_ref, exclude_ids=exclude_ids)]


def codes_sell(*, ids=None, codes=None, sku: Sku, order_ref: str, actor=None) -> int:
    """An order's codes become sold; a days-from-sale SKU's validity starts now. Either `codes`, just claimed
    in this transaction (still available: they go through reserved, both steps recorded), or the `ids` of
    codes reserved for the order."""
    also = {}
    if sku.validity_kind == Sku.ValidityKind.DAYS_FROM_SALE:
        also["expires_at"] = sku.expiry_for_sale(timezone.now())
    if codes is not None:
        if not codes:
            return 0
        code_status_change(
            codes=codes,
            to_status=S.SOLD,
            through=[S.RESERVED],
            from_statuses=[S.AVAILABLE],
            reference=order_ref,
            order_ref=order_ref,
            actor=actor,
            also=also,
            locked=True,
        )
        return len(codes)
    ids = list(ids or ())
    if not ids:
        return 0
    code_status_change(codes=ids, to_status=S.SOLD, from_statuses=[S.RESERVED], reference=order_ref, actor=actor, also=also)
    return len(ids)


def codes_release(*, ids, order_ref: str, reason: str = "") -> int:
    """Reserved codes go back to the pool (an unpaid order expired, or was refunded before delivery)."""
    ids = list(CardCode.objects.filter(pk__in=list(ids), status=S.RESERVED, order_ref=order_ref).values_list("pk", flat=True))
    if not ids:
        return 0
    code_status_change(codes=ids, to_status=S.AVAILABLE, from_statuses=[S.RESERVED], reference=order_ref, reason=reason, order_ref="")
    return len(ids)


def codes_void(*, ids, order_ref: str, actor=None, reason: str = "") -> list[int]:
    """Sold, unredeemed codes become void (refund or replacement); returns the ids actually voided."""
    ids = list(CardCode.objects.filter(pk__in=list(ids), status=S.SOLD).order_by("pk").values_list("pk", flat=True))
    if ids:
        code_status_change(codes=ids, to_status=S.VOID, from_statuses=[S.SOLD], reference=order_ref, actor=actor, reason=reason)
    return ids
