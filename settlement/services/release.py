"""Releasing frozen commission (frozen → available, an outstanding commission debt paid off first).

* On redemption: each sale line (an order's code) whose code is redeemed releases its share of every frozen
  commission of the order, once (`CommissionReleaseLine`). When every live line of the order is redeemed,
  the rest of the frozen commission is released too. A redemption reversed before the job sees it releases
  nothing: the reversal puts the code back to `sold`. Stored-value codes count once they are used up.
* After the freeze period (`release_after`, SETTLEMENT_COMMISSION_RELEASE_DAYS): the whole frozen rest.

Redemption never calls settlement (it may not import it) and its redeem path does no extra work: the
scheduled job `commissions_release_run` finds the work set-based, two queries per window of orders with frozen
commission (commission that is due, or a redeemed line not yet released), and takes each such order in one
short transaction. The order row is locked first, as `order_refund` does, then its frozen commission rows,
then the beneficiaries' accounts in id order; what was found is re-read under those locks, so running the
job twice, or beside a refund, a reversal or another run, never releases anything twice.
"""

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q
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
WINDOW = 2000  # orders with frozen commission looked at per query


def release_candidates(*, now, after_order_id: int = 0, window: int = WINDOW) -> tuple[list[int], int | None]:
    """Orders with work among the next `window` orders (above `after_order_id`) that have frozen commission:
    the commission is due, or a delivered line's code is redeemed and its share not released yet.
    Returns (their ids, ascending; the last order id of the window, or None when there are no more).

    Two queries per window, each bounded by the window: the frozen commission's orders come from a partial
    index (`commission_frozen_order_idx`, only the freeze period's sales), their lines by order id. The cost
    of a run grows with the commission still frozen, not with the history of orders or codes."""
    rows = list(
        CommissionAccrual.objects.filter(status=FROZEN, order_id__gt=after_order_id)
        .values("order_id")
        .annotate(first_due=Min("release_after"))
        .order_by("order_id")[:window]
    )
    if not rows:
        return [], None
    ids = [r["order_id"] for r in rows]
    due = {r["order_id"] for r in rows if r["first_due"] <= now}
    redeemed = set(
        OrderItem.objects.filter(order_id__in=ids, state=OrderItem.State.DELIVERED, code__status=CardCode.Status.REDEEMED)
        .filter(~Exists(CommissionReleaseLine.objects.filter(item_id=OuterRef("pk"))))
        .values_list("order_id", flat=True)
    )
    return sorted(due | redeemed), ids[-1]


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
    # Every line of the order that is live or was released: (id, state, code status, released already).
    lines = list(
        OrderItem.objects.filter(order_id=order_id)
        .annotate(released=Exists(CommissionReleaseLine.objects.filter(item_id=OuterRef("pk"))))
        .filter(Q(state__in=OrderItem.LIVE) | Q(released=True))
        .values_list("pk", "state", "code__status", "released")
    )

    def redeemed(state, status) -> bool:
        return state == OrderItem.State.DELIVERED and status == CardCode.Status.REDEEMED

    live = [(pk, state, status) for pk, state, status, _released in lines if state in OrderItem.LIVE]
    new_lines = [pk for pk, state, status, released in lines if redeemed(state, status) and not released]
    all_redeemed = bool(live) and all(redeemed(state, status) for _pk, state, status in live)
    before = sum(1 for line in lines if line[3])
    after = before + len(new_lines)

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


COMMISSION_KINDS = (K.COMMISSION_FROZEN, K.COMMISSION_AVAILABLE, K.COMMISSION_DEBT)


def _lock_commission_accounts(wallets: dict) -> dict[int, dict[str, Account]]:
    """Lock the wallets' commission accounts in id order (as transfer_post does) and read them under the lock,
    so two releases never both pay off the same debt. {wallet id: {kind: account}}."""

    def lock():
        found: dict[int, dict[str, Account]] = {wallet_id: {} for wallet_id in wallets}
        for account in Account.objects.select_for_update().filter(wallet_id__in=sorted(wallets), kind__in=COMMISSION_KINDS).order_by("pk"):
            if account.currency == wallets[account.wallet_id].currency:
                found[account.wallet_id][account.kind] = account
        return found

    accounts = lock()
    missing = [wallet_id for wallet_id, found in accounts.items() if len(found) < len(COMMISSION_KINDS)]
    if missing:  # a wallet without all its accounts yet: make them, then lock again
        for wallet_id in missing:
            wallet_accounts_ensure(wallets[wallet_id])
        accounts = lock()
    return accounts


def _post(*, order: Order, moves, memo: str) -> Transfer | None:
    """One RELEASE transfer for the order: frozen → debt set-off first, the rest → available."""
    moving = [(a, amount) for a, amount, _full in moves if amount > ZERO]
    if not moving:
        return None
    wallets = {accrual.wallet_id: accrual.wallet for accrual, _amount in moving}
    accounts = _lock_commission_accounts(wallets)
    debt_left = {wallet_id: max(-acc[K.COMMISSION_DEBT].balance, ZERO) for wallet_id, acc in accounts.items()}
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


def commissions_release_run(*, now=None, window: int = WINDOW) -> int:
    """The scheduled job (every few minutes): release commission that is past its freeze time or whose codes
    were redeemed. Returns how many commission rows moved; a second run right after moves none."""
    now = now or timezone.now()
    moved, after = 0, 0
    while True:
        ids, after = release_candidates(now=now, after_order_id=after, window=window)
        for order_id in ids:
            try:
                moved += order_commission_release(order_id=order_id, now=now)
            except DomainError:
                # One order that cannot be released (an account limit, say) must not hold up the others;
                # it stays a candidate and is tried again on the next run.
                logger.exception("commission release of order %s failed", order_id)
        if after is None:
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
