"""offer_take and the order lifecycle calls, as settlement makes them: new-user price, coupons, bundles,
budgets, floors, stacking, release and refund."""

import uuid
from decimal import Decimal

import pytest

from marketing.errors import BudgetExhausted, CampaignError, CampaignNotLive, CouponInvalid, LimitReached, SignInRequired
from marketing.models import BundleItem, Campaign, CampaignUse, Coupon
from marketing.services.coupons import coupon_claim, coupons_issue
from marketing.services.offers import OfferRequest, offer_for_display, offer_paid, offer_refunded, offer_released, offer_take
from tests import factories
from tests.marketing.factories import CampaignFactory, ConsumerFactory, coupon_campaign, new_user_campaign, shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

D = Decimal


LIST, FLOOR = D("30.00"), D("25.00")


def take(request, *, consumer, storefront, sku, quantity=1, list_price=LIST, floor=FLOOR, first_order=False, **kw):
    return offer_take(
        request=request, order_ref=kw.pop("order_ref", uuid.uuid4().hex[:16]), consumer=consumer, channel="storefront",
        distributor=storefront.distributor, storefront=storefront, sku=sku, quantity=quantity, list_unit_price=list_price,
        floor_unit_price=floor, first_order=first_order, **kw,
    )  # fmt: skip


@pytest.fixture
def world():
    distributor, storefront, sku = shop()
    return storefront, sku


def test_new_user_price_for_a_first_order_only(world):
    storefront, sku = world
    campaign = new_user_campaign(sku=sku, price=D("9.90"))
    consumer = ConsumerFactory()
    # a repeat buyer gets no new-user price
    with pytest.raises(CampaignError) as refused:
        take(OfferRequest(campaign_id=campaign.pk), consumer=consumer, storefront=storefront, sku=sku, first_order=False)
    assert refused.value.field == "campaign"
    # a first order does, and the platform funds the saving
    offer = take(OfferRequest(campaign_id=campaign.pk), consumer=consumer, storefront=storefront, sku=sku, first_order=True)
    assert (offer.unit_price, offer.total, offer.discount) == (D("9.90"), D("9.90"), D("20.10"))
    assert (offer.expense_platform, offer.expense_distributor) == (D("20.10"), D("0.00"))
    assert offer.campaign_ids == (campaign.pk,)
    use = CampaignUse.objects.get(order_ref=offer.order_ref)
    assert (use.status, use.discount, use.new_customer) == (CampaignUse.Status.PLACED, D("20.10"), True)
    # while that order waits for payment, a second one at the new-user price is refused
    with pytest.raises(LimitReached):
        take(OfferRequest(campaign_id=campaign.pk), consumer=consumer, storefront=storefront, sku=sku, first_order=True)


def test_new_user_price_needs_a_signed_in_consumer(world):
    storefront, sku = world
    campaign = new_user_campaign(sku=sku)
    with pytest.raises(SignInRequired) as refused:
        take(OfferRequest(campaign_id=campaign.pk), consumer=None, storefront=storefront, sku=sku, first_order=True)
    assert refused.value.field == "consumer"


def test_a_campaign_not_running_or_for_another_product_is_refused(world):
    storefront, sku = world
    consumer = ConsumerFactory()
    paused = new_user_campaign(sku=sku, status=Campaign.Status.PAUSED)
    with pytest.raises(CampaignNotLive):
        take(OfferRequest(campaign_id=paused.pk), consumer=consumer, storefront=storefront, sku=sku, first_order=True)
    other = new_user_campaign(sku=factories.SkuFactory())
    with pytest.raises(CampaignError) as refused:
        take(OfferRequest(campaign_id=other.pk), consumer=consumer, storefront=storefront, sku=sku, first_order=True)
    assert refused.value.field == "campaign"


def test_a_neighbours_shop_campaign_does_not_apply_here(world):
    storefront, sku = world
    _d, neighbour_shop, _s = shop(sku=sku)
    campaign = new_user_campaign(sku=sku, storefront=neighbour_shop)
    with pytest.raises(CampaignError):
        take(OfferRequest(campaign_id=campaign.pk), consumer=ConsumerFactory(), storefront=storefront, sku=sku, first_order=True)


def test_a_coupon_is_used_once_and_given_back_when_the_order_is_not_paid(world):
    storefront, sku = world
    consumer = ConsumerFactory()
    campaign = coupon_campaign(discount_amount=D("10.00"), min_spend=D("20.00"))
    coupon = coupon_claim(campaign=campaign, consumer=consumer)
    offer = take(OfferRequest(coupon_codes=(coupon.code.lower(),)), consumer=consumer, storefront=storefront, sku=sku)
    assert (offer.total, offer.discount, offer.expense_platform) == (D("20.00"), D("10.00"), D("10.00"))
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_ref, coupon.discount) == (Coupon.Status.USED, offer.order_ref, D("10.00"))
    with pytest.raises(CouponInvalid):
        take(OfferRequest(coupon_codes=(coupon.code,)), consumer=consumer, storefront=storefront, sku=sku)
    # the order expires unpaid: the coupon is the consumer's again
    offer_released(order_ref=offer.order_ref)
    offer_released(order_ref=offer.order_ref)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_ref) == (Coupon.Status.CLAIMED, "")
    assert CampaignUse.objects.get(order_ref=offer.order_ref).status == CampaignUse.Status.RELEASED


def test_a_coupon_below_its_minimum_spend_or_for_another_category_is_refused(world):
    storefront, sku = world
    consumer = ConsumerFactory()
    dear = coupon_claim(campaign=coupon_campaign(min_spend=D("50.00")), consumer=consumer)
    with pytest.raises(CouponInvalid) as refused:
        take(OfferRequest(coupon_codes=(dear.code,)), consumer=consumer, storefront=storefront, sku=sku)
    assert refused.value.field == "coupon"
    coffee = coupon_claim(campaign=coupon_campaign(categories=["coffee"]), consumer=consumer)
    with pytest.raises(CouponInvalid):
        take(OfferRequest(coupon_codes=(coffee.code,)), consumer=consumer, storefront=storefront, sku=sku)
    # nothing half-written: both coupons still claimed, no uses
    assert set(Coupon.objects.values_list("status", flat=True)) == {Coupon.Status.CLAIMED}
    assert not CampaignUse.objects.exists()


def test_someone_elses_coupon_cannot_be_used(world):
    storefront, sku = world
    owner, thief = ConsumerFactory(), ConsumerFactory()
    coupon = coupon_claim(campaign=coupon_campaign(), consumer=owner)
    with pytest.raises(CouponInvalid):
        take(OfferRequest(coupon_codes=(coupon.code,)), consumer=thief, storefront=storefront, sku=sku)


def test_one_coupon_per_order_unless_every_campaign_stacks(world):
    storefront, sku = world
    consumer = ConsumerFactory()
    first = coupon_claim(campaign=coupon_campaign(), consumer=consumer)
    second = coupon_claim(campaign=coupon_campaign(discount_amount=D("5.00")), consumer=consumer)
    with pytest.raises(CouponInvalid):
        take(OfferRequest(coupon_codes=(first.code, second.code)), consumer=consumer, storefront=storefront, sku=sku)
    Campaign.objects.update(stackable=True)
    offer = take(OfferRequest(coupon_codes=(first.code, second.code)), consumer=consumer, storefront=storefront, sku=sku)
    assert (offer.total, offer.discount, len(offer.campaign_ids)) == (D("15.00"), D("15.00"), 2)


def test_a_percentage_coupon_is_capped(world):
    storefront, sku = world
    consumer = ConsumerFactory()
    campaign = coupon_campaign(
        discount_kind=Campaign.DiscountKind.PERCENT, discount_amount=None, discount_percent=D("0.5000"), discount_cap=D("12.00")
    )
    coupon = coupon_claim(campaign=campaign, consumer=consumer)
    offer = take(OfferRequest(coupon_codes=(coupon.code,)), consumer=consumer, storefront=storefront, sku=sku, quantity=2)
    assert (offer.total, offer.discount) == (D("48.00"), D("12.00"))


def test_a_distributor_funded_coupon_never_takes_the_price_below_the_floor(world):
    storefront, sku = world
    consumer = ConsumerFactory()
    campaign = coupon_campaign(
        discount_amount=D("10.00"), distributor=storefront.distributor, storefront=storefront, funding=Campaign.Funding.DISTRIBUTOR
    )
    coupon = coupon_claim(campaign=campaign, consumer=consumer)
    offer = take(OfferRequest(coupon_codes=(coupon.code,)), consumer=consumer, storefront=storefront, sku=sku, floor=D("25.00"))
    assert (offer.total, offer.discount, offer.expense_distributor, offer.expense_platform) == (D("25.00"), D("5.00"), D("5.00"), D("0"))


def test_a_money_budget_stops_exactly_and_comes_back_on_release(world):
    storefront, sku = world
    campaign = coupon_campaign(budget_kind=Campaign.BudgetKind.MONEY, budget_amount=D("20.00"), per_consumer_limit=5)
    consumer = ConsumerFactory()
    codes = [coupon_claim(campaign=campaign, consumer=consumer).code for _ in range(3)]
    offers = [take(OfferRequest(coupon_codes=(code,)), consumer=consumer, storefront=storefront, sku=sku) for code in codes[:2]]
    with pytest.raises(BudgetExhausted) as refused:
        take(OfferRequest(coupon_codes=(codes[2],)), consumer=consumer, storefront=storefront, sku=sku)
    assert refused.value.field == "campaign"
    campaign.refresh_from_db()
    assert (campaign.spent_amount, campaign.spent_count) == (D("20.00"), 2)
    offer_released(order_ref=offers[0].order_ref)
    campaign.refresh_from_db()
    assert (campaign.spent_amount, campaign.spent_count) == (D("10.00"), 1)
    take(OfferRequest(coupon_codes=(codes[2],)), consumer=consumer, storefront=storefront, sku=sku)


def test_paid_then_refunded_in_two_parts_gives_the_budget_back_exactly(world):
    storefront, sku = world
    campaign = new_user_campaign(sku=sku, price=D("20.00"), budget_kind=Campaign.BudgetKind.MONEY, budget_amount=D("100.00"))
    consumer = ConsumerFactory()
    offer = take(OfferRequest(campaign_id=campaign.pk), consumer=consumer, storefront=storefront, sku=sku, first_order=True, quantity=1)
    assert offer_paid(order_ref=offer.order_ref) is False
    assert offer_paid(order_ref=offer.order_ref) is False
    campaign.refresh_from_db()
    assert campaign.spent_amount == D("10.00")
    offer_refunded(order_ref=offer.order_ref, amount=D("7.00"))
    campaign.refresh_from_db()
    assert campaign.spent_amount == D("6.50")
    offer_refunded(order_ref=offer.order_ref, amount=D("13.00"))
    campaign.refresh_from_db()
    use = CampaignUse.objects.get(order_ref=offer.order_ref)
    assert (campaign.spent_amount, campaign.spent_count, use.status) == (D("0.00"), 0, CampaignUse.Status.REFUNDED)


def test_a_bundle_is_priced_at_its_price_with_its_components(world):
    storefront, sku = world
    other = factories.SkuFactory()
    bundle = CampaignFactory(kind=Campaign.Kind.BUNDLE, price=D("50.00"))
    BundleItem.objects.create(campaign=bundle, sku=sku, quantity=1, revenue_share=D("30.00"))
    BundleItem.objects.create(campaign=bundle, sku=other, quantity=2, revenue_share=D("10.00"))
    offer = take(OfferRequest(campaign_id=bundle.pk), consumer=None, storefront=storefront, sku=None, list_price=D("70.00"))
    assert (offer.unit_price, offer.total, offer.discount) == (D("50.00"), D("50.00"), D("20.00"))
    assert [(part.sku_id, part.quantity, part.revenue_share) for part in offer.components] == [
        (sku.pk, 1, D("30.00")),
        (other.pk, 2, D("10.00")),
    ]


def test_coupons_issued_never_exceed_the_campaigns_total():
    campaign = coupon_campaign(coupons_total=3)
    assert len(coupons_issue(campaign=campaign, count=2)) == 2
    with pytest.raises(Exception) as refused:
        coupons_issue(campaign=campaign, count=2)
    assert refused.value.field == "campaign"
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 2


def test_offer_for_display(world):
    storefront, sku = world
    campaign = new_user_campaign(sku=sku, price=D("9.90"))
    shown = offer_for_display(campaign=campaign, distributor=storefront.distributor, sku=sku, list_unit_price=D("30.00"))
    assert (shown["price"], shown["saving"], shown["live"]) == (D("9.90"), D("20.10"), True)
    coupon = coupon_campaign(discount_kind=Campaign.DiscountKind.PERCENT, discount_percent=D("0.2000"), discount_cap=D("5.00"))
    shown = offer_for_display(campaign=coupon, distributor=None, sku=sku, list_unit_price=D("30.00"))
    assert shown["saving"] == D("5.00")
    assert "20" in shown["text"]


def test_risk_control_sees_campaign_orders_and_a_block_leaves_nothing_written(world):
    from riskcontrol import engine
    from riskcontrol.errors import RiskBlocked
    from riskcontrol.models import Action, Dimension, RiskRule

    storefront, sku = world
    rule = RiskRule(
        name="一部手机一单", kind=RiskRule.Kind.VELOCITY, applies_to=Action.CAMPAIGN_ORDER, dimension=Dimension.PHONE,
        window_seconds=3600, limit=1, measure=RiskRule.Measure.ORDERS, action=RiskRule.RuleAction.BLOCK,
    )  # fmt: skip
    rule.full_clean()
    rule.save()
    engine.rules_changed()
    consumer = ConsumerFactory()
    campaign = coupon_campaign(per_consumer_limit=3)
    first, second = (coupon_claim(campaign=campaign, consumer=consumer) for _ in range(2))
    take(OfferRequest(coupon_codes=(first.code,)), consumer=consumer, storefront=storefront, sku=sku)
    with pytest.raises(RiskBlocked):
        take(OfferRequest(coupon_codes=(second.code,)), consumer=consumer, storefront=storefront, sku=sku)
    second.refresh_from_db()
    assert second.status == Coupon.Status.CLAIMED
    assert CampaignUse.objects.count() == 1


def test_a_late_payment_finds_its_coupon_held_until_the_order_is_released(world):
    from marketing.services.offers import offer_still_held

    storefront, sku = world
    consumer = ConsumerFactory()
    coupon = coupon_claim(campaign=coupon_campaign(), consumer=consumer)
    offer = take(OfferRequest(coupon_codes=(coupon.code,)), consumer=consumer, storefront=storefront, sku=sku)
    assert offer_still_held(order_ref=offer.order_ref) is True
    offer_released(order_ref=offer.order_ref)
    assert offer_still_held(order_ref=offer.order_ref) is False
    assert offer_still_held(order_ref="NO-CAMPAIGN") is True  # an order without a campaign holds nothing
