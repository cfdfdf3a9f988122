"""The preview ops (and a distributor) see before a campaign goes live: its card as the storefront shows it and its
effect on the price: list price → campaign price, the discount, the price floor it must keep, and for how many
orders the budget lasts. A read: nothing is written.

The list price is the storefront's retail price of the SKU (the campaign's storefront, or the distributor's), else
the distributor's suggested retail price, else the SKU's face value. The floor is the distributor's price floor
(channels' price_quote) on a distributor-funded campaign; a platform-funded one is compared with the SKU's cost
price instead (a warning: the platform may sell below cost on purpose)."""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.utils.translation import gettext_lazy as _

from catalog.models import Sku
from channels.models import StorefrontItem
from channels.pricing import price_quote
from marketing.models import Campaign
from voucherhub.core.errors import DomainError
from voucherhub.core.money import money

EXAMPLE_AMOUNT = Decimal("100.00")  # a coupon's example order when no SKU or minimum spend says otherwise


@dataclass(frozen=True)
class Preview:
    sku: Sku | None
    list_price: Decimal | None
    campaign_price: Decimal | None
    discount: Decimal | None
    floor: Decimal | None
    floor_label: str
    below_floor: bool
    budget_orders: int | None
    note: str = ""

    @property
    def discount_rate(self) -> Decimal | None:
        if not self.list_price or self.discount is None:
            return None
        return (self.discount / self.list_price).quantize(Decimal("0.0001"))


def _list_price(campaign: Campaign, sku: Sku) -> Decimal:
    storefront_id = campaign.storefront_id or getattr(getattr(campaign.distributor, "storefront", None), "pk", None)
    if storefront_id:
        item = StorefrontItem.objects.filter(storefront_id=storefront_id, sku=sku).first()
        if item is not None:
            return item.retail_price
    if campaign.distributor_id:
        try:
            return price_quote(distributor=campaign.distributor, sku=sku).suggested_retail
        except DomainError:
            pass
    return sku.face_value


def _floor(campaign: Campaign, sku: Sku) -> tuple[Decimal | None, str]:
    if campaign.funding == Campaign.Funding.DISTRIBUTOR and campaign.distributor_id:
        try:
            return price_quote(distributor=campaign.distributor, sku=sku).price_floor, str(_("distributor's price floor"))
        except DomainError:
            return None, str(_("distributor's price floor"))
    return sku.cost_price, str(_("cost price"))


def coupon_discount_on(campaign: Campaign, amount: Decimal) -> Decimal:
    """The coupon's discount on an order of `amount` (zero under the minimum spend): a fixed amount, or a rate
    capped by the discount cap; never more than the order."""
    if campaign.min_spend and amount < campaign.min_spend:
        return Decimal("0.00")
    if campaign.discount_kind == Campaign.DiscountKind.PERCENT and campaign.discount_percent is not None:
        off = money(amount * campaign.discount_percent)
        if campaign.discount_cap is not None:
            off = min(off, campaign.discount_cap)
    else:
        off = campaign.discount_amount or Decimal("0.00")
    return money(min(off, amount))


def _budget_orders(campaign: Campaign, discount: Decimal | None) -> int | None:
    if campaign.budget_kind == Campaign.BudgetKind.COUNT and campaign.budget_count is not None:
        return campaign.budget_count
    if campaign.budget_kind == Campaign.BudgetKind.MONEY and campaign.budget_amount is not None and discount:
        return int((campaign.budget_amount / discount).to_integral_value(rounding=ROUND_DOWN))
    return None


def _coupon_preview(campaign: Campaign, sku: Sku | None) -> Preview:
    coupon_of = campaign.reward_campaign if campaign.kind == Campaign.Kind.REFERRAL and campaign.reward_campaign_id else campaign
    list_price = _list_price(campaign, sku) if sku else None
    amount = max(list_price or EXAMPLE_AMOUNT, coupon_of.min_spend or Decimal("0.00"))
    discount = coupon_discount_on(coupon_of, amount)
    floor, label = _floor(campaign, sku) if sku else (None, "")
    paid = money(amount - discount)
    return Preview(
        sku=sku,
        list_price=amount,
        campaign_price=paid,
        discount=discount,
        floor=floor,
        floor_label=label,
        below_floor=floor is not None and paid < floor,
        budget_orders=_budget_orders(campaign, discount),
        note=str(_("An example order of the first applicable SKU (or ¥100.00), at least the minimum spend.")),
    )


def campaign_preview(*, campaign: Campaign, components: list[tuple[Sku, int]] = ()) -> Preview:
    """The price effect of `campaign` (saved or not); `components` are a bundle's (SKU, quantity) pairs."""
    if campaign.kind in (Campaign.Kind.COUPON, Campaign.Kind.TARGETED, Campaign.Kind.REFERRAL):
        sku_ids = campaign.sku_ids or []
        sku = Sku.objects.filter(pk__in=sku_ids).order_by("code").first() if sku_ids else None
        return _coupon_preview(campaign, sku)
    if campaign.kind == Campaign.Kind.BUNDLE:
        list_price = money(sum((_list_price(campaign, sku) * qty for sku, qty in components), Decimal("0.00")))
        floor = money(sum(((_floor(campaign, sku)[0] or 0) * qty for sku, qty in components), Decimal("0.00")))
        price = campaign.price
        discount = money(list_price - price) if price is not None else None
        return Preview(
            sku=None,
            list_price=list_price,
            campaign_price=price,
            discount=discount,
            floor=floor if components else None,
            floor_label=str(_("cost price")),
            below_floor=bool(components) and price is not None and price < floor,
            budget_orders=_budget_orders(campaign, discount),
        )
    sku = campaign.sku if campaign.sku_id else None
    if sku is None:
        return Preview(None, None, campaign.price, None, None, "", False, None, str(_("Pick a SKU to see the price effect.")))
    list_price = _list_price(campaign, sku)
    price = campaign.price
    discount = money(list_price - price) if price is not None else None
    floor, label = _floor(campaign, sku)
    return Preview(
        sku=sku,
        list_price=list_price,
        campaign_price=price,
        discount=discount,
        floor=floor,
        floor_label=label,
        below_floor=floor is not None and price is not None and price < floor,
        budget_orders=_budget_orders(campaign, discount),
    )
