"""A campaign's results: every number equals the hand-computed one, the page refreshes itself, and the XLSX export
holds the same numbers in the house style."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from catalog.models import CardCode
from marketing.models import Campaign, CampaignUse, Consumer, Coupon
from marketing.selectors_results import campaign_results
from tests import factories
from tests.marketing.ops_setup import campaign
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


def use(coupon_campaign, ref, *, channel, distributor, list_amount, discount, status=CampaignUse.Status.PAID, new=False, quantity=1):
    return CampaignUse.objects.create(
        campaign=coupon_campaign,
        order_ref=ref,
        channel=channel,
        distributor=distributor,
        quantity=quantity,
        list_amount=Decimal(list_amount),
        discount=Decimal(discount),
        paid_amount=Decimal(list_amount) - Decimal(discount),
        new_customer=new,
        status=status,
    )


def codes(sku, ref, *statuses):
    for status in statuses:
        code, _plain = factories.card_code(sku=sku, status=status)
        CardCode.objects.filter(pk=code.pk).update(order_ref=ref)


@pytest.fixture
def coupon_results():
    """A coupon campaign: 4 coupons (2 claimed, 1 of them used), 4 orders (3 paid, 1 not), 4 codes (1 redeemed)."""
    sku = factories.SkuFactory(face_value=Decimal("30.00"), cost_price=Decimal("20.00"))
    east, west = factories.DistributorFactory(name="华东总代"), factories.DistributorFactory(name="华西总代")
    budget = {"budget_kind": "money", "budget_amount": Decimal("100.00"), "spent_amount": Decimal("25.00")}
    coupons = campaign(name="=SUM(A1)", discount_kind="fixed", discount_amount=Decimal("10.00"), **budget)
    buyer, friend = Consumer.objects.create(phone="13800000001"), Consumer.objects.create(phone="13800000002")
    until = timezone.now() + timedelta(days=7)
    Coupon.objects.create(campaign=coupons, code="AAAA1111", valid_until=until)
    Coupon.objects.create(campaign=coupons, code="AAAA2222", valid_until=until)
    Coupon.objects.create(campaign=coupons, code="AAAA3333", valid_until=until, consumer=buyer, status=Coupon.Status.CLAIMED)
    Coupon.objects.create(campaign=coupons, code="AAAA4444", valid_until=until, consumer=friend, status=Coupon.Status.USED, order_ref="R1")
    use(coupons, "R1", channel="storefront", distributor=east, list_amount="30.00", discount="10.00", new=True)
    use(coupons, "R2", channel="api", distributor=west, list_amount="60.00", discount="10.00", quantity=2)
    use(coupons, "R3", channel="storefront", distributor=east, list_amount="30.00", discount="10.00", status=CampaignUse.Status.RELEASED)
    use(coupons, "R4", channel="storefront", distributor=None, list_amount="30.00", discount="5.00", new=True)
    codes(sku, "R1", CardCode.Status.REDEEMED)
    codes(sku, "R2", CardCode.Status.SOLD, CardCode.Status.SOLD)
    codes(sku, "R4", CardCode.Status.SOLD)
    codes(sku, "OTHER", CardCode.Status.REDEEMED)  # another order's code counts nowhere
    return coupons


def test_the_numbers_equal_the_hand_computed_ones(coupon_results):
    with translation.override("en"):
        results = campaign_results(campaign=coupon_results, platform_label="平台")
    assert (results.issued, results.claimed, results.used, results.placed, results.released) == (4, 2, 3, 4, 1)
    assert (results.codes_sold, results.codes_redeemed, results.redemption_rate) == (4, 1, Decimal("0.2500"))
    # cost: 10 + 10 + 5; revenue: 20 + 50 + 25; cost of goods: 4 codes at ¥20.00
    assert (results.cost, results.revenue, results.cost_of_goods) == (Decimal("25.00"), Decimal("95.00"), Decimal("80.00"))
    assert results.roi == Decimal("0.6000")  # (95 - 80) / 25
    assert results.new_customer_share == Decimal("0.6667")  # 2 of 3 paid orders
    assert results.budget_left == Decimal("75.00")
    channels = {row.label: (row.orders, row.quantity, row.discount, row.paid, row.new_customers) for row in results.by_channel}
    assert channels == {
        "Distributor API": (1, 2, Decimal("10.00"), Decimal("50.00"), 0),
        "Storefront": (2, 2, Decimal("15.00"), Decimal("45.00"), 2),
    }
    assert [(row.label, row.paid) for row in results.by_distributor] == [
        ("华西总代", Decimal("50.00")),
        ("平台", Decimal("25.00")),
        ("华东总代", Decimal("20.00")),
    ]


def test_a_campaign_without_orders_reads_none_for_its_rates():
    empty = campaign(kind=Campaign.Kind.GROUP_BUY)
    results = campaign_results(campaign=empty)
    rates = (results.roi, results.redemption_rate, results.new_customer_share)
    assert (results.used, results.cost, rates) == (0, Decimal("0.00"), (None, None, None))
    assert results.extra["groups"][0][1] == 0


def test_the_page_shows_the_numbers_and_its_block_refreshes_itself(ops_client, coupon_results):
    url = reverse("marketing:ops-results", args=[coupon_results.pk])
    body = ops_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'hx-trigger="every 10s"' in body and f'hx-get="{url}"' in body
    shown_numbers = (("r-used", ">3<"), ("r-cost", "¥25.00"), ("r-revenue", "¥95.00"), ("r-roi", "60.00%"), ("r-redemption", "25.00%"))
    for testid, shown in shown_numbers:
        assert shown in body.split(f'data-testid="{testid}"')[1][:40], testid
    partial = ops_client.get(url, HTTP_HX_REQUEST="true", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<html" not in partial and 'data-testid="r-cost"' in partial


def test_the_xlsx_holds_the_same_numbers_in_the_house_style(ops_client, ops_user, coupon_results):
    response = ops_client.get(reverse("marketing:ops-results-xlsx", args=[coupon_results.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["概览", "按渠道", "按分销商"]
    summary = {row[0]: row[1:] for row in book["概览"].iter_rows(min_row=2, values_only=True)}
    assert summary["活动"][0] == "=SUM(A1)"  # text stays text, never a formula
    assert book["概览"]["B2"].data_type == "s"
    assert summary["费用（优惠）"][0] == 25 and summary["收入（实付）"][0] == 95
    assert summary["投入产出比"][1] == pytest.approx(0.6)
    sheet = book["按分销商"]
    assert sheet["A1"].font.bold and sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[5]) for r in rows] == [("华西总代", 50), ("平台", 25), ("华东总代", 20)]
    assert sheet["F2"].number_format == "#,##0.00"
    assert AuditLog.objects.filter(action="marketing.campaign.export", actor=ops_user, object_id=str(coupon_results.pk)).exists()
