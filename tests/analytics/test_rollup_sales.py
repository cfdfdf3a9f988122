"""Sales rollups: paid orders per UTC hour, SKU, channel and distributor, and the daily tables summed from them."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from analytics.models import DistributorSalesDay, SalesChannel, SalesDay, SalesHour, SkuSalesDay
from analytics.rollups import sales
from analytics.rollups.base import rollup_refresh
from marketing.models import Campaign
from settlement.models import Order
from settlement.services.giveaways import giveaway_place
from settlement.services.orders import order_refund
from tests.analytics.rollup_support import at, local, portal_buy
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal


def test_paid_orders_count_in_their_payment_hour_and_local_day_with_their_refunds(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    late = portal_buy(tree, 2, local(2026, 11, 2, 23, 30))  # 15:30 UTC, the local day of Monday 2 Nov
    early = portal_buy(tree, 1, local(2026, 11, 3, 0, 15))  # 16:15 UTC on 2 Nov, but local Tuesday 3 Nov
    third = portal_buy(tree, 3, local(2026, 11, 3, 0, 40))
    with at(local(2026, 11, 4, 10)):
        order_refund(order=early, actor=finance_user, reason="wrong SKU")  # in full
        order_refund(order=third, actor=finance_user, reason="one code too many", quantity=1)
        assert sales.sales_changed_days(local(2026, 11, 4, 9)) == {date(2026, 11, 3)}  # the paid day, not the refund's
        assert sales.sales_changed_days(None) == {date(2026, 11, 2), date(2026, 11, 3)}
        assert rollup_refresh(sales.ROLLUP) == 2

    hours = {(row.hour, row.orders, row.quantity, row.revenue, row.refunded) for row in SalesHour.objects.all()}
    assert hours == {
        (datetime(2026, 11, 2, 15, tzinfo=UTC), 1, 2, D("52.00"), D("0.00")),
        (datetime(2026, 11, 2, 16, tzinfo=UTC), 2, 4, D("104.00"), D("52.00")),
    }
    monday = SalesDay.objects.get(day=date(2026, 11, 2))
    assert (monday.sku_id, monday.channel, monday.distributor_id) == (tree.sku.pk, SalesChannel.PORTAL, tree.seller.pk)
    tuesday = SalesDay.objects.get(day=date(2026, 11, 3))
    # the portal price is the seller's purchase price (26.00); the SKU costs 20.00
    assert (tuesday.orders, tuesday.quantity, tuesday.revenue, tuesday.platform_revenue, tuesday.cost) == (
        2,
        4,
        D("104.00"),
        D("104.00"),
        D("80.00"),
    )
    assert tuesday.refunded == D("52.00") and early.pk != late.pk
    for model in (SkuSalesDay, DistributorSalesDay):
        assert {(row.day, row.orders, row.revenue, row.refunded) for row in model.objects.all()} == {
            (date(2026, 11, 2), 1, D("52.00"), D("0.00")),
            (date(2026, 11, 3), 2, D("104.00"), D("52.00")),
        }


def test_a_campaign_order_counts_as_campaign_and_unpaid_orders_not_at_all(tree, finance_user):
    moment = local(2026, 11, 5, 15)
    campaign = Campaign.objects.create(
        name="老客赠卡",
        kind=Campaign.Kind.TARGETED,
        status=Campaign.Status.ACTIVE,
        starts_at=moment - timedelta(hours=1),
        ends_at=moment + timedelta(days=3),
        sku=tree.sku,
        storefront=tree.storefront,
    )
    with at(moment):
        giveaway_place(campaign_id=campaign.pk, issuance_recipient_id=1, sku_id=tree.sku.pk, quantity=1, phone="13800138000")
        pending = Order.objects.create(
            number="UNPAID-1", channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1, unit_price=D("26"),
            total=D("26"), purchase_unit_price=D("26"), unit_cost=D("20"), pay_method=Order.PayMethod.WALLET,
        )  # fmt: skip
        sales.sales_recompute(moment.date(), moment.date())
    row = SalesDay.objects.get()
    assert (row.channel, row.distributor_id, row.orders, row.revenue) == (SalesChannel.CAMPAIGN, tree.seller.pk, 1, D("0.00"))
    assert row.discount == D("29.90") and row.platform_revenue == D("26.00") and pending.status == Order.Status.PENDING


def test_a_recompute_replaces_the_days_rows_and_leaves_the_other_days(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    portal_buy(tree, 1, local(2026, 11, 2, 10))
    portal_buy(tree, 1, local(2026, 11, 3, 10))
    sales.sales_recompute(date(2026, 11, 2), date(2026, 11, 3))
    sales.sales_recompute(date(2026, 11, 3), date(2026, 11, 3))  # twice: no duplicate, the 2nd is untouched
    assert SalesHour.objects.count() == 2 and SalesDay.objects.aggregate(n=Sum("orders"))["n"] == 2
    SalesDay.objects.filter(day=date(2026, 11, 2)).update(orders=99)
    sales.sales_recompute(date(2026, 11, 3), date(2026, 11, 3))
    assert SalesDay.objects.get(day=date(2026, 11, 2)).orders == 99
