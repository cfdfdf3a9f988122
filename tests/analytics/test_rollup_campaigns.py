"""Campaign results per day and channel: coupons issued and claimed, orders paid with them; the totals equal
marketing's own results page, also after a refund."""

from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum

from analytics.models import CampaignDay
from analytics.rollups.base import rollup_rebuild, rollup_refresh
from analytics.rollups.campaigns import ROLLUP
from marketing.models import Campaign, Consumer
from marketing.selectors_results import campaign_results
from marketing.services.coupons import coupons_issue
from marketing.services.offers import OfferRequest
from settlement.models import Order
from settlement.services.orders import order_pay, order_place, order_refund
from settlement.services.payments import payment_for_order
from tests.analytics.rollup_support import days_ago, local

pytestmark = pytest.mark.django_db
D = Decimal
FIGURES = ["issued", "claimed", "used", "orders", "new_customers", "revenue", "cost", "discount", "expense"]


def totals() -> dict:
    row = CampaignDay.objects.aggregate(**{name: Sum(name) for name in FIGURES})
    return {name: row[name] or 0 for name in FIGURES}


def page(campaign) -> dict:
    """The same figures as marketing's results page reads them."""
    results = campaign_results(campaign=campaign)
    return {
        "issued": results.issued, "claimed": results.claimed, "used": results.used, "new_customers": results.new_customers,
        "revenue": results.revenue, "cost": results.cost_of_goods, "discount": results.cost,
    }  # fmt: skip


def coupon_order(tree, who: Consumer, campaign: Campaign) -> Order:
    code = coupons_issue(campaign=campaign, count=1, consumer=who)[0].code
    order = order_place(
        channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku, quantity=1,
        pay_method="sandbox", consumer=who, offer_request=OfferRequest(coupon_codes=(code,)),
    )  # fmt: skip
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    return order


@pytest.fixture
def campaign(tree):
    with time_machine.travel(local(days_ago(4), 9), tick=False):
        return Campaign.objects.create(
            name="立减五元", kind=Campaign.Kind.COUPON, status=Campaign.Status.ACTIVE, starts_at=local(days_ago(4), 0),
            ends_at=local(days_ago(-5), 0), discount_kind=Campaign.DiscountKind.FIXED, discount_amount=D("5.00"), coupon_valid_days=30,
        )  # fmt: skip


def test_campaign_days_add_up_to_the_results_page_and_follow_a_refund(tree, campaign, ops_user):
    day1, day2 = days_ago(3), days_ago(2)
    ann, bob = Consumer.objects.create(phone="13800001111"), Consumer.objects.create(phone="13800002222")
    with time_machine.travel(local(day1, 10), tick=False):
        coupons_issue(campaign=campaign, count=3)  # unclaimed codes to hand out
        first = coupon_order(tree, ann, campaign)
    with time_machine.travel(local(day2, 15), tick=False):
        second = coupon_order(tree, ann, campaign)
        third = coupon_order(tree, bob, campaign)
        rollup_refresh(ROLLUP)
    # then: per day and channel
    coupons = CampaignDay.objects.get(day=day1, campaign_id=campaign.pk, channel="campaign")
    assert (coupons.issued, coupons.claimed, coupons.orders) == (4, 1, 0)
    shop = CampaignDay.objects.get(day=day2, campaign_id=campaign.pk, channel="storefront")
    assert (shop.used, shop.orders, shop.new_customers) == (2, 2, 1)
    assert (shop.revenue, shop.discount, shop.expense) == (D("49.80"), D("10.00"), D("10.00"))
    assert shop.cost == 2 * second.unit_cost
    # and the totals are the results page's
    assert totals() == {**page(campaign), "orders": 3, "expense": D("15.00")}
    assert page(campaign)["new_customers"] == 2 and first.discount_platform == D("5.00")

    # when: bob's order is refunded in full the next day
    with time_machine.travel(local(day2, 18), tick=False):
        order_refund(order=third, actor=ops_user, reason="customer asked")
    with time_machine.travel(local(day2, 19), tick=False):
        assert rollup_refresh(ROLLUP) == 1
    # then: it leaves the day it was paid, as it leaves the results page
    shop = CampaignDay.objects.get(day=day2, campaign_id=campaign.pk, channel="storefront")
    assert (shop.used, shop.orders, shop.new_customers, shop.revenue) == (1, 1, 0, D("24.90"))
    assert totals() == {**page(campaign), "orders": 2, "expense": D("10.00")}
    incremental = sorted(CampaignDay.objects.values_list("day", "campaign_id", "channel", *FIGURES))
    CampaignDay.objects.all().delete()
    rollup_rebuild(ROLLUP, days_ago(5), day2)
    assert sorted(CampaignDay.objects.values_list("day", "campaign_id", "channel", *FIGURES)) == incremental


def test_a_free_code_is_marketing_expense_at_its_list_price_and_its_cost_of_goods_stays_cost(tree):
    from settlement.services.giveaways import giveaway_place

    giveaway = Campaign.objects.create(
        name="免费送", kind=Campaign.Kind.TARGETED, status=Campaign.Status.ACTIVE, starts_at=local(days_ago(2), 0),
        ends_at=local(days_ago(-5), 0), sku=tree.sku, storefront=tree.storefront,
    )  # fmt: skip
    with time_machine.travel(local(days_ago(1), 11), tick=False):
        order = giveaway_place(campaign_id=giveaway.pk, issuance_recipient_id=1, sku_id=tree.sku.pk, quantity=2, phone="13800003333")
    assert order.total == 0 and order.promotion_id == giveaway.pk
    rollup_rebuild(ROLLUP, days_ago(1), days_ago(1))
    row = CampaignDay.objects.get(campaign_id=giveaway.pk)
    assert (row.channel, row.orders, row.revenue, row.discount) == ("storefront", 1, D("0.00"), D("59.80"))
    assert (row.expense, row.cost) == (D("59.80"), 2 * order.unit_cost)


def test_a_new_user_price_counts_its_orders_placed_as_issued_and_claimed_like_the_results_page(tree):
    with time_machine.travel(local(days_ago(1), 9), tick=False):
        price = Campaign.objects.create(
            name="新人价", kind=Campaign.Kind.NEW_USER, status=Campaign.Status.ACTIVE, starts_at=local(days_ago(1), 0),
            ends_at=local(days_ago(-5), 0), sku=tree.sku, price=D("19.90"),
        )  # fmt: skip
        ann, bob = Consumer.objects.create(phone="13800001111"), Consumer.objects.create(phone="13800002222")
        paid = order_place(
            channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku, quantity=1,
            pay_method="sandbox", consumer=ann,
        )  # fmt: skip
        order_pay(order=paid, payment=payment_for_order(order=paid))
        unpaid = order_place(
            channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku, quantity=1,
            pay_method="sandbox", consumer=bob,
        )  # fmt: skip
    assert paid.promotion_id == unpaid.promotion_id == price.pk
    rollup_rebuild(ROLLUP, days_ago(1), days_ago(1))
    row = CampaignDay.objects.get(campaign_id=price.pk)
    assert (row.channel, row.issued, row.claimed, row.used, row.orders, row.new_customers) == ("storefront", 2, 2, 1, 1, 1)
    assert (row.revenue, row.discount, row.expense) == (D("19.90"), D("10.00"), D("10.00"))
    assert totals() == {**page(price), "orders": 1, "expense": D("10.00")}
