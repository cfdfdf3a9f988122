"""Free codes of a targeted issuance (marketing's `signals.free_codes_wanted`): a zero-price order per recipient.

Marketing has taken the campaign's budget for the code's list price and asks, after its batch commits, for
the order. Settlement places it like any storefront order of the campaign's storefront (risk-checked, codes
claimed, the contact is the recipient's phone), then makes it free and pays it at once, the paid event naming
the campaign. The recipient gets one SMS: marketing's notice naming the gift and leading to /me/, where the
order and its private code page are (settlement sends no link of its own for a targeted campaign's order):

* money: the sale is booked at the list price as usual, paid in full by the platform's MARKETING_EXPENSE
  account (the order's `discount_platform` is its whole list total, the buyer pays 0). The storefront
  distributor's margin and the uplines' commission follow from the list price as for a sale; the codes'
  cost is booked as for any sale. A refund reverses the expense in proportion (services/offers.py).
* idempotent per recipient: the order's idempotency key is "giveaway:<recipient id>", so asking again (a
  worker that died before the answer) returns the same order and books nothing twice.
* the answer goes back to marketing with `issuance.recipient_order_set`: the order number, or the reason it
  could not be placed (out of stock, blocked by a risk rule, the SKU not listed): marketing then fails the
  recipient and gives its budget back.
"""

import logging
import secrets

from django.db import transaction
from django.utils.translation import gettext as _

from catalog.models import Sku
from marketing.models import Campaign
from marketing.services.issuance import recipient_order_set
from settlement.adapters import adapters_enabled
from settlement.errors import SettlementError
from settlement.models import Order
from settlement.services import orders
from voucherhub.core.errors import DomainError
from voucherhub.core.money import ZERO, money

logger = logging.getLogger(__name__)


def giveaway_key(recipient_id: int) -> str:
    return f"giveaway:{recipient_id}"


def _made_free(order: Order, *, campaign: Campaign) -> Order:
    """A pending order of the giveaway becomes free: its whole list total is a platform-funded discount.
    Expects the order's row lock (order_pay takes it again)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != Order.Status.PENDING or order.total == ZERO:
        return order
    list_total = money(order.unit_price * order.quantity)
    order.list_total = list_total
    order.discount = list_total
    order.discount_platform = list_total
    order.discount_distributor = ZERO
    order.unit_price = ZERO
    order.total = ZERO
    order.promotion = campaign
    order.save(update_fields=["list_total", "discount", "discount_platform", "discount_distributor", "unit_price", "total", "promotion"])
    return order


@transaction.atomic
def giveaway_place(*, campaign_id: int, issuance_recipient_id: int, sku_id: int, quantity: int, phone: str) -> Order:
    """The recipient's zero-price order, placed, paid by marketing expense and delivered (or the order placed
    before under the same recipient). Raises a DomainError naming the field."""
    campaign = Campaign.objects.select_related("storefront__distributor").get(pk=campaign_id)
    storefront = campaign.storefront
    if storefront is None:
        raise SettlementError(_("Free codes are given from the campaign's storefront: set one."), field="campaign")
    order = orders.order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=storefront.distributor,
        sku=Sku.objects.get(pk=sku_id),
        quantity=quantity,
        storefront=storefront,
        pay_method=next(iter(adapters_enabled())),
        contact=phone,
        lookup_password=secrets.token_urlsafe(12),  # the recipient opens the order through the link sent to the phone
        campaign=f"issuance:{campaign.pk}",
        idempotency_key=giveaway_key(issuance_recipient_id),
    )
    order = _made_free(order, campaign=campaign)
    return orders.order_pay(order=order, note=_("Free code of campaign %(campaign)s") % {"campaign": campaign.name})


def free_codes_wanted(sender=None, *, campaign_id, issuance_recipient_id, sku_id, quantity, phone, distributor_id=None, **kwargs):
    """The listener (settlement/apps.py): place the giveaway and answer marketing either way."""
    try:
        order = giveaway_place(
            campaign_id=campaign_id, issuance_recipient_id=issuance_recipient_id, sku_id=sku_id, quantity=quantity, phone=phone
        )
    except DomainError as exc:
        logger.warning("giveaway for issuance recipient %s refused: %s", issuance_recipient_id, exc.code)
        recipient_order_set(recipient_id=issuance_recipient_id, error=str(exc.message))
        return None
    recipient_order_set(recipient_id=issuance_recipient_id, order_ref=order.number)
    return order.number
