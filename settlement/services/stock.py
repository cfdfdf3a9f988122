"""Card-code moves made by orders: reserve from the pool, sell, release, void.

Which codes an order gets is catalog's (catalog/allocation.py); every status change then goes through
catalog's `code_status_change`, the one door for code transitions (it re-checks CardCode.TRANSITIONS on
the locked rows and writes a CodeEvent per code).
"""

from django.utils import timezone

from catalog import allocation
from catalog.models import CardCode, Sku
from catalog.services import code_status_change

S = CardCode.Status


CODE_FIELDS = allocation.CODE_FIELDS


def codes_claim(*, sku: Sku, quantity: int, order_ref: str, exclude_ids=()) -> list[CardCode]:
    """Claim `quantity` available, unexpired codes of `sku` and reserve them (caller holds a transaction),
    or raise OutOfStock. Returns the locked rows, read once with what delivery needs."""
    codes = codes_pick(sku=sku, quantity=quantity, exclude_ids=exclude_ids)
    code_status_change(
        codes=codes, to_status=S.RESERVED, from_statuses=[S.AVAILABLE], reference=order_ref, order_ref=order_ref, locked=True
    )
    return codes


def codes_pick(*, sku: Sku, quantity: int, exclude_ids=()) -> list[CardCode]:
    """Lock `quantity` available, unexpired codes of `sku` for this transaction, or raise OutOfStock.
    Their status is not changed: the caller moves them (codes_claim, or an order's one-statement write).
    Catalog allocates (catalog/allocation.py)."""
    return allocation.codes_claim(sku=sku, quantity=quantity, exclude_ids=exclude_ids)


def codes_reserve(*, sku: Sku, quantity: int, order_ref: str, exclude_ids=()) -> list[int]:
    """Claim `quantity` available, unexpired codes of `sku` (caller holds a transaction), or raise OutOfStock."""
    return [code.pk for code in codes_claim(sku=sku, quantity=quantity, order_ref=order_ref, exclude_ids=exclude_ids)]


def codes_sell(*, ids=None, codes=None, sku: Sku, order_ref: str, actor=None) -> int:
    """Reserved codes of an order become sold; a days-from-sale SKU's validity starts now. Pass `codes`
    when they are the rows `codes_claim` returned in this transaction (not read again), else `ids`."""
    also = {}
    if sku.validity_kind == Sku.ValidityKind.DAYS_FROM_SALE:
        also["expires_at"] = sku.expiry_for_sale(timezone.now())
    if codes is not None:
        if not codes:
            return 0
        code_status_change(
            codes=codes, to_status=S.SOLD, from_statuses=[S.RESERVED], reference=order_ref, actor=actor, also=also, locked=True
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
