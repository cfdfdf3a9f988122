"""Issue 17's finance and campaign dashboards in a browser, in Chinese and English: finance opens its analytics
from its home, every chart is drawn (ECharts, no console error, no CSP violation), a chart's table view lists
its figures, a click on a distributor in the commission ranking narrows the commission chart, and the campaign
dashboard draws its funnel, ROI and channel charts with "no expense" for a campaign that spent nothing. The
demo's data on these dashboards is checked by the demo tour (tests/browser/test_demo_tour.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import SalesChannel
from marketing.models import Campaign
from supply.models import Upstream
from tests import factories
from tests.analytics import rollup_rows
from tests.browser.conftest import follow, login
from tests.browser.pagecheck import watch_console
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
TEXT = {
    "zh-CN": {"finance": "财务分析", "campaigns": "活动效果分析", "no_expense": "（无投入）", "narrowed": "仅显示"},
    "en": {"finance": "Finance analytics", "campaigns": "Campaign analytics", "no_expense": "(no expense)", "narrowed": "only"},
}
FINANCE_CHARTS = ("margin", "commission", "commission_ranking", "payables", "marketing_expense")
CAMPAIGN_CHARTS = ("funnel", "daily", "roi", "channel_orders", "channel_revenue", "channel_new_share")


@pytest.fixture
def history(transactional_db):
    """Rollup rows of the last days (and of the previous period) for every chart of both dashboards."""
    today = timezone.localdate()
    north, south = factories.DistributorFactory(name="华北总代"), factories.DistributorFactory(name="华南总代")
    upstream = Upstream.objects.create(
        supplier=factories.SupplierFactory(name="上游甲"), protocol="v2", base_url="http://127.0.0.1:9/", app_key="k"
    )
    now = timezone.now()
    spring, plain = (
        Campaign.objects.create(name=name, kind=Campaign.Kind.COUPON, starts_at=now - timedelta(days=60), ends_at=now + timedelta(days=3))
        for name in ("春节满减", "新客价")
    )
    for back in (1, 3, 6, 40):
        day = today - timedelta(days=back)
        money = D(100 * back)
        rollup_rows.sales(day=day, sku_id=1, distributor_id=north.pk, orders=back, quantity=back, revenue=money, cost=money * D("0.6"))
        rollup_rows.commission(day=day, distributor_id=north.pk, depth=0, accrued=D(back * 7), frozen=D(back * 5), released=D(back * 2))
        rollup_rows.commission(day=day, distributor_id=south.pk, depth=1, accrued=D(back * 3), frozen=D(back * 3))
        rollup_rows.supplier(day=day, upstream_id=upstream.pk, sku_id=1, succeeded=back, cost=D(back * 11))
        rollup_rows.campaign(
            day=day, campaign_id=spring.pk, channel=SalesChannel.STOREFRONT, issued=50, claimed=30, used=back, orders=back,
            new_customers=1, revenue=money, cost=money / 2, discount=D(back * 4), expense=D(back * 4),
        )  # fmt: skip
        rollup_rows.campaign(day=day, campaign_id=plain.pk, used=1, orders=1, revenue=D("30.00"), cost=D("20.00"))
    return {"north": north}


def drawn(page, keys) -> None:
    """Every chart of `keys` on the page was drawn by ECharts (a canvas in it)."""
    for key in keys:
        page.locator(f"#vh-chart-{key}[data-drawn=true] canvas").first.wait_for()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_finance_and_campaign_dashboards_are_drawn(history, finance_user, new_page, locale):
    text = TEXT[locale]
    page = new_page(locale=locale)
    errors = watch_console(page)
    login(page, finance_user.username, PASSWORD)

    page.goto("/dashboards/finance/")
    follow(page, page.get_by_test_id("finance-analytics-link"))
    assert page.locator("h1").inner_text() == text["finance"]
    drawn(page, FINANCE_CHARTS)
    assert page.get_by_test_id("kpis").locator("li").count() == 7

    ranking = page.get_by_test_id("chart-commission_ranking")
    ranking.locator("summary").click()
    table = ranking.get_by_test_id("table-commission_ranking")
    assert table.locator("tbody tr").first.locator("th").inner_text() == "华北总代"
    follow(page, table.get_by_role("link", name="华北总代"))
    assert f"distributor={history['north'].pk}" in page.url
    assert text["narrowed"] in page.get_by_test_id("distributor-filter").inner_text()
    drawn(page, FINANCE_CHARTS)

    follow(page, page.get_by_test_id("campaign-analytics-link"))
    assert page.locator("h1").inner_text() == text["campaigns"]
    drawn(page, CAMPAIGN_CHARTS)
    roi = page.get_by_test_id("chart-roi")
    roi.locator("summary").click()
    assert text["no_expense"] in roi.get_by_test_id("table-roi").inner_text()
    assert errors == []
