"""Orders priced by marketing's campaigns (issue 16): settlement's side of `marketing.services.offers`.

Placing: `order_offer_take` asks marketing for the campaign's permission and price inside the order's
transaction (after order_check_request and the risk check, before the order row is written); a signed-in
consumer's first order gets a live new-user price on its own. `order_offer_apply` writes the price, the
discount and who funds it on the order. Whatever fails after the take is undone with `offer_undo` (the
Redis gate's places; marketing's rows roll back with the transaction).

Lifecycle: settlement tells marketing when an order it priced is paid (`offer_paid`: True holds the
delivery, a group buy not full yet), ended unpaid (`offer_released`), refunded (`offer_refunded`), and asks
whether a late payment can still have its place (`offer_still_held`). An order is "told" when a campaign
priced it or a signed-in consumer placed it (a referral is recorded on a consumer's first paid order).

Money (see `discount_share`): the sale books revenue = total + the platform-funded discount; the
platform-funded part is debited to MARKETING_EXPENSE; a distributor-funded discount is the storefront
distributor's smaller retail margin (commission_shares: margin = total + platform discount - purchase).
A refund reverses the platform part in proportion to the refunded units.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import Sku
from marketing import selectors as marketing_selectors
from marketing.services import offers as marketing_offers
from marketing.services.offers import Offer, OfferRequest
from settlement.errors import SettlementError
from settlement.models import Order
from settlement.selectors import offers as offer_selectors
from voucherhub.core.money import ZERO, money

if TYPE_CHECKING:  # pragma: no cover
    from marketing.models import Consumer
    from settlement.services.orders import OrderRequest

S = Order.Status


def order_offer_take(
    request: OrderRequest, *, number: str, consumer: Consumer | None, offer_request: OfferRequest | None, ip: str = "", device: str = ""
) -> Offer | None:
    """The campaign(s) the buyer chose, taken and priced by marketing (in the caller's transaction), or None
    for an order no campaign prices. A signed-in consumer's first order without a campaign takes the SKU's
    live new-user price when there is one. Raises marketing's errors naming the field."""
    if request.sku.fulfilment == Sku.Fulfilment.TOPUP:
        if offer_request:
            raise SettlementError(_("Campaigns do not apply to direct top-ups."), field="campaign")
        return None
    if not offer_request and consumer is None:  # no campaign chosen and nobody to be a new user: the list price
        return None
    phone = consumer.phone if consumer is not None else ""
    first_order = offer_selectors.first_order(contact=phone or request.contact)
    if not offer_request and consumer is not None and first_order and request.channel == Order.Channel.STOREFRONT:
        campaign = marketing_selectors.campaign_new_user_for(storefront=request.storefront, sku=request.sku)
        if campaign is not None:
            offer_request = OfferRequest(campaign_id=campaign.pk)
    if not offer_request:
        return None
    return marketing_offers.offer_take(
        request=offer_request,
        order_ref=number,
        consumer=consumer,
        channel=str(request.channel),
        distributor=request.distributor,
        storefront=request.storefront,
        sku=request.sku,
        quantity=request.quantity,
        list_unit_price=request.price.unit_price,
        floor_unit_price=request.price.floor_unit_price,
        first_order=first_order,
        ip=ip or "",
        device=device or "",
    )


def order_offer_apply(order: Order, *, offer: Offer | None, consumer: Consumer | None) -> None:
    """Write the campaign's price on a new order (in memory, before its insert): the unit price and total
    marketing set, the list total, the discount split by who funds it, the campaign and its payment time,
    and a review hold when risk control sent the campaign action to review."""
    order.consumer = consumer
    order.list_total = money(order.unit_price * order.quantity)
    if offer is None:
        return
    order.list_total = money(offer.list_unit_price * order.quantity)
    order.promotion_id = offer.campaign_id
    order.unit_price = money(offer.unit_price)
    order.total = money(offer.total)
    order.discount = money(offer.discount)
    order.discount_platform = money(offer.expense_platform)
    order.discount_distributor = money(offer.expense_distributor)
    if offer.held_for_review:  # risk review of the campaign action holds the order as any review does
        order.hold = Order.Hold.REVIEW
    if offer.pay_minutes:
        order.expires_at = timezone.now() + timedelta(minutes=offer.pay_minutes)


def order_offer_undo(offer: Offer | None) -> None:
    """The order's transaction did not commit: marketing gives back what lives outside the database."""
    if offer is not None:
        marketing_offers.offer_undo(offer)


def _told(order: Order) -> bool:
    """Marketing hears about orders a campaign priced or a consumer placed; about a bundle's basket through its
    lead order only (the order_ref offer_take had)."""
    return (order.promotion_id is not None or order.consumer_id is not None) and order.basket in ("", order.number)


def order_offer_paid(order: Order) -> bool:
    """The order is paid: tell marketing. True: hold the delivery (a group not full yet)."""
    return bool(marketing_offers.offer_paid(order_ref=order.number)) if _told(order) else False


def order_offer_waits_for_group(order: Order) -> bool:
    """A paid group-buy order whose group is not full yet: its delivery waits for the group (also after risk
    review approved it)."""
    return bool(marketing_offers.offer_waits_for_group(order_ref=order.number)) if _told(order) else False


def order_offer_still_held(order: Order) -> bool:
    """A payment came after the order expired or was cancelled: may it still have its campaign's place?
    An order no campaign priced: yes (its codes are claimed again as before)."""
    if order.promotion_id is None:
        return True
    return bool(marketing_offers.offer_still_held(order_ref=order.number))


def order_offer_released(order: Order) -> None:
    """The order ended unpaid (expired, cancelled): its campaign places go back."""
    if _told(order):
        marketing_offers.offer_released(order_ref=order.number)


def order_offer_refunded(order: Order, *, amount: Decimal) -> None:
    """`amount` of the order was refunded (a bundle's component: told as the basket's, under the lead's number)."""
    if order.promotion_id is not None or order.consumer_id is not None:
        marketing_offers.offer_refunded(order_ref=order.basket or order.number, amount=amount)


def discount_share(order: Order, *, units_before: int, units_after: int) -> Decimal:
    """The platform-funded discount a refund reverses when the refunded units go from `units_before` to
    `units_after`: in proportion to the units, the whole of it once every unit is refunded (the cumulative
    share is rounded once per step, so the steps add up to the discount exactly)."""

    def cumulative(units: int) -> Decimal:
        if units >= order.quantity:
            return order.discount_platform
        return money(order.discount_platform * units / order.quantity)

    if order.discount_platform <= ZERO:
        return ZERO
    return cumulative(units_after) - cumulative(units_before)
