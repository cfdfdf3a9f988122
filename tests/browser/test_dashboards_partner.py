"""The partners' dashboards in a browser (issue 17): a 总代 opens "Sales analytics" from its portal menu, a merchant
clerk opens "Analytics" from the console menu; every chart with data is drawn (an ECharts canvas), the table view
opens, a click on a ranked member or a store drills down, in Chinese and English, with no console error or CSP
violation. The history is rollup rows of the last 30 days (what the demo's rollups_rebuild writes); the demo's own
data on these dashboards is checked by the demo tour (tests/browser/test_demo_tour.py)."""

import os
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import (
    CommissionDay,
    DistributorSalesDay,
    RedemptionDay,
    RedemptionHeat,
    RedemptionHour,
    SalesChannel,
    VisitDay,
)
from channels.models import DistributorLevel, Storefront
from redemption.services import clerk_link
from tests import factories
from tests.analytics import rollup_rows
from tests.browser.conftest import DESKTOP, PHONE, follow, login, portal_menu_follow
from tests.browser.pagecheck import watch_console
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = {
    "zh-CN": {"portal": "销售分析", "console": "数据分析"},
    "en": {"portal": "Sales analytics", "console": "Analytics"},
}


@dataclass
class Partners:
    top_name: str
    member_name: str
    store_name: str


def _sales(distributor, sku, days, base):
    """Portal sales of `distributor` every day, in every sales table its dashboards read (its uplines' team rows too)."""
    for n, day in enumerate(days):
        rollup_rows.sales(day=day, sku_id=sku.pk, distributor_id=distributor.pk, orders=2, quantity=2, revenue=Decimal(base + 7 * (n % 5)))


def _redemptions(store, days, *, hours: range):
    zone = timezone.get_default_timezone()
    for n, day in enumerate(days):
        hour = hours[n % len(hours)]
        measures = {
            "redemptions": 1 + n % 4,
            "amount": Decimal("30.00"),
            "owed": Decimal("25.00"),
            "known_holders": 2,
            "new_holders": n % 2,
        }
        RedemptionDay.objects.create(day=day, sku_id=1, merchant_id=store.merchant_id, store_id=store.pk, **measures)
        RedemptionHeat.objects.create(day=day, merchant_id=store.merchant_id, weekday=day.weekday(), local_hour=hour, **measures)
        RedemptionHour.objects.create(
            hour=datetime.combine(day, time(hour), tzinfo=zone),
            sku_id=1,
            merchant_id=store.merchant_id,
            store_id=store.pk,
            weekday=day.weekday(),
            local_hour=hour,
            **measures,
        )


@pytest.fixture
def partners(transactional_db) -> Partners:
    """A 总代 with a 省代 and a 推广员 under it, their sales, commission and storefront visits, and a merchant with
    two stores and their redemptions, every day of the last 30 days."""
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(30)]
    levels = [DistributorLevel.objects.create(name=name, position=n) for n, name in enumerate(("总代", "省代", "推广员"), start=1)]
    user = factories.UserFactory(username="zongdai", role=roles.DISTRIBUTOR)
    top = factories.DistributorFactory(name="华东优选总代理", level=levels[0], user=user)
    province = factories.DistributorFactory(name="浙江省代", level=levels[1], parent=top)
    promoter = factories.DistributorFactory(name="西湖推广员", level=levels[2], parent=province)
    shop = Storefront.objects.create(distributor=top, slug="huadong", title="华东小店")
    sku = factories.SkuFactory(name="爱奇艺黄金会员月卡")
    for distributor, base in ((top, 300), (province, 200), (promoter, 90)):
        _sales(distributor, sku, days, base)
    for n, day in enumerate(days):
        DistributorSalesDay.objects.create(
            day=day, distributor_id=top.pk, channel=SalesChannel.STOREFRONT, orders=1 + n % 3, revenue=Decimal("29.90")
        )
        VisitDay.objects.create(day=day, storefront_id=shop.pk, visitors=20 + n, views=40 + n)
        for depth in (0, 1, 2):
            CommissionDay.objects.create(day=day, distributor_id=top.pk, depth=depth, accrued=Decimal(f"{3 - depth}.50"))
    merchant = factories.MerchantFactory(name="星巴克")
    north, south = factories.StoreFactory(merchant=merchant, name="北门店"), factories.StoreFactory(merchant=merchant, name="南门店")
    _redemptions(north, days, hours=range(8, 20))
    _redemptions(south, days[::2], hours=range(20, 24))  # hours of their own: one heat row per merchant and hour
    clerk_link(user=factories.UserFactory(username="coffee", role=roles.MERCHANT), merchant=merchant)
    return Partners(top_name=top.name, member_name=province.name, store_name=north.name)


def _drawn(page) -> None:
    """Every chart with data draws a canvas; the table view of the first chart opens."""
    page.locator(".vh-chart").first.wait_for()
    charts = page.locator(".vh-chart")
    page.wait_for_function(
        "() => document.querySelectorAll('.vh-chart:not([data-drawn])').length === document.querySelectorAll('.vh-chart--empty').length"
    )
    drawn = page.locator(".vh-chart[data-drawn] canvas")
    assert drawn.count() >= charts.count() - page.locator(".vh-chart--empty").count() > 0


def _shot(page, name: str) -> None:
    if os.environ.get("VH_SHOTS"):  # a person's look at the page: VH_SHOTS=/tmp/shots pytest ...
        page.screenshot(path=f"{os.environ['VH_SHOTS']}/{name}.png", full_page=True)


def _table_row_follow(page, key: str, label: str) -> None:
    card = page.get_by_test_id(f"chart-{key}")
    card.locator("summary").click()
    follow(page, card.get_by_test_id(f"table-{key}").get_by_role("link", name=label))


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_distributor_sees_its_dashboard_and_drills_into_a_member(new_page, partners, locale):
    page = new_page(DESKTOP, locale=locale)
    errors = watch_console(page)
    login(page, "zongdai", PASSWORD)
    page.goto("/portal/")

    portal_menu_follow(page, LABELS[locale]["portal"])
    assert page.locator("h1").inner_text() == LABELS[locale]["portal"]
    _drawn(page)
    assert page.get_by_test_id("kpi-value-own-sales").inner_text().startswith("¥")
    assert partners.member_name in page.get_by_test_id("table-ranking-sales").text_content()
    _shot(page, f"portal-{locale}")

    _table_row_follow(page, "ranking-sales", partners.member_name)
    page.get_by_test_id("member-filter").wait_for()
    _drawn(page)
    assert page.get_by_test_id("chart-member-trend").is_visible()
    assert not errors, errors


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_merchant_sees_its_dashboard_and_drills_into_a_store(new_page, partners, locale):
    page = new_page(DESKTOP, locale=locale)
    errors = watch_console(page)
    login(page, "coffee", PASSWORD)
    page.goto("/merchant/")

    follow(page, page.get_by_test_id("console-link-dashboards:merchant-analytics"))
    assert page.locator("h1").inner_text() == LABELS[locale]["console"]
    _drawn(page)
    assert page.get_by_test_id("kpi-value-redemptions").inner_text() != "0"
    _shot(page, f"console-{locale}")
    _table_row_follow(page, "redemptions-by-store", partners.store_name)
    page.get_by_test_id("store-filter").wait_for()
    _drawn(page)
    assert not errors, errors


def test_the_dashboards_fit_a_phone(new_page, partners):
    page = new_page(PHONE)
    errors = watch_console(page)
    login(page, "coffee", PASSWORD)
    page.goto("/dashboards/merchant/")
    _drawn(page)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not errors, errors
