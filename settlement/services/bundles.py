"""Bundles (权益礼包, issue 16): one purchase of several SKUs at the bundle campaign's price.

A basket is one order per component (its SKU and quantity, unit price = the component's revenue share, its
own sale, cost and commission postings, so statements and exports split revenue and commission per
component), all sharing `Order.basket` = the lead order's number (the first component's). Every component's
codes are claimed in one transaction: one component out of stock and nothing is reserved. The buyer pays
once: the Payment points at the lead order and carries the basket's total; paying it pays every order of
the basket (`basket_pay`), and the codes are delivered together behind one private link. Expiry works per
order (they share one deadline); a refund of the basket refunds every order (`basket_refund`). Marketing
hears about the basket through the lead order (offer_take's order_ref).
"""

from dataclasses import replace
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from catalog.models import Sku
from channels import pricing as channel_pricing
from channels.models import Storefront
from marketing.models import BundleItem, Campaign
from marketing.services import offers as marketing_offers
from marketing.services.offers import Offer, OfferRequest
from settlement import integrations
from settlement.errors import SettlementError
from settlement.models import Order
from settlement.selectors import offers as offer_selectors
from settlement.selectors import orders as order_selectors
from settlement.services.orders import (
    OrderRequest,
    Price,
    _order_new,
    _order_open,
    _risk_check,
    buyer_check,
    order_number,
    order_pay,
    order_refund,
)
from voucherhub.core.money import ZERO, money

S = Order.Status


def _parts(campaign: Campaign) -> list[BundleItem]:
    if campaign.kind != Campaign.Kind.BUNDLE or campaign.price is None:
        raise SettlementError(_("This is not a bundle on sale."), field="campaign")
    parts = list(BundleItem.objects.filter(campaign=campaign).select_related("sku").order_by("pk"))
    if not parts:
        raise SettlementError(_("This bundle has no components."), field="campaign")
    if any(part.sku.fulfilment == Sku.Fulfilment.TOPUP for part in parts):
        raise SettlementError(_("A bundle holds codes only, not direct top-ups."), field="campaign")
    return parts


def _part_requests(parts, *, distributor, storefront: Storefront, pay_method: str, contact: str) -> list[OrderRequest]:
    """One order request per component: its revenue share as the unit price (the distributor's price and
    floor from channels, as any storefront sale)."""
    uplines = channel_pricing.upline_chain(distributor)
    requests = []
    for part in parts:
        quote = channel_pricing.price_quote(distributor=distributor, sku=part.sku, quantity=part.quantity)
        price = Price(unit_price=money(part.revenue_share), purchase_unit_price=money(quote.purchase_price),
                      floor_unit_price=money(quote.price_floor))  # fmt: skip
        requests.append(
            OrderRequest(
                channel=Order.Channel.STOREFRONT,
                distributor=distributor,
                sku=part.sku,
                quantity=part.quantity,
                price=price,
                total=money(price.unit_price * part.quantity),
                pay_method=pay_method,
                storefront=storefront,
                contact=contact,
                customer_ref="",
                uplines=uplines,
            )  # fmt: skip
        )
    return requests


def _split(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`amount` spread over `weights` in proportion, rounded, the last taking the remainder (they add up)."""
    whole = sum(weights, ZERO)
    if amount <= ZERO or whole <= ZERO:
        return [ZERO] * len(weights)
    shares = [money(amount * w / whole) for w in weights[:-1]]
    return [*shares, amount - sum(shares, ZERO)]


def _offer_take(requests, *, campaign, number, consumer, offer_request: OfferRequest, ip, device) -> Offer:
    """Marketing takes the bundle (its budget, a coupon on it) for the lead order: list = the bundle's price,
    floor = the components' floors."""
    floor = sum((r.price.floor_unit_price * r.quantity for r in requests), ZERO)
    return marketing_offers.offer_take(
        request=offer_request, order_ref=number, consumer=consumer, channel=Order.Channel.STOREFRONT, distributor=requests[0].distributor,
        storefront=requests[0].storefront, sku=campaign.sku, quantity=1, list_unit_price=money(campaign.price),
        floor_unit_price=money(floor), first_order=offer_selectors.first_order(contact=requests[0].contact), ip=ip or "", device=device,
    )  # fmt: skip


def _basket_write(requests, *, offer: Offer, campaign, lead: str, verdict, consumer, actor, ip, lookup_password, key) -> Order:
    """The basket's orders, written and their codes claimed (OutOfStock rolls back every one); the coupon's
    discount spread over the components in proportion to their list totals."""
    weights = [r.total for r in requests]
    discounts, platform = _split(money(offer.discount), weights), _split(money(offer.expense_platform), weights)
    orders = []
    for i, request in enumerate(requests):
        number = lead if i == 0 else order_number()
        order = _order_new(request, number=number, verdict=verdict, actor=actor, ip=ip, campaign="", referrer="",
                           lookup_password=lookup_password, idempotency_key=key if i == 0 else None)  # fmt: skip
        order.basket, order.promotion, order.consumer = lead, campaign, consumer
        if offer.held_for_review:  # the campaign order went to risk review: the basket is held as one
            order.hold = Order.Hold.REVIEW
        order.list_total = request.total
        order.discount, order.discount_platform = discounts[i], min(platform[i], discounts[i])
        order.discount_distributor = order.discount - order.discount_platform
        order.total = request.total - order.discount
        order.expires_at = orders[0].expires_at if orders else order.expires_at
        _order_open(order, request=request, actor=actor)
        orders.append(order)
    return orders[0]


def bundle_place(*, storefront: Storefront, campaign: Campaign, contact: str = "", lookup_password: str = "", pay_method=None,
                 consumer=None, offer_request: OfferRequest | None = None, idempotency_key: str | None = None, ip=None,
                 device: str = "", actor=None) -> Order:  # fmt: skip
    """Place a bundle's basket in one transaction (see the module); returns the lead order, which the buyer
    pays (payments.payment_for_order charges the basket's total). The basket under `idempotency_key` is
    returned again. Raises a DomainError naming the field (OutOfStock for a component: nothing reserved)."""
    offer_request = replace(offer_request or OfferRequest(), campaign_id=campaign.pk)
    verdict = offer = lead = None
    try:
        with transaction.atomic():
            existing = order_selectors.order_by_key(storefront.distributor, idempotency_key)
            if existing is not None:
                return existing
            parts = _parts(campaign)
            seller, pay_method, contact = buyer_check(channel=Order.Channel.STOREFRONT, distributor=storefront.distributor,
                                                      pay_method=pay_method, contact=contact, lookup_password=lookup_password,
                                                      consumer=consumer)  # fmt: skip
            requests = _part_requests(parts, distributor=seller, storefront=storefront, pay_method=pay_method, contact=contact)
            number = order_number()
            basket = replace(requests[0], total=money(campaign.price))
            verdict = _risk_check(basket, number=number, actor=actor, ip=ip, device=device, challenge_passed=False)
            if not (verdict.blocked or verdict.needs_challenge):
                offer = _offer_take(requests, campaign=campaign, number=number, consumer=consumer, offer_request=offer_request,
                                    ip=ip, device=device)  # fmt: skip
                lead = _basket_write(requests, offer=offer, campaign=campaign, lead=number, verdict=verdict, consumer=consumer,
                                     actor=actor, ip=ip, lookup_password=lookup_password, key=idempotency_key)  # fmt: skip
    except Exception as failure:
        if offer is not None:
            marketing_offers.offer_undo(offer)
        if verdict is not None:
            integrations.risk_undo(verdict)
        existing = order_selectors.order_by_key(storefront.distributor, idempotency_key) if isinstance(failure, IntegrityError) else None
        if existing is None:
            raise
        return existing
    verdict.raise_if_refused()
    return lead


def basket_orders(order: Order):
    """Every order of `order`'s basket (the lead first), or just the order when it is not in one."""
    if not order.basket:
        return Order.objects.filter(pk=order.pk)
    return Order.objects.filter(basket=order.basket).order_by("pk")


def basket_total(order: Order) -> Decimal:
    return sum((o.total for o in basket_orders(order)), ZERO)


@transaction.atomic
def basket_pay(*, lead: Order, actor=None, payment=None) -> Order:
    """The basket's one payment arrived: every order of it is paid (order_pay: delivered, or refunded when its
    codes are gone); the last one delivered sends one private link for all the basket's codes (orders._deliver)."""
    for order in basket_orders(lead):
        order_pay(order=order, actor=actor, payment=payment)
    return Order.objects.get(pk=lead.pk)


@transaction.atomic
def basket_refund(*, lead: Order, reason: str, actor=None) -> list[Order]:
    """Refund every order of the basket that can be (each in full, its unredeemed codes)."""
    done = []
    for order in basket_orders(lead):
        if order.status in (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED):
            done.append(order_refund(order=order, actor=actor, reason=reason))
    return done
