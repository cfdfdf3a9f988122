"""The finance dashboard: every chart's figures from known rollup rows, the previous period, the drill-down to
one distributor, the XLSX of a chart, who may open it, a bounded number of queries and an empty period."""

from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from analytics.models import SalesChannel
from analytics.periods import Period
from analytics.selectors import finance
from analytics.selectors.finance import finance_dashboard
from marketing.models import Campaign
from supply.models import Upstream
from tests import factories
from tests.analytics import rollup_rows

pytestmark = pytest.mark.django_db
D = Decimal
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 10))  # previous: 2026-10-22 .. 2026-10-31
DAY1, DAY5, BEFORE = date(2026, 11, 1), date(2026, 11, 5), date(2026, 10, 25)


def sales(day, *, channel=SalesChannel.PORTAL, revenue="0", cost="0", refunded="0", sku_id=1) -> None:
    rollup_rows.sales(day=day, sku_id=sku_id, distributor_id=1, channel=channel, revenue=D(revenue), cost=D(cost), refunded=D(refunded))


def commission(day, distributor, *, depth=0, **measures) -> None:
    rollup_rows.commission(day=day, distributor_id=distributor.pk, depth=depth, **{name: D(value) for name, value in measures.items()})


def upstream(name: str) -> Upstream:
    return Upstream.objects.create(
        supplier=factories.SupplierFactory(name=name), protocol="v2", base_url="http://127.0.0.1:9/", app_key="k"
    )


def campaign(name: str) -> Campaign:
    now = timezone.now()
    return Campaign.objects.create(
        name=name, kind=Campaign.Kind.COUPON, starts_at=now - timedelta(days=60), ends_at=now + timedelta(days=3)
    )


@pytest.fixture
def rows():
    """Two distributors, two upstreams and two campaigns with rows in the period and one row each before it."""
    north, south = factories.DistributorFactory(name="华北总代"), factories.DistributorFactory(name="华南总代")
    up_a, up_b = upstream("上游甲"), upstream("上游乙")
    spring, autumn = campaign("春节满减"), campaign("秋季新客")
    sales(DAY1, revenue="1000.00", cost="600.00", refunded="100.00")
    sales(DAY1, channel=SalesChannel.STOREFRONT, revenue="500.00", cost="300.00", sku_id=2)
    sales(DAY5, revenue="200.00", cost="150.00")
    sales(BEFORE, revenue="800.00", cost="500.00")
    commission(DAY1, north, accrued="50.00", frozen="50.00")
    commission(DAY1, north, accrued="10.00", frozen="10.00", depth=1)
    commission(DAY5, north, released="30.00", frozen="30.00")
    commission(DAY5, south, accrued="80.00", clawed_back="5.00", frozen="75.00")
    commission(BEFORE, south, accrued="40.00")
    for day, up, cost in [(DAY1, up_a, "70.00"), (DAY5, up_a, "30.00"), (DAY5, up_b, "20.00"), (BEFORE, up_b, "25.00")]:
        rollup_rows.supplier(day=day, upstream_id=up.pk, sku_id=1, succeeded=1, cost=D(cost))
    for day, camp, expense in [(DAY1, spring, "12.00"), (DAY5, autumn, "30.00"), (BEFORE, spring, "8.00")]:
        rollup_rows.campaign(day=day, campaign_id=camp.pk, expense=D(expense))
    return {"north": north, "south": south, "up_a": up_a, "up_b": up_b, "spring": spring, "autumn": autumn}


def figures(dashboard) -> dict:
    return {kpi.key: (kpi.value, kpi.previous) for kpi in dashboard.kpis}


def test_key_figures_and_the_previous_period(rows):
    kpis = figures(finance_dashboard(PERIOD))

    # revenue: 1000 - 100 refunded + 500 + 200; cost 600 + 300 + 150
    assert kpis["revenue"] == (D("1600.00"), D("800.00"))
    assert kpis["cost"] == (D("1050.00"), D("500.00"))
    assert kpis["margin"] == (D("550.00"), D("300.00"))
    assert kpis["margin_percent"] == (D("34.4"), D("37.5"))
    assert kpis["commission"] == (D("140.00"), D("40.00"))
    assert kpis["marketing_expense"] == (D("42.00"), D("8.00"))
    assert kpis["payables"] == (D("120.00"), D("25.00"))


def test_revenue_cost_and_margin_per_day_beside_the_previous_period(rows):
    chart = finance_dashboard(PERIOD).chart("margin")

    assert chart.kind == "line" and chart.money
    assert chart.categories[:2] == ["2026-11-01", "2026-11-02"] and len(chart.categories) == PERIOD.days
    with translation.override("en"):
        assert finance_dashboard(PERIOD).chart("margin").categories[0] == "1 Nov 2026"
    revenue, cost, margin, previous = chart.series
    assert revenue.data[0] == D("1400.00") and revenue.data[4] == D("200.00") and revenue.data[1] == 0
    assert cost.data[0] == D("900.00") and cost.data[4] == D("150.00")
    assert margin.data[0] == D("500.00") and margin.data[4] == D("50.00")
    assert previous.dashed and sum(previous.data) == D("800.00") and previous.data[(BEFORE - PERIOD.previous().start).days] == D("800.00")


def test_commission_over_time_accrued_frozen_released_clawed_back(rows):
    chart = finance_dashboard(PERIOD).chart("commission")

    accrued, frozen, released, clawed_back = (series.data for series in chart.series)
    assert accrued[0] == D("60.00") and accrued[4] == D("80.00")
    assert frozen[0] == D("60.00") and frozen[4] == D("105.00")
    assert released[4] == D("30.00") and clawed_back[4] == D("5.00")
    assert sum(accrued) == D("140.00")


def test_the_distributor_commission_ranking_names_them_and_drills_down(rows):
    chart = finance_dashboard(PERIOD).chart("commission_ranking")

    assert chart.kind == "hbar"
    assert chart.categories == ["华南总代", "华北总代"]
    assert chart.series[0].data == [D("80.00"), D("60.00")]
    assert chart.series[1].data == [D("0.00"), D("30.00")]
    assert f"distributor={rows['south'].pk}" in chart.drill[0] and "start=2026-11-01" in chart.drill[0]
    assert chart.drill[0].startswith(reverse("dashboards:finance-analytics"))


def test_the_ranking_keeps_the_top_ten(rows):
    for n in range(12):
        commission(DAY1, factories.DistributorFactory(name=f"推广员 {n:02d}"), accrued=f"{n + 1}.00")

    chart = finance_dashboard(PERIOD).chart("commission_ranking")

    assert len(chart.categories) == finance.TOP_DISTRIBUTORS
    assert chart.categories[:2] == ["华南总代", "华北总代"] and "推广员 00" not in chart.categories


def test_drilling_down_to_one_distributor_narrows_the_commission_chart_only(rows):
    dashboard = finance_dashboard(PERIOD, distributor_id=rows["north"].pk)

    chart = dashboard.chart("commission")
    assert "华北总代" in chart.title
    assert sum(chart.series[0].data) == D("60.00") and chart.series[2].data[4] == D("30.00") and chart.series[3].data[4] == 0
    assert figures(dashboard)["commission"] == (D("140.00"), D("40.00"))  # the key figures stay the platform's
    assert dashboard.chart("commission_ranking").categories == ["华南总代", "华北总代"]


def test_supplier_payables_by_upstream_over_time(rows, monkeypatch):
    chart = finance_dashboard(PERIOD).chart("payables")

    assert chart.kind == "stacked" and chart.money
    assert [series.name for series in chart.series] == ["上游甲", "上游乙"]
    assert chart.series[0].data[0] == D("70.00") and chart.series[0].data[4] == D("30.00") and chart.series[1].data[4] == D("20.00")

    monkeypatch.setattr(finance, "TOP_UPSTREAMS", 1)
    with translation.override("en"):
        chart = finance_dashboard(PERIOD).chart("payables")
    assert [series.name for series in chart.series] == ["上游甲", "Other upstreams"]
    assert chart.series[1].data[4] == D("20.00")


def test_marketing_expense_by_campaign_drills_to_the_campaign_dashboard(rows):
    chart = finance_dashboard(PERIOD).chart("marketing_expense")

    assert chart.categories == ["秋季新客", "春节满减"]
    assert chart.series[0].data == [D("30.00"), D("12.00")]
    assert chart.drill[0].startswith(reverse("dashboards:campaign-analytics")) and f"campaign={rows['autumn'].pk}" in chart.drill[0]


def test_an_empty_period_shows_zeros_and_no_rate():
    dashboard = finance_dashboard(PERIOD)

    kpis = figures(dashboard)
    assert kpis["revenue"] == (D("0.00"), D("0.00")) and kpis["payables"] == (D("0.00"), D("0.00"))
    assert kpis["margin_percent"] == (None, None)
    assert all(chart.empty for chart in dashboard.charts)
    assert dashboard.chart("commission_ranking").categories == [] and dashboard.chart("payables").series == []


def test_the_number_of_queries_does_not_grow_with_distributors_campaigns_or_upstreams(
    rows, django_assert_max_num_queries, django_assert_num_queries
):
    with django_assert_max_num_queries(11) as few:
        finance_dashboard(PERIOD, distributor_id=rows["north"].pk)
    for n in range(8):
        commission(DAY5, factories.DistributorFactory(), accrued="1.00")
        rollup_rows.supplier(day=DAY5, upstream_id=upstream(f"上游 {n}").pk, sku_id=1, cost=D("1.00"))
        rollup_rows.campaign(day=DAY5, campaign_id=campaign(f"活动 {n}").pk, expense=D("1.00"))
    with django_assert_num_queries(len(few.captured_queries)):
        finance_dashboard(PERIOD, distributor_id=rows["north"].pk)


# --- the page ---------------------------------------------------------------------------------------------------

URL = reverse("dashboards:finance-analytics")
RANGE = {"start": "2026-11-01", "end": "2026-11-10"}


@pytest.mark.parametrize(
    ("language", "title", "chart"),
    [("zh-hans", "财务分析", "分销商佣金排行"), ("en", "Finance analytics", "Top distributors by commission accrued")],
)
def test_the_page_draws_every_chart_in_the_readers_language(rows, finance_client, language, title, chart):
    page = finance_client.get(URL, RANGE, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert title in page and chart in page
    for key in ("margin", "commission", "commission_ranking", "payables", "marketing_expense"):
        assert f'id="vh-chart-{key}"' in page
    assert "华南总代" in page and "上游甲" in page and "秋季新客" in page


def test_the_page_drilled_to_a_distributor_says_so_and_offers_the_way_back(rows, finance_client):
    page = finance_client.get(URL, {**RANGE, "distributor": rows["north"].pk}, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'data-testid="distributor-filter"' in page and "华北总代" in page
    assert 'data-testid="distributor-filter-clear"' in page


def test_a_chart_downloads_as_xlsx(rows, finance_client):
    response = finance_client.get(URL, {**RANGE, "export": "commission_ranking"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "finance-commission_ranking-2026-11-01-2026-11-10.xlsx" in response["Content-Disposition"]
    sheet = load_workbook(BytesIO(response.content)).active
    header, *rows = sheet.iter_rows(values_only=True)
    assert list(header) == ["Top distributors by commission accrued", "Accrued", "Released"]
    assert [(row[0], float(row[1]), float(row[2])) for row in rows] == [("华南总代", 80.0, 0.0), ("华北总代", 60.0, 30.0)]


def test_an_unknown_chart_is_not_exported(finance_client):
    assert finance_client.get(URL, {**RANGE, "export": "nope"}).status_code == 404


def test_only_finance_opens_it(client, ops_client, outsiders):
    assert ops_client.get(URL).status_code == 403
    client.logout()
    for user in outsiders:
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert client.get(URL, {"export": "margin"}).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302


def test_finance_reaches_it_from_its_home_and_its_menu(finance_client):
    home = finance_client.get(reverse("dashboards:finance-home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f'href="{URL}" data-testid="finance-analytics-link"' in home
    assert f'href="{URL}" data-testid="finance-link-finance-analytics"' in home


def test_the_admin_sidebar_links_finance_to_it_and_ops_not(finance_client, ops_user):
    assert URL in finance_client.get(reverse("admin:index")).content.decode()
    finance_client.force_login(ops_user)
    assert URL not in finance_client.get(reverse("admin:index")).content.decode()


def test_a_filter_that_is_no_id_is_ignored(rows, finance_client):
    page = finance_client.get(URL, {**RANGE, "distributor": "1 or 1=1"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'data-testid="distributor-filter"' not in page and 'id="vh-chart-commission"' in page
