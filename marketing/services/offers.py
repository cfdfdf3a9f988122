"""What settlement asks marketing when it prices and places an order, and tells it as the order moves.

CONTRACT (issue 16; wt-offers implements the functions, the dataclasses are shared by every branch).

Settlement (above marketing) calls, inside its order transaction:

* `offer_take(...) -> Offer`: check the campaign(s) the buyer chose, take their places (flash-sale stock,
  a group seat, a coupon, budget) by writing marketing's rows, and price the order. Raises a marketing
  error naming the field ("campaign", "coupon", "group", "quantity", "consumer").
* `offer_undo(offer)`: the order's transaction rolled back after offer_take: give back what lives outside
  the database (the flash-sale gate's places in Redis). Safe to call twice.
* `offer_paid(order_ref=...) -> bool`: the order is paid. Returns True when its delivery must wait (a
  group buy whose group is not full yet); the group's completion is sent as `signals.group_completed`.
* `offer_still_held(order_ref=...) -> bool`: a payment arrived after the order expired: True only when
  the campaign's place can still be had; False means settlement refunds the payment (never oversold).
* `offer_released(order_ref=...)`: the order ended unpaid (expired, cancelled): give its places back.
* `offer_refunded(order_ref=..., amount=...)`: the order was refunded (all of it, or `amount` of it).
"""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class OfferRequest:
    """What the buyer chose at checkout."""

    campaign_id: int | None = None  # a flash sale, new-user price, group buy or bundle campaign
    coupon_codes: tuple[str, ...] = ()  # coupons entered or picked (one, unless the coupons stack)
    group_token: str = ""  # join this group; empty with a group-buy campaign: open a new group
    referral_token: str = ""  # the share link the buyer came through (referral campaigns)

    def __bool__(self) -> bool:
        return bool(self.campaign_id or self.coupon_codes or self.group_token or self.referral_token)


@dataclass(frozen=True)
class BundlePart:
    """One component of a bundle order: `quantity` units of SKU `sku_id` per bundle, carrying
    `revenue_share` of the bundle price per unit."""

    sku_id: int
    quantity: int
    revenue_share: Decimal


@dataclass(frozen=True)
class Offer:
    """An order as the campaigns priced it. Money is Decimal with two places.

    total = unit_price * quantity - coupon discount, never below zero and never below the distributor's
    floor on a distributor-funded campaign; discount = list total - total = expense_platform +
    expense_distributor (who funds the discount: the platform's marketing expense account, or the
    storefront distributor's margin)."""

    order_ref: str
    campaign_ids: tuple[int, ...]  # every campaign that priced the order, the main one first
    list_unit_price: Decimal
    unit_price: Decimal
    total: Decimal
    discount: Decimal
    expense_platform: Decimal
    expense_distributor: Decimal
    hold_delivery: bool = False  # a group buy: delivered only when the group completes
    pay_minutes: int | None = None  # the campaign's own payment timeout (flash sale); None: the order's usual
    components: tuple[BundlePart, ...] = ()  # a bundle's parts; empty otherwise
    gate_places: tuple[str, ...] = field(default=(), repr=False)  # what offer_undo gives back to the Redis gate
    risk_decisions: tuple = field(default=(), repr=False)  # risk counters offer_undo gives back (risk_release)

    @property
    def campaign_id(self) -> int | None:
        return self.campaign_ids[0] if self.campaign_ids else None

    @property
    def list_total(self) -> Decimal:
        return self.total + self.discount

    @property
    def held_for_review(self) -> bool:
        """Risk control sent the order's campaign action (the campaign order, a group join) to review: the order
        is held like any order under review (its event's reference is the order, so the decision reaches it)."""
        return any(getattr(decision, "held_for_review", False) for decision in self.risk_decisions)


# --- The functions settlement calls ------------------------------------------------------------------------
# (Imported below the dataclasses: the kind-specific modules import these dataclasses back.)

import logging  # noqa: E402

from django.core.cache import cache  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.translation import gettext  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402

from catalog.models import Sku  # noqa: E402
from marketing.errors import CampaignError, LimitReached, SignInRequired  # noqa: E402
from marketing.models import BundleItem, Campaign, CampaignUse, Consumer, Coupon, GroupBuy, GroupMember  # noqa: E402
from marketing.services import coupons as coupon_services  # noqa: E402
from marketing.services import flash, groups, referral  # noqa: E402
from marketing.services.campaigns import campaign_budget_give_back, campaign_budget_take, campaign_live_check  # noqa: E402
from riskcontrol.models import Action  # noqa: E402
from riskcontrol.services import RiskContext, risk_evaluate, risk_release  # noqa: E402
from voucherhub.core.money import ZERO, money  # noqa: E402
from voucherhub.core.templatetags.vh_format import money_text  # noqa: E402

logger = logging.getLogger(__name__)

Kind = Campaign.Kind
# Kinds whose rule counts per consumer: the buyer must be signed in.
CONSUMER_KINDS = {Kind.FLASH_SALE, Kind.NEW_USER, Kind.GROUP_BUY}
# Kinds chosen as the order's main campaign (coupons, referral and targeted campaigns come in other ways).
ORDER_KINDS = {Kind.FLASH_SALE, Kind.NEW_USER, Kind.GROUP_BUY, Kind.BUNDLE}
# How long offer_undo remembers an order it undid (a retry of the same failed order comes within seconds).
UNDO_MARK_SECONDS = 24 * 3600


@dataclass
class _Taking:
    """What an offer took outside the database so far: given back if the offer fails half-way."""

    gate_places: tuple[str, ...] = ()
    risk_decisions: list = field(default_factory=list)

    def undo(self) -> None:
        if self.gate_places:
            flash.flash_give_back(self.gate_places)
            self.gate_places = ()
        for decision in self.risk_decisions:
            risk_release(decision=decision)
        self.risk_decisions = []


@dataclass
class _Priced:
    """The order's main campaign as priced: its unit price and what it asks of the order."""

    campaign: Campaign
    unit_price: Decimal
    list_unit_price: Decimal
    hold_delivery: bool = False
    pay_minutes: int | None = None
    components: tuple[BundlePart, ...] = ()


@dataclass
class _Order:
    """The facts of the order being priced (what settlement passed to offer_take)."""

    order_ref: str
    consumer: Consumer | None
    channel: str
    distributor: object
    storefront: object
    sku: object
    quantity: int
    list_unit_price: Decimal
    floor_unit_price: Decimal
    first_order: bool
    ip: str
    device: str


def offer_take(*, request: OfferRequest, order_ref: str, consumer: Consumer | None, channel: str, distributor, storefront,
               sku, quantity: int, list_unit_price: Decimal, floor_unit_price: Decimal, first_order: bool,
               ip: str = "", device: str = "") -> Offer:  # fmt: skip
    """Check and take what the buyer's campaign and coupons need, write the campaign uses, and price the order.

    Runs inside the caller's transaction (in a savepoint: a refusal leaves nothing written). Places held
    outside the database (the flash-sale gate, risk counters) are given back here when it fails, and by
    `offer_undo` when the caller's transaction fails afterwards."""
    if quantity < 1:
        raise CampaignError(_("Order at least one."), field="quantity")
    order = _Order(
        order_ref=order_ref, consumer=consumer, channel=channel, distributor=distributor, storefront=storefront, sku=sku,
        quantity=quantity, list_unit_price=money(list_unit_price), floor_unit_price=money(floor_unit_price or 0),
        first_order=first_order, ip=ip or "", device=device or "",
    )  # fmt: skip
    taking = _Taking()
    try:
        with transaction.atomic():
            return _offer_build(request=request, order=order, taking=taking)
    except BaseException:
        taking.undo()
        raise


def _offer_build(*, request: OfferRequest, order: _Order, taking: _Taking) -> Offer:
    campaign = _main_campaign(request=request, order=order)
    if campaign is not None or request.coupon_codes:
        taking.risk_decisions.append(_risk_order(order=order, campaign=campaign))
    priced = _price_main(campaign=campaign, request=request, order=order, taking=taking) if campaign else None
    unit_price = priced.unit_price if priced else order.list_unit_price
    list_unit = priced.list_unit_price if priced else order.list_unit_price
    list_total = money(list_unit * order.quantity)
    total = money(unit_price * order.quantity)
    expense = {Campaign.Funding.PLATFORM: ZERO, Campaign.Funding.DISTRIBUTOR: ZERO}
    uses: dict[int, dict] = {}
    if priced is not None:
        main_discount = list_total - total
        campaign_budget_take(campaign=campaign, amount=main_discount, count=order.quantity)
        expense[campaign.funding] += main_discount
        uses[campaign.pk] = {"campaign": campaign, "discount": main_discount, "coupon": None}
    components = priced.components if priced else ()
    total = _coupons_take(request=request, order=order, components=components, total=total, expense=expense, uses=uses)
    _uses_write(order=order, uses=uses, list_total=list_total, total=total)
    if request.referral_token and order.consumer is not None:
        referral.referral_record(
            token=request.referral_token, friend=order.consumer, order_ref=order.order_ref, first_order=order.first_order,
            ip=order.ip, device=order.device, channel=order.channel, distributor=order.distributor,
            quantity=order.quantity, list_amount=list_total, paid_amount=total,
        )  # fmt: skip
    return Offer(
        order_ref=order.order_ref,
        campaign_ids=tuple(uses),
        list_unit_price=list_unit,
        unit_price=unit_price,
        total=total,
        discount=list_total - total,
        expense_platform=expense[Campaign.Funding.PLATFORM],
        expense_distributor=expense[Campaign.Funding.DISTRIBUTOR],
        hold_delivery=priced.hold_delivery if priced else False,
        pay_minutes=priced.pay_minutes if priced else None,
        components=priced.components if priced else (),
        gate_places=taking.gate_places,
        risk_decisions=tuple(taking.risk_decisions),
    )


def _main_campaign(*, request: OfferRequest, order: _Order) -> Campaign | None:
    """The campaign the buyer chose (or the group's campaign when only a group link was followed), live in
    this shop and of a kind an order is placed under."""
    campaign_id = request.campaign_id
    if not campaign_id and request.group_token:
        campaign_id = GroupBuy.objects.filter(token=request.group_token).values_list("campaign_id", flat=True).first()
        if campaign_id is None:
            raise CampaignError(_("This group link is not valid."), field="group")
    if not campaign_id:
        return None
    campaign = Campaign.objects.select_related("sku").filter(pk=campaign_id).first()
    if campaign is None:
        raise CampaignError(_("This campaign does not exist."), field="campaign")
    campaign_live_check(campaign=campaign, storefront=order.storefront)
    if campaign.kind not in ORDER_KINDS:
        raise CampaignError(_("This campaign gives coupons, not a price; use its coupon at checkout."), field="campaign")
    if campaign.kind in CONSUMER_KINDS and order.consumer is None:
        raise SignInRequired(field="consumer")
    if campaign.kind != Kind.BUNDLE and campaign.sku_id != getattr(order.sku, "pk", None):
        raise CampaignError(_("This campaign is for another product."), field="campaign")
    return campaign


def _risk_order(*, order: _Order, campaign: Campaign | None):
    consumer = order.consumer
    decision = risk_evaluate(
        ctx=RiskContext(
            action=Action.CAMPAIGN_ORDER, reference=order.order_ref, channel=order.channel,
            sku_id=getattr(order.sku, "pk", None), quantity=order.quantity,
            amount=money(order.list_unit_price * order.quantity), ip=order.ip, device=order.device,
            account_id=consumer.pk if consumer else None, phone=consumer.phone if consumer else "",
            distributor_id=getattr(order.distributor, "pk", None), storefront_id=getattr(order.storefront, "pk", None),
            extra={"campaign": campaign.pk} if campaign else {},
        )
    )  # fmt: skip
    decision.raise_if_refused()
    return decision


def _price_main(*, campaign: Campaign, request: OfferRequest, order: _Order, taking: _Taking) -> _Priced:
    """Dispatch by kind: take the kind's place and say the price. A campaign never makes an order dearer
    than its list price, except a bundle, which is sold at its own price."""
    price = money(campaign.price)
    priced = _Priced(campaign=campaign, unit_price=min(price, order.list_unit_price), list_unit_price=order.list_unit_price)
    if campaign.kind == Kind.BUNDLE:
        parts = tuple(
            BundlePart(sku_id=item.sku_id, quantity=item.quantity, revenue_share=item.revenue_share)
            for item in BundleItem.objects.filter(campaign=campaign).order_by("pk")
        )
        if not parts:
            raise CampaignError(_("This bundle has no components."), field="campaign")
        return _Priced(campaign=campaign, unit_price=price, list_unit_price=max(price, order.list_unit_price), components=parts)
    if campaign.funding == Campaign.Funding.DISTRIBUTOR and priced.unit_price < order.floor_unit_price:
        raise CampaignError(_("This offer's price is below the shop's price floor."), field="campaign")
    if order.quantity > campaign.per_consumer_limit:
        raise LimitReached(_("At most %(limit)s per consumer in this campaign.") % {"limit": campaign.per_consumer_limit}, field="quantity")
    if campaign.kind == Kind.FLASH_SALE:
        take = flash.flash_take(campaign=campaign, consumer=order.consumer, quantity=order.quantity, order_ref=order.order_ref)
        taking.gate_places = tuple(take.gate_places)
        priced.pay_minutes = take.pay_minutes
    elif campaign.kind == Kind.GROUP_BUY:
        member = groups.group_take(
            campaign=campaign, consumer=order.consumer, group_token=request.group_token, order_ref=order.order_ref,
            ip=order.ip, device=order.device,
        )  # fmt: skip
        taking.risk_decisions.append(member.risk_decision)  # the "group_join" counters, given back if the order fails
        priced.hold_delivery = True
    elif campaign.kind == Kind.NEW_USER:
        _new_user_check(campaign=campaign, order=order)
    return priced


def _new_user_check(*, campaign: Campaign, order: _Order) -> None:
    """The new-user price is for a consumer's first paid order, once: not while another order of theirs at
    this price waits for payment (the consumer's row lock makes that exact)."""
    if not order.first_order:
        raise CampaignError(_("This price is only for a first order."), field="campaign")
    Consumer.objects.select_for_update().get(pk=order.consumer.pk)
    taken = CampaignUse.objects.filter(
        campaign=campaign, consumer=order.consumer, status__in=[CampaignUse.Status.PLACED, CampaignUse.Status.PAID]
    )
    if taken.exists():
        raise LimitReached(_("You already have an order at this price."), field="campaign")


def _coupons_take(*, request: OfferRequest, order: _Order, components, total: Decimal, expense: dict, uses: dict) -> Decimal:
    """Use the order's coupons one after the other on what is left to pay; a distributor-funded coupon never
    takes the order below the distributor's floor. On a bundle (`components`) a coupon applies when it has no
    SKU or category rule or every component matches it. Returns the total after coupons."""
    if not request.coupon_codes:
        return total
    if order.consumer is None:
        raise SignInRequired(field="consumer")
    skus = [order.sku] if order.sku is not None else []
    if components:
        skus = list(Sku.objects.select_related("product").filter(pk__in=[part.sku_id for part in components]))
    if not skus:
        raise CampaignError(_("A coupon applies to a product."), field="coupon")
    coupons = coupon_services.coupons_lock(codes=request.coupon_codes, consumer=order.consumer)
    coupon_services.coupons_stack_check(coupons)
    floor_total = money(order.floor_unit_price * order.quantity)
    for coupon in coupons:
        funded_by_distributor = coupon.campaign.funding == Campaign.Funding.DISTRIBUTOR
        coupon_services.coupon_use(
            coupon=coupon, consumer=order.consumer, skus=skus, amount=total, order_ref=order.order_ref,
            storefront=order.storefront, most=total - floor_total if funded_by_distributor else None,
        )  # fmt: skip
        total -= coupon.discount
        expense[coupon.campaign.funding] += coupon.discount
        use = uses.setdefault(coupon.campaign_id, {"campaign": coupon.campaign, "discount": ZERO, "coupon": coupon})
        use["discount"] += coupon.discount
    return total


def _uses_write(*, order: _Order, uses: dict, list_total: Decimal, total: Decimal) -> None:
    CampaignUse.objects.bulk_create(
        [
            CampaignUse(
                campaign=use["campaign"], order_ref=order.order_ref, consumer=order.consumer, coupon=use["coupon"],
                channel=order.channel, distributor=order.distributor, quantity=order.quantity, list_amount=list_total,
                discount=use["discount"], paid_amount=total, new_customer=order.first_order,
            )
            for use in uses.values()
        ]
    )  # fmt: skip


def offer_undo(offer: Offer) -> None:
    """The caller's transaction rolled back after offer_take: give back the flash-sale gate's places and the
    risk counters (the rows went with the rollback). Safe to call twice: a second call for the same order
    finds its mark in the cache (shared by every node) and gives nothing back again."""
    if not cache.add(f"marketing:offer-undone:{offer.order_ref}", 1, timeout=UNDO_MARK_SECONDS):
        return
    if offer.gate_places:
        flash.flash_give_back(offer.gate_places)
    for decision in offer.risk_decisions:
        risk_release(decision=decision)


def _uses(order_ref: str, *statuses):
    return list(
        CampaignUse.objects.select_for_update(of=("self",)).select_related("campaign")
        .filter(order_ref=order_ref, status__in=statuses).order_by("pk")
    )  # fmt: skip


@transaction.atomic
def offer_paid(*, order_ref: str) -> bool:
    """The order is paid: its campaign uses become PAID, a flash-sale place is sold, a group seat paid, a
    referral starts its refund window. Returns True while delivery must wait for the group to fill.
    A replay changes nothing and answers the same."""
    now = timezone.now()
    hold = False
    for use in _uses(order_ref, CampaignUse.Status.PLACED):
        use.status, use.paid_at = CampaignUse.Status.PAID, now
        use.save(update_fields=["status", "paid_at"])
        kind = use.campaign.kind
        if kind == Kind.FLASH_SALE:
            flash.flash_paid(order_ref=order_ref)
        elif kind == Kind.GROUP_BUY:
            hold = bool(groups.group_paid(order_ref=order_ref)) or hold
        elif kind == Kind.REFERRAL:
            referral.referral_paid(order_ref=order_ref, now=now)
    # A replay (or a second use of the order): the seat still waits in an open group.
    return hold or offer_waits_for_group(order_ref=order_ref)


def offer_waits_for_group(*, order_ref: str) -> bool:
    """True while the order's paid group-buy seat waits in a group that is not full yet (its delivery waits too)."""
    return GroupMember.objects.filter(order_ref=order_ref, status=GroupMember.Status.PAID, group__status=GroupBuy.Status.OPEN).exists()


def offer_still_held(*, order_ref: str) -> bool:
    """A payment came for an order past its time: True only when everything its campaigns took is still
    held for it (the flash-sale reservation not yet released, the group seat, the coupons); False means
    the payment is refunded and nothing is oversold."""
    uses = list(CampaignUse.objects.select_related("campaign").filter(order_ref=order_ref))
    for use in uses:
        if use.status == CampaignUse.Status.RELEASED:
            return False
        kind = use.campaign.kind
        if kind == Kind.FLASH_SALE and not flash.flash_still_held(order_ref=order_ref):
            return False
        if (
            kind == Kind.GROUP_BUY
            and not GroupMember.objects.filter(
                order_ref=order_ref, status=GroupMember.Status.JOINED, group__status=GroupBuy.Status.OPEN
            ).exists()
        ):
            return False
    expected = sum(1 for use in uses if use.coupon_id)
    if expected and not Coupon.objects.filter(order_ref=order_ref, status=Coupon.Status.USED).exists():
        return False
    return True


@transaction.atomic
def offer_released(*, order_ref: str) -> None:
    """The order ended unpaid: uses become RELEASED, the campaign budget, the coupons, the flash-sale place and
    the group seat go back, a provisional referral is dropped. Safe to call twice."""
    uses = _uses(order_ref, CampaignUse.Status.PLACED)
    for use in uses:
        use.status = CampaignUse.Status.RELEASED
        use.save(update_fields=["status"])
        kind = use.campaign.kind
        if use.coupon_id is None and kind in ORDER_KINDS:
            campaign_budget_give_back(campaign=use.campaign, amount=use.discount, count=use.quantity)
        if kind == Kind.FLASH_SALE:
            flash.flash_released(order_ref=order_ref)
        elif kind == Kind.GROUP_BUY:
            groups.group_released(order_ref=order_ref)
        elif kind == Kind.REFERRAL:
            referral.referral_released(order_ref=order_ref)
    if uses:
        coupon_services.coupon_give_back(order_ref=order_ref)


@transaction.atomic
def offer_refunded(*, order_ref: str, amount: Decimal) -> None:
    """The order was refunded, all of it or `amount` of it. The campaigns get back the same share of the
    discount they gave (the rest on the last refund; the count with the full refund); a use refunded in
    full becomes REFUNDED; a referral through it is cancelled. A coupon used by it stays used."""
    amount = money(amount)
    for use in _uses(order_ref, CampaignUse.Status.PAID):
        before = use.refunded_amount
        refund = min(amount, use.paid_amount - before)
        full = before + refund >= use.paid_amount
        give_back = (use.discount if full else _discount_share(use, before + refund)) - _discount_share(use, before)
        count = 0
        if full:
            count = Coupon.objects.filter(order_ref=order_ref, campaign=use.campaign).count() if use.coupon_id else use.quantity
        if use.coupon_id is not None or use.campaign.kind in ORDER_KINDS:
            campaign_budget_give_back(campaign=use.campaign, amount=give_back, count=count)
        use.refunded_amount = before + refund
        if full:
            use.status = CampaignUse.Status.REFUNDED
        use.save(update_fields=["refunded_amount", "status"])
        if use.campaign.kind == Kind.REFERRAL:
            referral.referral_refunded(order_ref=order_ref)


def _discount_share(use: CampaignUse, refunded: Decimal) -> Decimal:
    """The part of the use's discount that `refunded` of its paid amount carries (rounded once, cumulative,
    so partial refunds never give back a cent more than the discount)."""
    if not use.paid_amount:
        return ZERO
    return min(use.discount, money(use.discount * refunded / use.paid_amount))


def coupon_rule_text(campaign: Campaign) -> str:
    """A coupon campaign's discount in words: "¥10 off", "20% off, up to ¥15", "... on ¥50 or more"."""
    if campaign.discount_kind == Campaign.DiscountKind.FIXED:
        text = gettext("%(amount)s off") % {"amount": money_text(campaign.discount_amount or 0)}
    elif campaign.discount_kind == Campaign.DiscountKind.PERCENT:
        percent = (campaign.discount_percent or 0) * 100
        text = gettext("%(percent)s%% off") % {"percent": f"{percent.normalize():f}"}
        if campaign.discount_cap:
            text = gettext("%(rule)s, up to %(cap)s") % {"rule": text, "cap": money_text(campaign.discount_cap)}
    else:
        return ""
    if campaign.min_spend:
        text = gettext("%(rule)s on %(min)s or more") % {"rule": text, "min": money_text(campaign.min_spend)}
    return text


def offer_for_display(*, campaign: Campaign, distributor, sku, list_unit_price) -> dict:
    """What a page shows of a campaign's offer on a product: the list price, the campaign price, the saving
    and a line of text (coupon campaigns: their rule). Reads only; takes nothing."""
    list_price = money(list_unit_price or 0)
    info = {
        "campaign": campaign, "kind": campaign.kind, "kind_label": campaign.get_kind_display(), "live": campaign.is_live(),
        "starts_at": campaign.starts_at, "ends_at": campaign.ends_at, "list_price": list_price, "price": list_price,
        "saving": ZERO, "text": "",
    }  # fmt: skip
    if campaign.kind in ORDER_KINDS and campaign.price is not None:
        price = money(campaign.price) if campaign.kind == Kind.BUNDLE else min(money(campaign.price), list_price)
        info.update(price=price, saving=max(ZERO, list_price - price))
        if info["saving"]:
            info["text"] = gettext("Save %(saving)s") % {"saving": money_text(info["saving"])}
    elif campaign.discount_kind:
        info["text"] = coupon_rule_text(campaign)
        if sku is not None and list_price and coupon_services.coupon_applies(campaign=campaign, sku=sku):
            try:
                saving = coupon_services.coupon_discount(campaign=campaign, skus=[sku], amount=list_price)
            except CampaignError:
                saving = ZERO
            info.update(saving=saving, price=list_price - saving)
    if campaign.kind == Kind.GROUP_BUY and campaign.group_size:
        info["text"] = gettext("%(size)s people, %(price)s each") % {"size": campaign.group_size, "price": money_text(info["price"])}
    return info
