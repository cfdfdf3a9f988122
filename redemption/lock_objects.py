"""The rows redemption locks, and the one order it takes them in.

Every write of redemption that locks rows takes them in this order, so two requests never wait on each
other crosswise:

1. the idempotency key: voucherhub.core.idempotency inserts its record first, in the same transaction (a
   twin with the same key waits on the unique index, then replays the committed answer);
2. the card code (`code_locked`): redeem and reverse lock it before anything that belongs to the code.
   Two terminals on one code queue here; the second one reads the code again once the first commits;
3. the redemption (`redemption_locked`), on reverse;
4. the stored-value balance: read and written only while the code is locked, so it needs no lock of its own.

A code's holding (QR token) is read under the code's lock, never locked by redeem: a gift
(holdings.holding_gift) locks the holding and then the code, and a redeem waits for it on the code.
Catalog's `code_status_change` locks the code again (it is already ours: no wait).
"""

from catalog.models import CardCode
from redemption import selectors
from redemption.models import Redemption


def code_locked(*, merchant_id: int, blind_index: str | None = None, code_id: int | None = None) -> CardCode | None:
    """The code (by blind index or id) locked for the caller's transaction, with what a redemption at this
    merchant is judged by (selectors.codes_for_merchant), or None."""
    codes = selectors.codes_for_merchant(merchant_id=merchant_id).select_for_update(of=("self",))
    return selectors.code_from(codes, blind_index=blind_index, code_id=code_id)


def redemption_locked(*, redemption_id: int) -> Redemption:
    """A redemption locked for the caller's transaction (take its code's lock first)."""
    return (
        Redemption.objects.select_related("code", "sku", "store__merchant", "terminal")
        .select_for_update(of=("self",))
        .get(pk=redemption_id)
    )
