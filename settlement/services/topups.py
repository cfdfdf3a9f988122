"""Direct top-up orders: a TOPUP SKU is fulfilled by a supplier topping up the buyer's account (supply), not by
codes. A top-up order never claims codes and never holds stock.

The money (issue 15, "Money"):

* paid (wallet at once, or the payment callback): the order is PAID, not delivered; the payment is held in
  the platform's `topups_held` account (payer -> held, transfer `hold:<order>`) and supply is asked to top
  the account up (`topup_request`, in the same transaction; supply submits after commit);
* success (supply's `topup_finished` signal): held -> revenue (the sale, `sale:<order>`), the real supplier
  cost from the signal to the supplier payable account (`cost:<order>`) and the commission as for codes
  (`commission:<order>`); the order is DELIVERED;
* failure: held -> payer (the wallet, or refunds clearing and back through the payment adapter, as
  order_refund does); the order is REFUNDED;
* partial: the delivered part (delivered_value / face_value of the price) is sold as on success (commission
  in proportion), the rest refunded as on failure; the order is DELIVERED then PARTIALLY_REFUNDED.

Every posting is keyed and the order row is locked and must still be PAID: a signal that arrives twice
changes nothing the second time. The held account nets to zero for every finished order.
"""

import logging
from dataclasses import replace
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from settlement import integrations, lock_objects
from settlement.errors import InvalidAmount
from settlement.models import Account, CommissionAccrual, Order, Transfer
from settlement.services import commission as commission_services
from settlement.services import notify
from settlement.services.ledger import Posting, accounts_for, transfers_post
from settlement.services.order_status import OrderChanges, user_of
from settlement.services.payments import payment_refund_for_order
from voucherhub.core.audit import audit_record
from voucherhub.core.money import ZERO, money

logger = logging.getLogger(__name__)
S = Order.Status
K = Account.Kind

# supply's topup_finished `status` values
SUCCESS, FAILED, PARTIAL = "success", "failed", "partial"
WEBHOOK_EVENTS = {SUCCESS: "topup.succeeded", FAILED: "topup.failed", PARTIAL: "topup.partial"}


def topup_order_check(*, sku, quantity: int, account: str, region: str) -> tuple[str, str]:
    """What a top-up order needs before it is placed: one top-up per order, and the account (and region)
    valid for the SKU's top-up profile (supply's InvalidAccount names the field). Returns them normalised."""
    if quantity != 1:
        raise InvalidAmount(_("A top-up order tops up one account once: the quantity must be 1."), field="quantity")
    return integrations.topup_account_check(sku=sku, account=account or "", region=region or "")


def topup_order_placed(order: Order, *, changes: OrderChanges, actor=None) -> None:
    """A new top-up order (inside order_place's transaction): a wallet order is paid at once and its top-up
    requested; any other waits for its payment (order_pay -> topup_order_paid)."""
    if order.pay_method == Order.PayMethod.WALLET:
        topup_order_paid(order, changes=changes, actor=actor, note="wallet")
    else:
        changes.flush()


def topup_order_paid(order: Order, *, changes: OrderChanges, actor=None, note: str = "") -> None:
    """The money for a pending (or expired, cancelled) top-up order is in: the order is PAID, the payment held,
    and unless risk review holds the order the top-up is requested. The order is locked or new here."""
    changes.move(S.PAID, actor=actor, note=note)
    changes.flush()
    accounts = accounts_for(**_accounts_wanted(order, shares=[]))
    transfers_post([_hold_posting(order, accounts=accounts, actor=actor)])
    notify.order_events(order=order, events=["order.paid"])
    if order.hold == Order.Hold.REJECTED:  # paid after risk review rejected it: straight back
        topup_order_review_rejected(order, actor=actor, note=_("Paid after risk review rejected the order."))
    elif order.hold != Order.Hold.REVIEW:
        topup_order_submit(order)


def topup_order_submit(order: Order) -> None:
    """Ask supply to top up the paid order's account (inside the caller's transaction)."""
    integrations.topup_start(reference=order.number, sku=order.sku, account=order.topup_account, region=order.topup_region)


def topup_order_review_rejected(order: Order, *, actor=None, note: str = "") -> Order:
    """Risk review rejected a paid top-up order before its top-up was requested: the held payment goes back."""
    accounts = accounts_for(**_accounts_wanted(order, shares=[]))
    reason = _("Rejected by risk review. %(note)s") % {"note": note}
    _refund_held(order, accounts=accounts, amount=order.total - order.refunded_amount, reason=reason, actor=actor)
    changes = OrderChanges(order)
    changes.move(S.REFUNDED, actor=actor, note=reason)
    changes.fields |= {"refunded_amount", "refunded_quantity"}
    changes.flush()
    notify.order_event(order=order, event="order.refunded", extra={"refunded_amount": str(order.total)})
    return order


# --- The outcome ------------------------------------------------------------------------------------


@transaction.atomic
def topup_order_settle(*, reference: str, status: str, delivered_value=None, face_value=None, cost=None) -> Order | None:
    """Supply's final word on the top-up of order `reference` (the `topup_finished` signal): deliver, refund,
    or deliver in part and refund the rest. Only a PAID top-up order moves; anything else (settled before,
    not a top-up order, unknown) is returned unchanged, so a repeated signal changes nothing."""
    order = lock_objects.orders_lock(number=reference).select_related("sku", "distributor").first()
    if order is None or not order.is_topup or order.status != S.PAID or status not in WEBHOOK_EVENTS:
        if order is None or status not in WEBHOOK_EVENTS:
            logger.warning("top-up outcome %r for %s: no paid top-up order takes it", status, reference)
        return order
    fraction = _fraction(status, delivered_value=delivered_value, face_value=face_value)
    changes = OrderChanges(order)
    if fraction > ZERO:
        _deliver(order, changes=changes, fraction=fraction, cost=cost)
    if fraction < 1:
        amount = order.total - money(order.total * fraction)
        reason = _("The top-up failed.") if fraction == ZERO else _("The top-up was delivered in part.")
        accounts = accounts_for(**_accounts_wanted(order, shares=[]))
        _refund_held(order, accounts=accounts, amount=amount, reason=reason, full=fraction == ZERO)
        changes.move(S.REFUNDED if fraction == ZERO else S.PARTIALLY_REFUNDED, note=reason)
        changes.fields |= {"refunded_amount", "refunded_quantity"}
    changes.flush()
    _tell(order, status=status, delivered_value=delivered_value, face_value=face_value)
    return order


def _fraction(status: str, *, delivered_value, face_value) -> Decimal:
    """How much of the top-up arrived: 1 on success, 0 on failure, delivered / face value (0..1) in part."""
    if status == SUCCESS:
        return Decimal(1)
    if status == FAILED or not face_value or delivered_value is None:
        return ZERO
    return min(max(Decimal(delivered_value) / Decimal(face_value), ZERO), Decimal(1))


def _deliver(order: Order, *, changes: OrderChanges, fraction: Decimal, cost) -> None:
    """The delivered part is sold: held -> revenue, the real cost to the supplier payable, the commission
    (in proportion to the part); the order is DELIVERED."""
    shares = [replace(s, amount=money(s.amount * fraction)) for s in commission_services.commission_shares(order=order)]
    shares = [s for s in shares if s.amount > ZERO]
    accounts = accounts_for(**_accounts_wanted(order, shares=shares))
    sold = money(order.total * fraction)
    cost = money(cost) if cost is not None else money(order.unit_cost * order.quantity * fraction)
    postings = [
        Posting(
            kind=Transfer.Kind.SALE,
            lines=[(accounts[(None, K.TOPUPS_HELD)], -sold), (accounts[(None, K.REVENUE)], sold)],
            reference=order.number,
            order=order,
            key=f"sale:{order.pk}",
            memo=_("Top-up %(sku)s to %(account)s") % {"sku": order.sku.code, "account": order.topup_account},
        ),
        commission_services.commission_posting(order=order, shares=shares, accounts=accounts),
    ]
    if cost > ZERO:
        postings.append(
            Posting(
                kind=Transfer.Kind.SALE,
                lines=[(accounts[(None, K.COST_OF_GOODS)], -cost), (accounts[(None, K.SUPPLIER_PAYABLE)], cost)],
                reference=order.number,
                order=order,
                key=f"cost:{order.pk}",
                memo=_("Supplier cost of top-up %(sku)s") % {"sku": order.sku.code},
            )
        )
    transfers_post([p for p in postings if p is not None])
    if shares:
        CommissionAccrual.objects.bulk_create(commission_services.commission_accruals(order=order, shares=shares, accounts=accounts))
    changes.move(S.DELIVERED)


def _tell(order: Order, *, status: str, delivered_value, face_value) -> None:
    """The distributor's webhook about the final result (sent after commit). The values are also at the top of
    `data`, where another VoucherHub buying from this one reads them (supply/adapters/voucherhub.py)."""
    extra = {
        "face_value": str(face_value) if face_value is not None else None,
        "delivered_value": str(delivered_value) if delivered_value is not None else None,
        "topup": {
            "status": status,
            "account": order.topup_account,
            "region": order.topup_region,
            "face_value": str(face_value) if face_value is not None else None,
            "delivered_value": str(delivered_value) if delivered_value is not None else None,
        },
        "refunded_amount": str(order.refunded_amount),
    }
    notify.order_events(order=order, events=[WEBHOOK_EVENTS[status]], extra=extra)
    if order.is_consumer:
        transaction.on_commit(lambda: notify.consumer_topup_result(order_id=order.pk))


# --- Postings --------------------------------------------------------------------------------------


def _accounts_wanted(order: Order, *, shares) -> dict:
    platform = {K.TOPUPS_HELD, K.REVENUE, K.COST_OF_GOODS, K.SUPPLIER_PAYABLE}
    wallets: dict[int, tuple] = {}
    if order.pay_method == Order.PayMethod.WALLET:
        wallets[order.distributor.pk] = (order.distributor, {K.WALLET})
    else:
        platform |= {K.PAYMENT_CLEARING, K.REFUNDS_CLEARING}
    commission_platform, commission_wallets = commission_services.commission_accounts_wanted(shares)
    platform |= commission_platform
    for distributor, kinds in commission_wallets.items():
        wallets.setdefault(distributor.pk, (distributor, set()))[1].update(kinds)
    return {"currency": order.currency, "platform": platform, "wallets": dict(wallets.values())}


def _payer(order: Order, accounts: dict, *, refund: bool) -> Account:
    """Who paid: the distributor's wallet, or the payment provider (refunds go through refunds clearing)."""
    if order.pay_method == Order.PayMethod.WALLET:
        return accounts[(order.distributor.pk, K.WALLET)]
    return accounts[(None, K.REFUNDS_CLEARING if refund else K.PAYMENT_CLEARING)]


def _hold_posting(order: Order, *, accounts: dict, actor=None) -> Posting:
    """The buyer's payment, held until the top-up's outcome: payer debited, the held account credited."""
    return Posting(
        kind=Transfer.Kind.HOLD,
        lines=[(accounts[(None, K.TOPUPS_HELD)], order.total), (_payer(order, accounts, refund=False), -order.total)],
        reference=order.number,
        order=order,
        actor=actor,
        key=f"hold:{order.pk}",
        memo=_("Top-up %(sku)s to %(account)s, held until it is done") % {"sku": order.sku.code, "account": order.topup_account},
    )


def _refund_held(order: Order, *, accounts: dict, amount: Decimal, reason: str, full: bool = True, actor=None) -> None:
    """Give `amount` of the held payment back: to the wallet, or to refunds clearing and through the payment
    adapter that took it (as order_refund does). Sets the order's refunded amount (the caller saves it)."""
    amount = money(amount)
    if amount <= ZERO:
        return
    transfers_post(
        [
            Posting(
                kind=Transfer.Kind.REFUND,
                lines=[(accounts[(None, K.TOPUPS_HELD)], -amount), (_payer(order, accounts, refund=True), amount)],
                reference=order.number,
                order=order,
                actor=actor,
                key=f"refund:{order.pk}:1",
                memo=reason[:300],
            )
        ]
    )
    order.refunded_amount += amount
    if full:
        order.refunded_quantity = order.quantity
    units = order.quantity if full else 0
    audit_record(actor=user_of(actor), action="order.refund", obj=order, reason=reason, data={"units": units, "amount": str(amount)})
    if order.pay_method != Order.PayMethod.WALLET:
        payment_refund_for_order(order=order, amount=amount, reference=f"{order.number}-R1")
