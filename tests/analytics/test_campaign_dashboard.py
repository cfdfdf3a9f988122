"""The campaign dashboard: the funnel, ROI per campaign ("no expense" when nothing was spent), new-customer share,
orders and revenue by channel, the drill-down to one campaign, the previous period, the XLSX of a chart, who may
open it, a bounded number of queries and an empty period."""

from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from analytics.models import SalesChannel
from analytics.periods import Period
from analytics.selectors import campaigns
from analytics.selectors.campaigns import campaign_dashboard
from marketing.models import Campaign
from tests.analytics import rollup_rows

pytestmark = pytest.mark.django_db
D = Decimal
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 10))
DAY1, DAY5, BEFORE = date(2026, 11, 1), date(2026, 11, 5), date(2026, 10, 25)


def campaign(name: str) -> Campaign:
    now = timezone.now()
    return Campaign.objects.create(
        name=name, kind=Campaign.Kind.COUPON, starts_at=now - timedelta(days=60), ends_at=now + timedelta(days=3)
    )


def result(day, camp, channel=SalesChannel.STOREFRONT, **values) -> None:
    money = {key: D(values.pop(key)) for key in ("revenue", "cost", "discount", "expense") if key in values}
    rollup_rows.campaign(day=day, campaign_id=camp.pk, channel=channel, **values, **money)


@pytest.fixture
def rows():
    """满减 spent 20 on discounts; 新客价 sold at full price (no expense); one row of 满减 before the period."""
    spring, plain = campaign("春节满减"), campaign("新客价")
    result(
        DAY1,
        spring,
        issued=100,
        claimed=60,
        used=20,
        orders=20,
        new_customers=15,
        revenue="400.00",
        cost="300.00",
        discount="20.00",
        expense="20.00",
    )
    result(DAY5, spring, SalesChannel.API, used=5, orders=5, new_customers=1, revenue="100.00", cost="50.00")
    result(DAY5, plain, SalesChannel.CAMPAIGN, issued=10, claimed=10, used=10, orders=10, new_customers=4, revenue="900.00", cost="600.00")
    result(
        BEFORE,
        spring,
        issued=50,
        claimed=20,
        used=10,
        orders=10,
        new_customers=2,
        revenue="200.00",
        cost="150.00",
        discount="25.00",
        expense="25.00",
    )
    return {"spring": spring, "plain": plain}


def figures(dashboard) -> dict:
    return {kpi.key: (kpi.value, kpi.previous) for kpi in dashboard.kpis}


def test_key_figures_and_the_previous_period(rows):
    kpis = figures(campaign_dashboard(PERIOD))

    assert kpis["issued"] == (110, 50) and kpis["claimed"] == (70, 20) and kpis["used"] == (35, 10)
    assert kpis["revenue"] == (D("1400.00"), D("200.00"))
    assert kpis["discount"] == (D("20.00"), D("25.00")) and kpis["expense"] == (D("20.00"), D("25.00"))
    # ROI: (1400 - 950) / 20; before (200 - 150) / 25
    assert kpis["roi"] == (D("22.50"), D("2.00"))
    # new customers: 20 of 35 orders; before 2 of 10
    assert kpis["new_share"] == (D("57.1"), D("20.0"))


def test_the_funnel_and_the_coupons_per_day(rows):
    dashboard = campaign_dashboard(PERIOD)

    funnel = dashboard.chart("funnel")
    assert funnel.kind == "funnel" and funnel.series[0].data == [110, 70, 35]
    daily = dashboard.chart("daily")
    issued, claimed, used = (series.data for series in daily.series)
    assert issued[0] == 100 and issued[4] == 10 and claimed[4] == 10 and used[4] == 15 and sum(used) == 35


def test_roi_per_campaign_says_no_expense_and_drills_down(rows):
    with translation.override("en"):
        chart = campaign_dashboard(PERIOD).chart("roi")

    assert chart.categories == ["新客价 (no expense)", "春节满减"]  # most revenue first
    assert chart.series[0].data == [None, D("7.50")]  # (500 - 350) / 20
    assert f"campaign={rows['plain'].pk}" in chart.drill[0] and chart.drill[0].startswith(reverse("dashboards:campaign-analytics"))


def test_the_roi_chart_keeps_the_top_campaigns_by_revenue(rows, monkeypatch):
    monkeypatch.setattr(campaigns, "TOP_CAMPAIGNS", 1)

    assert campaign_dashboard(PERIOD).chart("roi").drill == [
        f"{reverse('dashboards:campaign-analytics')}?start=2026-11-01&end=2026-11-10&campaign={rows['plain'].pk}"
    ]


def test_orders_revenue_and_new_customer_share_by_channel(rows):
    with translation.override("en"):
        dashboard = campaign_dashboard(PERIOD)

    orders = dashboard.chart("channel_orders")
    assert orders.categories == ["Distributor API", "Storefront", "Marketing campaign"]
    assert orders.series[0].data == [5, 20, 10] and orders.series[1].data == [1, 15, 4]
    assert dashboard.chart("channel_revenue").series[0].data == [D("100.00"), D("400.00"), D("900.00")]
    assert dashboard.chart("channel_new_share").series[0].data == [D("20.0"), D("75.0"), D("40.0")]


def test_drilling_down_to_one_campaign_narrows_every_figure(rows):
    dashboard = campaign_dashboard(PERIOD, campaign_id=rows["spring"].pk)

    kpis = figures(dashboard)
    assert kpis["issued"] == (100, 50) and kpis["revenue"] == (D("500.00"), D("200.00")) and kpis["roi"] == (D("7.50"), D("2.00"))
    assert dashboard.chart("funnel").series[0].data == [100, 60, 25]
    assert [chart.key for chart in dashboard.charts if chart.key == "roi"] == []
    assert dashboard.chart("channel_orders").series[0].data == [5, 20]


def test_a_campaign_without_expense_shows_no_roi(rows):
    with translation.override("en"):
        kpi = campaign_dashboard(PERIOD, campaign_id=rows["plain"].pk).kpi("roi")

    assert (kpi.value, kpi.previous, kpi.label) == (None, None, "ROI: no expense")


def test_an_empty_period():
    dashboard = campaign_dashboard(PERIOD)

    kpis = figures(dashboard)
    assert kpis["issued"] == (0, 0) and kpis["revenue"] == (D("0.00"), D("0.00"))
    assert kpis["roi"] == (None, None) and kpis["new_share"] == (None, None)
    assert all(chart.empty for chart in dashboard.charts)
    assert dashboard.chart("roi").categories == [] and dashboard.chart("channel_orders").categories == []


def test_the_number_of_queries_does_not_grow_with_campaigns(rows, django_assert_max_num_queries, django_assert_num_queries):
    with django_assert_max_num_queries(4) as few:
        campaign_dashboard(PERIOD)
    for n in range(10):
        result(DAY5, campaign(f"活动 {n}"), SalesChannel.PORTAL, orders=1, revenue="1.00", discount="1.00")
    with django_assert_num_queries(len(few.captured_queries)):
        campaign_dashboard(PERIOD)


# --- the page ---------------------------------------------------------------------------------------------------

URL = reverse("dashboards:campaign-analytics")
RANGE = {"start": "2026-11-01", "end": "2026-11-10"}


@pytest.mark.parametrize(
    ("language", "title", "chart"), [("zh-hans", "活动效果分析", "各活动投资回报率"), ("en", "Campaign analytics", "ROI per campaign")]
)
def test_the_page_draws_every_chart_in_the_readers_language(rows, finance_client, language, title, chart):
    page = finance_client.get(URL, RANGE, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert title in page and chart in page
    for key in ("funnel", "daily", "roi", "channel_orders", "channel_revenue", "channel_new_share"):
        assert f'id="vh-chart-{key}"' in page


def test_one_campaigns_page_names_it_and_links_its_live_results(rows, ops_client):
    page = ops_client.get(URL, {**RANGE, "campaign": rows["spring"].pk}, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Campaign analytics: 春节满减" in page and 'id="vh-chart-roi"' not in page
    assert reverse("marketing:ops-results", args=[rows["spring"].pk]) in page
    assert 'data-testid="campaign-filter-clear"' in page


def test_a_campaigns_results_page_links_to_its_analytics(rows, ops_client):
    page = ops_client.get(reverse("marketing:ops-results", args=[rows["spring"].pk])).content.decode()

    assert f'href="{URL}?campaign={rows["spring"].pk}"' in page


def test_a_chart_downloads_as_xlsx(rows, ops_client):
    response = ops_client.get(URL, {**RANGE, "campaign": rows["spring"].pk, "export": "channel_revenue"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert f"campaign-{rows['spring'].pk}-channel_revenue-2026-11-01-2026-11-10.xlsx" in response["Content-Disposition"]
    header, *lines = load_workbook(BytesIO(response.content)).active.iter_rows(values_only=True)
    assert list(header) == ["Revenue by channel", "Campaign revenue"]
    assert [(line[0], float(line[1])) for line in lines] == [("Distributor API", 100.0), ("Storefront", 400.0)]


def test_ops_and_finance_open_it_nobody_else(client, ops_client, finance_user, outsiders):
    assert ops_client.get(URL).status_code == 200
    client.force_login(finance_user)
    assert client.get(URL).status_code == 200
    for user in outsiders:
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert client.get(URL, {"export": "funnel"}).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302


def test_the_admin_sidebar_links_ops_and_finance_to_it(ops_client, finance_user):
    assert URL in ops_client.get(reverse("admin:index")).content.decode()
    ops_client.force_login(finance_user)
    assert URL in ops_client.get(reverse("admin:index")).content.decode()
