"""A campaign's results, as the results page, its auto-refresh and its XLSX export read them.

Definitions (docs/marketing.md, "Results"), all over the campaign's own rows:

* issued: coupons handed out (Coupon rows of the campaign, any status); a flash sale: places on offer (the slots'
  stock); other kinds: orders placed with the campaign (CampaignUse rows).
* claimed: coupons a consumer holds (claimed, used, or expired after a claim); a flash sale: places taken;
  other kinds: orders placed.
* used: orders paid with the campaign and not refunded (CampaignUse PAID).
* redemption rate: card codes of those orders that merchants redeemed / card codes sold to them (catalog's
  CardCode rows by order reference; a top-up has no code and counts in neither).
* cost: the discounts of those orders (the campaign's spend, whoever funds it).
* revenue: what buyers paid for those orders.
* cost of goods: the cost price of the card codes sold to those orders (Sku.cost_price).
* ROI: (revenue − cost of goods) / cost, revenue being what buyers paid (already net of the discount): the
  margin the campaign's orders earned per yuan of discount; none while the cost is zero.
* new-customer share: paid orders that were the buyer's first / paid orders.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from catalog.models import CardCode
from marketing.labels import channel_label
from marketing.models import Campaign, CampaignUse, Coupon, FlashSlot, GroupBuy, Referral
from voucherhub.core.money import money as to_money

ZERO = Decimal("0.00")
_COUPON_KINDS = {Campaign.Kind.COUPON, Campaign.Kind.REFERRAL, Campaign.Kind.TARGETED}
_SOLD = [CardCode.Status.SOLD, CardCode.Status.REDEEMED, CardCode.Status.EXPIRED]


@dataclass(frozen=True)
class Breakdown:
    """One row of the per-channel or per-distributor table (paid orders only)."""

    label: str
    orders: int
    quantity: int
    list_amount: Decimal
    discount: Decimal
    paid: Decimal
    new_customers: int

    @property
    def new_share(self) -> Decimal | None:
        return (Decimal(self.new_customers) / self.orders).quantize(Decimal("0.0001")) if self.orders else None


@dataclass(frozen=True)
class Results:
    campaign: Campaign
    issued: int
    claimed: int
    used: int
    placed: int
    released: int
    refunded: int
    codes_sold: int
    codes_redeemed: int
    cost: Decimal
    revenue: Decimal
    list_amount: Decimal
    cost_of_goods: Decimal
    new_customers: int
    budget_left: Decimal | int | None
    by_channel: list[Breakdown] = field(default_factory=list)
    by_distributor: list[Breakdown] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # per kind: groups, referrals, slots

    @property
    def redemption_rate(self) -> Decimal | None:
        return _ratio(self.codes_redeemed, self.codes_sold)

    @property
    def roi(self) -> Decimal | None:
        if not self.cost:
            return None
        return ((self.revenue - self.cost_of_goods) / self.cost).quantize(Decimal("0.0001"))

    @property
    def new_customer_share(self) -> Decimal | None:
        return _ratio(self.new_customers, self.used)


def _ratio(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else None


def _money(value) -> Decimal:
    return to_money(value if value is not None else 0)


_SUMS = {
    "orders": Count("pk"),
    "qty": Coalesce(Sum("quantity"), 0),
    "list_sum": Sum("list_amount"),
    "discount_sum": Sum("discount"),
    "paid_sum": Sum("paid_amount"),
    "new": Count("pk", filter=Q(new_customer=True)),
}


def _breakdown(label: str, row: dict) -> Breakdown:
    return Breakdown(
        label=label,
        orders=row["orders"],
        quantity=row["qty"],
        list_amount=_money(row["list_sum"]),
        discount=_money(row["discount_sum"]),
        paid=_money(row["paid_sum"]),
        new_customers=row["new"],
    )


def _breakdowns(paid, platform_label: str) -> tuple[list[Breakdown], list[Breakdown]]:
    by_channel = [_breakdown(channel_label(row["channel"]), row) for row in paid.values("channel").annotate(**_SUMS).order_by("channel")]
    rows = paid.values("distributor_id", "distributor__name").annotate(**_SUMS).order_by("-paid_sum", "distributor__name")
    by_distributor = [_breakdown(row["distributor__name"] or platform_label, row) for row in rows]
    return by_channel, by_distributor


def _codes(order_refs) -> tuple[int, int, Decimal]:
    """Codes sold to these orders, those redeemed, and their cost price."""
    codes = CardCode.objects.filter(order_ref__in=order_refs, status__in=_SOLD)
    row = codes.aggregate(sold=Count("pk"), redeemed=Count("pk", filter=Q(status=CardCode.Status.REDEEMED)), cogs=Sum("sku__cost_price"))
    return row["sold"], row["redeemed"], _money(row["cogs"])


def _issued_claimed(campaign: Campaign, placed: int) -> tuple[int, int]:
    if campaign.kind in _COUPON_KINDS:
        coupons = Coupon.objects.filter(campaign=campaign)
        return coupons.count(), coupons.filter(consumer__isnull=False).count()
    if campaign.kind == Campaign.Kind.FLASH_SALE:
        row = FlashSlot.objects.filter(campaign=campaign).aggregate(stock=Sum("stock"), taken=Sum("taken"))
        return row["stock"] or 0, row["taken"] or 0
    return placed, placed


def _extra(campaign: Campaign) -> dict:
    """Per kind: a group buy's groups by status, a referral campaign's referrals by status, a flash sale's slots."""
    if campaign.kind == Campaign.Kind.GROUP_BUY:
        counts = dict(GroupBuy.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("pk")))
        return {"groups": [(label, counts.get(value, 0)) for value, label in GroupBuy.Status.choices]}
    if campaign.kind == Campaign.Kind.REFERRAL:
        counts = dict(Referral.objects.filter(link__campaign=campaign).values_list("status").annotate(n=Count("pk")))
        return {"referrals": [(label, counts.get(value, 0)) for value, label in Referral.Status.choices]}
    if campaign.kind == Campaign.Kind.FLASH_SALE:
        return {"slots": list(FlashSlot.objects.filter(campaign=campaign).order_by("starts_at"))}
    return {}


def _budget_left(campaign: Campaign):
    if campaign.budget_kind == Campaign.BudgetKind.MONEY and campaign.budget_amount is not None:
        return to_money(campaign.budget_amount - campaign.spent_amount)
    if campaign.budget_kind == Campaign.BudgetKind.COUNT and campaign.budget_count is not None:
        return campaign.budget_count - campaign.spent_count
    return None


def campaign_results(*, campaign: Campaign, platform_label: str = "—") -> Results:
    """Every number of the campaign's results page (see the module's definitions)."""
    uses = CampaignUse.objects.filter(campaign=campaign)
    statuses = dict(uses.values_list("status").annotate(n=Count("pk")))
    paid = uses.filter(status=CampaignUse.Status.PAID)
    totals = paid.aggregate(**_SUMS)
    placed = sum(statuses.values())
    issued, claimed = _issued_claimed(campaign, placed)
    sold, redeemed, cogs = _codes(paid.values("order_ref"))
    by_channel, by_distributor = _breakdowns(paid, platform_label)
    return Results(
        campaign=campaign,
        issued=issued,
        claimed=claimed,
        used=totals["orders"],
        placed=placed,
        released=statuses.get(CampaignUse.Status.RELEASED, 0),
        refunded=statuses.get(CampaignUse.Status.REFUNDED, 0),
        codes_sold=sold,
        codes_redeemed=redeemed,
        cost=_money(totals["discount_sum"]),
        revenue=_money(totals["paid_sum"]),
        list_amount=_money(totals["list_sum"]),
        cost_of_goods=cogs,
        new_customers=totals["new"],
        budget_left=_budget_left(campaign),
        by_channel=by_channel,
        by_distributor=by_distributor,
        extra=_extra(campaign),
    )
