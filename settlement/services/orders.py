"""Orders: place, pay, deliver, expire, refund, replace. The only code that changes Order.status."""

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import CardCode, Sku
from channels import pricing as channel_pricing
from channels import services as channel_services
from channels.models import Distributor, Quota, Storefront, StorefrontItem
from settlement import conf, integrations
from settlement.errors import (
    InvalidAmount,
    InvalidOrderTransition,
    NothingToRefund,
    OutOfStock,
    SettlementError,
)
from settlement.models import Account, Order, OrderEvent, OrderItem, Transfer
from settlement.services import commission as commission_services
from settlement.services import notify, stock
from settlement.services.ledger import platform_account, transfer_post, wallet_account
from settlement.services.wallets import wallet_for
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError
from voucherhub.core.money import ZERO, money

logger = logging.getLogger(__name__)
S = Order.Status


def order_number() -> str:
    """VH + date + 10 random characters: unique and not guessable from a neighbour's number."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "VH" + timezone.localdate().strftime("%y%m%d") + "".join(secrets.choice(alphabet) for _ in range(10))


def contact_normalized(contact: str) -> str:
    return "".join((contact or "").split()).lower()


def contact_key(contact: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), ("order-contact:" + contact_normalized(contact)).encode(), hashlib.sha256).hexdigest()


def _status_set(order: Order, to: str, *, actor=None, note: str = "") -> None:
    """Move a locked order along TRANSITIONS and write its event row."""
    if to not in Order.TRANSITIONS[order.status]:
        raise InvalidOrderTransition(
            _("Order %(number)s cannot go from %(from)s to %(to)s.") % {"number": order.number, "from": order.status, "to": to}
        )
    now = timezone.now()
    OrderEvent.objects.create(order=order, from_status=order.status, to_status=to, actor=_user(actor), note=note[:300])
    order.status = to
    order.status_changed_at = now
    fields = ["status", "status_changed_at"]
    if to == S.PAID:
        order.paid_at = now
        fields.append("paid_at")
    elif to == S.DELIVERED:
        order.delivered_at = now
        fields.append("delivered_at")
    order.save(update_fields=fields)


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) and not hasattr(actor, "key") else None


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update().select_related("sku", "distributor").get(pk=order.pk)


# --- Placing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    unit_price: Decimal
    purchase_unit_price: Decimal


def _price(*, channel: str, distributor: Distributor, sku: Sku, quantity: int, storefront: Storefront | None) -> Price:
    quote = channel_pricing.price_quote(distributor=distributor, sku=sku, quantity=quantity)
    if channel != Order.Channel.STOREFRONT:
        return Price(unit_price=money(quote.purchase_price), purchase_unit_price=money(quote.purchase_price))
    item = StorefrontItem.objects.filter(storefront=storefront, sku=sku, listed=True).first()
    if item is None or not storefront.is_open:
        raise SettlementError(_("This product is not on sale in this shop."), field="sku")
    channel_pricing.retail_price_check(distributor=distributor, sku=sku, price=item.retail_price, channel="order")
    return Price(unit_price=money(item.retail_price), purchase_unit_price=money(quote.purchase_price))


def _reserve(*, order: Order, distributor: Distributor, sku: Sku, quantity: int) -> list[int]:
    """Draw the distributor's quota for the SKU when it has one, then claim codes from the pool."""
    from_quota = Quota.objects.filter(distributor=distributor, sku=sku).exists()
    if from_quota:
        channel_services.quota_draw(distributor=distributor, sku=sku, quantity=quantity, reference=order.number)
    ids = stock.codes_reserve(sku=sku, quantity=quantity, order_ref=order.number)
    OrderItem.objects.bulk_create([OrderItem(order=order, code_id=pk, from_quota=from_quota) for pk in ids])
    return ids


def order_place(
    *,
    channel: str,
    distributor: Distributor,
    sku: Sku,
    quantity: int,
    actor=None,
    storefront: Storefront | None = None,
    pay_method: str | None = None,
    contact: str = "",
    lookup_password: str = "",
    customer_ref: str = "",
    campaign: str = "",
    referrer: str = "",
    idempotency_key: str | None = None,
    ip: str | None = None,
    device: str = "",
    challenge_passed: bool = False,
) -> Order:
    """Place an order through any of the three ways in; risk-checked, codes reserved, and for wallet
    orders paid and delivered at once. Raises a DomainError (out of stock, insufficient funds, risk ...)."""
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        raise InvalidAmount(_("Quantity must be a whole number."), field="quantity")
    if not 1 <= quantity <= conf.max_order_quantity():
        raise InvalidAmount(_("Quantity must be between 1 and %(max)s.") % {"max": conf.max_order_quantity()}, field="quantity")
    if idempotency_key:
        existing = Order.objects.filter(distributor=distributor, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    if distributor.status != Distributor.Status.ACTIVE:
        raise SettlementError(_("This distributor is not active."), field="distributor")
    consumer = channel == Order.Channel.STOREFRONT
    pay_method = pay_method or (Order.PayMethod.SANDBOX if consumer else Order.PayMethod.WALLET)
    if consumer and pay_method == Order.PayMethod.WALLET:
        raise SettlementError(_("Choose a payment method."), field="pay_method")
    if not consumer and pay_method != Order.PayMethod.WALLET:
        raise SettlementError(_("Distributor orders are paid from the wallet."), field="pay_method")
    if consumer and not contact.strip():
        raise SettlementError(_("Give an e-mail address or phone number."), field="contact")
    if consumer and len(lookup_password) < 6:
        raise SettlementError(_("Choose a lookup password of at least 6 characters."), field="lookup_password")

    price = _price(channel=channel, distributor=distributor, sku=sku, quantity=quantity, storefront=storefront)
    total = money(price.unit_price * quantity)
    number = order_number()
    # Block and challenge raise riskcontrol's RiskBlocked (403) / ChallengeRequired (428); their counters
    # are given back by risk control itself. Allow and review reserve counters, given back below on failure.
    verdict = integrations.risk_check(
        reference=number,
        sku_id=sku.pk,
        quantity=quantity,
        amount=total,
        ip=ip or "",
        device=device,
        account_id=getattr(_user(actor), "pk", None),
        email=contact if "@" in contact else "",
        phone=contact if contact and "@" not in contact else "",
        distributor_id=distributor.pk,
        storefront_id=storefront.pk if storefront else None,
        challenge_passed=challenge_passed,
    )
    verdict.raise_if_refused()
    try:
        order = _order_create(
            number=number,
            channel=channel,
            distributor=distributor,
            sku=sku,
            quantity=quantity,
            price=price,
            total=total,
            actor=actor,
            storefront=storefront,
            pay_method=pay_method,
            contact=contact.strip(),
            lookup_password=lookup_password,
            customer_ref=customer_ref,
            campaign=campaign,
            referrer=referrer,
            idempotency_key=idempotency_key,
            ip=ip,
            verdict=verdict,
        )
    except Exception:
        integrations.risk_undo(verdict)
        raise
    return order


@transaction.atomic
def _order_create(
    *,
    number,
    channel,
    distributor,
    sku,
    quantity,
    price,
    total,
    actor,
    storefront,
    pay_method,
    contact,
    lookup_password,
    customer_ref,
    campaign,
    referrer,
    idempotency_key,
    ip,
    verdict,
) -> Order:
    order = Order.objects.create(
        number=number,
        channel=channel,
        distributor=distributor,
        chain=[d.pk for d in channel_pricing.upline_chain(distributor)],
        storefront=storefront,
        campaign=campaign[:64],
        referrer=referrer[:200],
        placed_by=_user(actor),
        customer_ref=customer_ref[:64],
        ip=ip or None,
        sku=sku,
        quantity=quantity,
        currency=sku.currency,
        unit_price=price.unit_price,
        total=total,
        purchase_unit_price=price.purchase_unit_price,
        unit_cost=sku.cost_price,
        pay_method=pay_method,
        hold=Order.Hold.REVIEW if verdict.held_for_review else Order.Hold.NONE,
        risk_outcome=verdict.outcome,
        risk_reasons=verdict.messages(),
        risk_event_id=verdict.event_id,
        contact=contact,
        contact_key=contact_key(contact) if contact else "",
        lookup_password=make_password(lookup_password) if lookup_password else "",
        idempotency_key=idempotency_key or None,
        expires_at=timezone.now() + conf.order_ttl(),
    )
    OrderEvent.objects.create(order=order, from_status="", to_status=S.PENDING, actor=_user(actor), note=channel)
    _reserve(order=order, distributor=distributor, sku=sku, quantity=quantity)
    if pay_method == Order.PayMethod.WALLET:
        order = order_pay(order=order, actor=actor)
    return order


# --- Paying and delivering ------------------------------------------------------------------------


def _live_items(order: Order, state=None):
    qs = order.items.filter(state__in=[state] if state else OrderItem.LIVE)
    return qs


@transaction.atomic
def order_pay(*, order: Order, actor=None, payment=None) -> Order:
    """The money for the order is in (wallet debited here, or a payment callback applied). Books the sale
    and the commission, then delivers unless risk review holds it. A paid order whose codes cannot be
    delivered any more (it expired and the stock is gone) is refunded at once."""
    order = _locked(order)
    if order.status not in (S.PENDING, S.EXPIRED, S.CANCELLED):
        return order  # already paid: a repeated call changes nothing
    revived = order.status != S.PENDING
    if revived:
        # The money came after the codes were released: try to claim codes again.
        try:
            with transaction.atomic():
                _reserve(order=order, distributor=order.distributor, sku=order.sku, quantity=order.quantity)
            revived = False
        except (OutOfStock, DomainError):
            pass
    _status_set(order, S.PAID, actor=actor, note=payment.number if payment else "wallet")
    sale_lines = [(platform_account(Account.Kind.REVENUE, order.currency), order.total)]
    if order.pay_method == Order.PayMethod.WALLET:
        sale_lines.append((wallet_account(wallet_for(order.distributor), Account.Kind.WALLET), -order.total))
    else:
        sale_lines.append((platform_account(Account.Kind.PAYMENT_CLEARING, order.currency), -order.total))
    transfer_post(
        kind=Transfer.Kind.SALE,
        lines=sale_lines,
        reference=order.number,
        order=order,
        actor=actor,
        key=f"sale:{order.pk}",
        memo=_("%(qty)s × %(sku)s") % {"qty": order.quantity, "sku": order.sku.code},
    )
    if revived:
        # Nothing to deliver: the codes are gone. Refund in full, never leave the buyer hanging.
        order_refund(
            order=order,
            actor=None,
            reason=_("Paid after the order expired and the stock ran out: refunded automatically."),
            undeliverable=True,
        )
        return Order.objects.get(pk=order.pk)
    cost = money(order.unit_cost * order.quantity)
    if cost > ZERO:
        transfer_post(
            kind=Transfer.Kind.SALE,
            lines=[
                (platform_account(Account.Kind.COST_OF_GOODS, order.currency), -cost),
                (platform_account(Account.Kind.SUPPLIER_PAYABLE, order.currency), cost),
            ],
            reference=order.number,
            order=order,
            key=f"cost:{order.pk}",
            memo=_("Cost of %(qty)s × %(sku)s") % {"qty": order.quantity, "sku": order.sku.code},
        )
    commission_services.commission_accrue(order=order)
    if order.hold == Order.Hold.REVIEW:
        return order
    return order_deliver(order=order, actor=actor)


@transaction.atomic
def order_deliver(*, order: Order, actor=None) -> Order:
    """Reserved codes become the buyer's (sold); the order is delivered; the buyer is told by link."""
    order = _locked(order)
    if order.status != S.PAID:
        return order
    items = list(_live_items(order, OrderItem.State.RESERVED))
    ids = [item.code_id for item in items]
    stock.codes_sell(ids=ids, sku=order.sku, order_ref=order.number, actor=_user(actor))
    OrderItem.objects.filter(pk__in=[i.pk for i in items]).update(state=OrderItem.State.DELIVERED, changed_at=timezone.now())
    channel_services.code_sale_record(code_ids=ids, distributor=order.distributor, order_ref=order.number, unit_price=order.unit_price)
    _status_set(order, S.DELIVERED, actor=actor)
    if order.is_consumer:
        link = integrations.holding_link(code_ids=ids, contact=order.contact, order_ref=order.number)
        if link:
            transaction.on_commit(lambda: notify.consumer_codes_ready(order_id=order.pk, link=link))
    notify.order_event(order=order, event="order.paid")
    notify.order_event(order=order, event="order.delivered")
    return order


@transaction.atomic
def order_hold_decide(*, reference: str, approved: bool, actor=None, note: str = "") -> Order | None:
    """Risk review decided on a held order: deliver it, or refund it (or cancel it when unpaid)."""
    order = Order.objects.select_for_update().filter(number=reference).first()
    if order is None or order.hold != Order.Hold.REVIEW:
        return order
    order.hold = Order.Hold.APPROVED if approved else Order.Hold.REJECTED
    order.save(update_fields=["hold"])
    OrderEvent.objects.create(
        order=order,
        from_status=order.status,
        to_status=order.status,
        actor=_user(actor),
        note=(_("Risk review approved") if approved else _("Risk review rejected")) + (f": {note}" if note else ""),
    )
    if approved:
        if order.status == S.PAID:
            return order_deliver(order=order, actor=actor)
        return order
    if order.status == S.PENDING:
        _release_reserved(order, reason="risk review rejected")
        _status_set(order, S.CANCELLED, actor=actor, note=note)
        return order
    if order.status == S.PAID:
        return order_refund(order=order, actor=actor, reason=_("Rejected by risk review. %(note)s") % {"note": note})
    return order


def _release_reserved(order: Order, *, reason: str) -> int:
    items = list(_live_items(order, OrderItem.State.RESERVED))
    if not items:
        return 0
    stock.codes_release(ids=[i.code_id for i in items], order_ref=order.number, reason=reason)
    OrderItem.objects.filter(pk__in=[i.pk for i in items]).update(state=OrderItem.State.RELEASED, changed_at=timezone.now())
    from_quota = sum(1 for i in items if i.from_quota)
    if from_quota:
        channel_services.quota_return(distributor=order.distributor, sku=order.sku, quantity=from_quota, reference=order.number)
    return len(items)


def orders_expire(*, now=None, limit: int = 500) -> int:
    """Unpaid orders past their time give their codes back. Safe to run twice and in parallel."""
    now = now or timezone.now()
    done = 0
    ids = list(Order.objects.filter(status=S.PENDING, expires_at__lt=now).order_by("pk").values_list("pk", flat=True)[:limit])
    for pk in ids:
        with transaction.atomic():
            order = Order.objects.select_for_update(skip_locked=True).filter(pk=pk, status=S.PENDING, expires_at__lt=now).first()
            if order is None:
                continue
            _release_reserved(order, reason="order expired")
            _status_set(order, S.EXPIRED, note=_("Not paid in time"))
            done += 1
    return done


# --- Refunds and after-sales ----------------------------------------------------------------------


@transaction.atomic
def order_refund(*, order: Order, actor=None, reason: str, quantity: int | None = None, undeliverable: bool = False) -> Order:
    """Refund unredeemed codes of a paid order (all, or `quantity` of them). Delivered codes are voided
    (returned to nobody); codes never delivered go back to the pool. The sale is reversed in
    proportion and the commission clawed back (frozen first, then available, the rest as debt)."""
    order = _locked(order)
    if order.status not in (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED):
        raise NothingToRefund()
    if not reason.strip():
        raise SettlementError(_("Say why the order is refunded."), field="reason")
    reserved = list(_live_items(order, OrderItem.State.RESERVED))
    delivered = list(_live_items(order, OrderItem.State.DELIVERED).select_related("code"))
    refundable = reserved + [i for i in delivered if i.code.status == CardCode.Status.SOLD]
    if undeliverable:
        units = order.quantity - order.refunded_quantity
    else:
        units = len(refundable) if quantity is None else int(quantity)
        if units < 1 or units > len(refundable):
            raise NothingToRefund(
                _("%(n)s of this order's codes can be refunded (redeemed codes cannot).") % {"n": len(refundable)}, field="quantity"
            )
    chosen = refundable[:units] if not undeliverable else refundable
    # Codes never shown to the buyer go back to the pool; delivered ones are voided.
    back = [i for i in chosen if i.state == OrderItem.State.RESERVED]
    void = [i for i in chosen if i.state == OrderItem.State.DELIVERED]
    if back:
        stock.codes_release(ids=[i.code_id for i in back], order_ref=order.number, reason="refund")
    if void:
        stock.codes_void(ids=[i.code_id for i in void], order_ref=order.number, actor=_user(actor), reason=reason)
    OrderItem.objects.filter(pk__in=[i.pk for i in chosen]).update(state=OrderItem.State.REFUNDED, changed_at=timezone.now())
    from_quota = sum(1 for i in chosen if i.from_quota)
    if from_quota:
        channel_services.quota_return(distributor=order.distributor, sku=order.sku, quantity=from_quota, reference=order.number)

    full = order.refunded_quantity + units >= order.quantity
    amount = order.total - order.refunded_amount if full else money(order.unit_price * units)
    n = order.transfers.filter(kind=Transfer.Kind.REFUND).count() + 1
    revenue = platform_account(Account.Kind.REVENUE, order.currency)
    if order.pay_method == Order.PayMethod.WALLET:
        payer = wallet_account(wallet_for(order.distributor), Account.Kind.WALLET)
    else:
        payer = platform_account(Account.Kind.REFUNDS_CLEARING, order.currency)
    if amount > ZERO:
        transfer_post(
            kind=Transfer.Kind.REFUND,
            lines=[(revenue, -amount), (payer, amount)],
            reference=order.number,
            order=order,
            actor=actor,
            key=f"refund:{order.pk}:{n}",
            memo=reason,
        )
    if back and order.paid_at and order.transfers.filter(key=f"cost:{order.pk}").exists():
        # Stock that goes back to the pool was never consumed: take its cost back off.
        cost = money(order.unit_cost * len(back))
        transfer_post(
            kind=Transfer.Kind.REFUND,
            lines=[
                (platform_account(Account.Kind.COST_OF_GOODS, order.currency), cost),
                (platform_account(Account.Kind.SUPPLIER_PAYABLE, order.currency), -cost),
            ],
            reference=order.number,
            order=order,
            key=f"refund-cost:{order.pk}:{n}",
            memo=_("Codes returned to stock"),
        )
    commission_services.commission_clawback(order=order, units=units, full=full, actor=actor)
    order.refunded_quantity += units
    order.refunded_amount += amount
    order.save(update_fields=["refunded_quantity", "refunded_amount"])
    _status_set(order, S.REFUNDED if full else S.PARTIALLY_REFUNDED, actor=actor, note=reason)
    audit_record(actor=_user(actor), action="order.refund", obj=order, reason=reason, data={"units": units, "amount": str(amount)})
    if order.pay_method != Order.PayMethod.WALLET and amount > ZERO:
        from settlement.services.payments import payment_refund_for_order

        payment_refund_for_order(order=order, amount=amount, reference=f"{order.number}-R{n}")
    notify.order_event(order=order, event="order.refunded", extra={"refunded_quantity": units, "refunded_amount": str(amount)})
    return order


@transaction.atomic
def order_code_replace(*, item: OrderItem, actor, reason: str) -> OrderItem:
    """After-sales: a delivered, unredeemed code is reported bad. It is voided and a new one delivered."""
    if not reason.strip():
        raise SettlementError(_("Say why the code is replaced."), field="reason")
    order = _locked(item.order)
    item = OrderItem.objects.select_for_update().select_related("code").get(pk=item.pk)
    if item.state != OrderItem.State.DELIVERED or item.code.status != CardCode.Status.SOLD:
        raise SettlementError(_("Only a delivered code that was not redeemed can be replaced."), field="item")
    new_ids = stock.codes_reserve(sku=order.sku, quantity=1, order_ref=order.number)
    stock.codes_void(ids=[item.code_id], order_ref=order.number, actor=actor, reason=reason)
    stock.codes_sell(ids=new_ids, sku=order.sku, order_ref=order.number, actor=actor)
    OrderItem.objects.filter(pk=item.pk).update(state=OrderItem.State.REPLACED, changed_at=timezone.now())
    new_item = OrderItem.objects.create(
        order=order, code_id=new_ids[0], state=OrderItem.State.DELIVERED, replaces=item, from_quota=item.from_quota
    )
    channel_services.code_sale_record(code_ids=new_ids, distributor=order.distributor, order_ref=order.number, unit_price=order.unit_price)
    cost = money(order.unit_cost)
    if cost > ZERO:  # one more code consumed from the supplier
        transfer_post(
            kind=Transfer.Kind.SALE,
            lines=[
                (platform_account(Account.Kind.COST_OF_GOODS, order.currency), -cost),
                (platform_account(Account.Kind.SUPPLIER_PAYABLE, order.currency), cost),
            ],
            reference=order.number,
            order=order,
            key=f"replace-cost:{new_item.pk}",
            memo=_("Replacement code"),
        )
    OrderEvent.objects.create(
        order=order,
        from_status=order.status,
        to_status=order.status,
        actor=_user(actor),
        note=_("Code replaced: %(reason)s") % {"reason": reason},
    )
    audit_record(actor=actor, action="order.code_replace", obj=order, reason=reason, data={"old": item.code.hint, "item": new_item.pk})
    if order.is_consumer:
        link = integrations.holding_link(code_ids=new_ids, contact=order.contact, order_ref=f"{order.number}-X{new_item.pk}")
        if link:
            transaction.on_commit(lambda: notify.consumer_codes_ready(order_id=order.pk, link=link))
    return new_item
