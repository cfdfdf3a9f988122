"""Releasing frozen commission (frozen → available, an outstanding commission debt paid off first).

* On redemption: each sale line (an order's code) whose code is redeemed releases its share of every frozen
  commission of the order, once (`CommissionReleaseLine`). When every live line of the order is redeemed,
  the rest of the frozen commission is released too. A redemption reversed before the job sees it releases
  nothing: the reversal puts the code back to `sold`. Stored-value codes count once they are used up.
* After the freeze period (`release_after`, SETTLEMENT_COMMISSION_RELEASE_DAYS): the whole frozen rest.

Redemption never calls settlement (it may not import it) and its redeem path does no extra work: the
scheduled job `commissions_release_run` finds the work in one set-based query per batch of orders (frozen
commission that is due, or whose order has a redeemed line not yet released) and takes each order in one
short transaction. The order row is locked first, as `order_refund` does, then its frozen commission rows,
then the beneficiaries' accounts in id order; what was found is re-read under those locks, so running the
job twice, or beside a refund, a reversal or another run, never releases anything twice.
"""

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import CardCode
from settlement.models import Account, CommissionAccrual, CommissionReleaseLine, Order, OrderItem, Transfer
from settlement.services.ledger import transfer_post, wallet_accounts_ensure
from voucherhub.core.errors import DomainError
from voucherhub.core.money import ZERO, money

logger = logging.getLogger(__name__)
K = Account.Kind
FROZEN = CommissionAccrual.Status.FROZEN


def _redeemed_unreleased_lines():
    """Delivered lines of the outer row's order whose code is redeemed and whose share is not released yet."""
    released = CommissionReleaseLine.objects.filter(item_id=OuterRef("pk"))
    return OrderItem.objects.filter(
        order_id=OuterRef("order_id"), state=OrderItem.State.DELIVERED, code__status=CardCode.Status.REDEEMED
    ).filter(~Exists(released))


def release_candidates(*, now, after_order_id: int = 0, batch: int = 500) -> list[int]:
    """Ids of orders (above `after_order_id`, ascending) with frozen commission that is due or has a redeemed
    line to release. Starts from the frozen commission rows, which only cover the freeze period's sales."""
    frozen = CommissionAccrual.objects.filter(status=FROZEN, order_id__gt=after_order_id)
    return list(
        frozen.filter(Q(release_after__lte=now) | Exists(_redeemed_unreleased_lines()))
        .order_by("order_id")
        .values_list("order_id", flat=True)
        .distinct()[:batch]
    )


def _share(amount: Decimal, lines: int, quantity: int) -> Decimal:
    """The part of `amount` that belongs to `lines` of an order of `quantity` codes (rounded once, cumulatively)."""
    return money(amount * min(lines, quantity) / quantity)


@transaction.atomic
def order_commission_release(*, order_id: int, now=None) -> int:
    """Release what is releasable of one order's frozen commission; returns how many commission rows moved."""
    now = now or timezone.now()
    order = Order.objects.select_for_update().only("pk", "number", "quantity", "currency").get(pk=order_id)
    accruals = list(
        CommissionAccrual.objects.select_for_update(of=("self",))
        .select_related("wallet")
        .filter(order_id=order_id, status=FROZEN)
        .order_by("pk")
    )
    if not accruals:
        return 0
    live = list(OrderItem.objects.filter(order_id=order_id, state__in=OrderItem.LIVE).values_list("pk", "state", "code__status"))
    released_lines = set(CommissionReleaseLine.objects.filter(order_id=order_id).values_list("item_id", flat=True))

    def redeemed(state, status) -> bool:
        return state == OrderItem.State.DELIVERED and status == CardCode.Status.REDEEMED

    new_lines = [pk for pk, state, status in live if redeemed(state, status) and pk not in released_lines]
    all_redeemed = bool(live) and all(redeemed(state, status) for _pk, state, status in live)
    before, after = len(released_lines), len(released_lines) + len(new_lines)

    moves: list[tuple[CommissionAccrual, Decimal, bool]] = []  # (accrual, amount, released in full)
    reasons = set()
    for accrual in accruals:
        if accrual.release_after <= now:
            moves.append((accrual, accrual.frozen_remaining, True))
            reasons.add(_("Released after the freeze period"))
        elif all_redeemed:
            moves.append((accrual, accrual.frozen_remaining, True))
            reasons.add(_("Released: the codes were redeemed"))
        elif new_lines:
            share = _share(accrual.amount, after, order.quantity) - _share(accrual.amount, before, order.quantity)
            amount = min(max(share, ZERO), accrual.frozen_remaining)
            if amount > ZERO:
                moves.append((accrual, amount, False))
                reasons.add(_("Released: the codes were redeemed"))
    transfer = _post(order=order, moves=moves, memo="; ".join(sorted(reasons))) if moves else None

    for accrual, amount, full in moves:
        accrual.frozen_remaining -= amount
        if full:
            accrual.status = CommissionAccrual.Status.RELEASED
            accrual.frozen_remaining = ZERO
            accrual.released_at = now
    if moves:
        CommissionAccrual.objects.bulk_update([m[0] for m in moves], ["frozen_remaining", "status", "released_at"])
    if new_lines:
        CommissionReleaseLine.objects.bulk_create(
            [CommissionReleaseLine(item_id=pk, order_id=order_id, transfer=transfer) for pk in new_lines]
        )
    return len(moves)


def _post(*, order: Order, moves, memo: str) -> Transfer | None:
    """One RELEASE transfer for the order: frozen → debt set-off first, the rest → available."""
    moving = [(a, amount) for a, amount, _full in moves if amount > ZERO]
    if not moving:
        return None
    accounts = {}
    for accrual, _amount in moving:
        if accrual.wallet_id not in accounts:
            accounts[accrual.wallet_id] = wallet_accounts_ensure(accrual.wallet)
    ids = sorted(a.pk for wallet_accounts in accounts.values() for a in wallet_accounts.values())
    # Lock the beneficiaries' accounts (id order, as transfer_post does) before reading their debt, so two
    # releases never both pay off the same debt.
    balances = dict(Account.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", "balance"))
    debt_left = {wallet_id: max(-balances[acc[K.COMMISSION_DEBT].pk], ZERO) for wallet_id, acc in accounts.items()}
    lines = []
    for accrual, amount in moving:
        acc = accounts[accrual.wallet_id]
        set_off = min(amount, debt_left[accrual.wallet_id])
        debt_left[accrual.wallet_id] -= set_off
        lines.append((acc[K.COMMISSION_FROZEN], -amount))
        if set_off > ZERO:
            lines.append((acc[K.COMMISSION_DEBT], set_off))
        if amount - set_off > ZERO:
            lines.append((acc[K.COMMISSION_AVAILABLE], amount - set_off))
    n = Transfer.objects.filter(order_id=order.pk, kind=Transfer.Kind.RELEASE).count() + 1
    return transfer_post(
        kind=Transfer.Kind.RELEASE,
        lines=lines,
        reference=order.number,
        order=order,
        key=f"release:{order.pk}:{n}",
        memo=memo or _("Commission released"),
    )


def commissions_release_run(*, now=None, batch: int = 500) -> int:
    """The scheduled job (every few minutes): release commission that is past its freeze time or whose codes
    were redeemed. Returns how many commission rows moved; a second run right after moves none."""
    now = now or timezone.now()
    moved, after = 0, 0
    while ids := release_candidates(now=now, after_order_id=after, batch=batch):
        for order_id in ids:
            try:
                moved += order_commission_release(order_id=order_id, now=now)
            except DomainError:
                # One order that cannot be released (an account limit, say) must not hold up the others;
                # it stays a candidate and is tried again on the next run.
                logger.exception("commission release of order %s failed", order_id)
        after = ids[-1]
    return moved


def commissions_release_for_codes(*, code_ids, now=None) -> int:
    """Release at once for these just-redeemed codes (the job would find them on its next run)."""
    order_ids = sorted(
        set(
            OrderItem.objects.filter(code_id__in=list(code_ids), state=OrderItem.State.DELIVERED)
            .filter(Exists(CommissionAccrual.objects.filter(order_id=OuterRef("order_id"), status=FROZEN)))
            .values_list("order_id", flat=True)
        )
    )
    return sum(order_commission_release(order_id=order_id, now=now) for order_id in order_ids)
