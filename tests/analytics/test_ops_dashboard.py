"""The ops analytics dashboard (/dashboards/ops/analytics/): every chart's figures from rollup rows, the XLSX of
a chart, the ?sku drill-down, who may open it, an empty period, and a bounded number of queries."""

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from analytics.models import SalesChannel
from analytics.periods import Period
from analytics.selectors.ops import ops_dashboard
from catalog.models import CardCode
from riskcontrol.models import Outcome
from tests import factories
from tests.analytics import rollup_rows
from voucherhub.core import admin_nav, roles

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
D = Decimal
NOV = Period(date(2026, 11, 1), date(2026, 11, 30))  # the previous period: 2026-10-02 .. 2026-10-31
URL = "/dashboards/ops/analytics/"


@pytest.fixture
def shop():
    """Three SKUs (face values 30, 100 and 30), two distributors and a month of rollup rows."""
    a = factories.SkuFactory(name="Alpha", code="ALPHA", face_value=D("30.00"))
    b = factories.SkuFactory(name="Beta", code="BETA", face_value=D("100.00"))
    idle = factories.SkuFactory(name="Idle", code="IDLE", face_value=D("30.00"))
    north, south = factories.DistributorFactory(name="North"), factories.DistributorFactory(name="South")
    for sku, n in ((a, 5), (idle, 2)):
        for _ in range(n):
            factories.card_code(sku=sku, status=CardCode.Status.AVAILABLE)
    rows = rollup_rows
    rows.sales(day=date(2026, 11, 3), sku_id=a.pk, distributor_id=north.pk, orders=2, quantity=4, revenue=D("120.00"))
    rows.sales(
        day=date(2026, 11, 28), sku_id=b.pk, distributor_id=south.pk, channel=SalesChannel.STOREFRONT, quantity=2, revenue=D("200.00")
    )
    rows.sales(day=date(2026, 11, 30), sku_id=a.pk, distributor_id=south.pk, channel=SalesChannel.CAMPAIGN, quantity=3, revenue=D("90.00"))
    rows.sales(day=date(2026, 10, 10), sku_id=a.pk, distributor_id=north.pk, quantity=1, revenue=D("30.00"))
    rows.redemptions(day=date(2026, 11, 5), sku_id=a.pk, merchant_id=1, store_id=1, hour=10, redemptions=2)
    rows.redemptions(day=date(2026, 11, 29), sku_id=b.pk, merchant_id=1, store_id=2, hour=20, redemptions=1)
    rows.redemptions(day=date(2026, 10, 15), sku_id=a.pk, merchant_id=1, store_id=1, hour=9, redemptions=1)
    rows.reminders(day=date(2026, 11, 10), sku_id=a.pk, sent=5, redeemed_after=2)
    rows.risk(day=date(2026, 11, 12), channel="storefront", outcome=Outcome.BLOCK, events=3)
    rows.risk(day=date(2026, 11, 12), channel="portal", outcome=Outcome.REVIEW, events=4)
    rows.risk(day=date(2026, 10, 20), channel="api", outcome=Outcome.BLOCK, events=1)
    return {"a": a, "b": b, "idle": idle, "north": north, "south": south}


def values(chart, series: int = 0) -> dict:
    return dict(zip(chart.categories, chart.series[series].data, strict=True))


# --- the figures ------------------------------------------------------------------------------------------------


def test_the_key_figures_compare_with_the_previous_period(shop):
    dashboard = ops_dashboard(NOV)

    figures = {kpi.key: (kpi.value, kpi.previous) for kpi in dashboard.kpis}
    assert figures["sales"] == (D("410.00"), D("30.00"))
    assert figures["orders"] == (4, 1)
    assert figures["redeemed"] == (3, 1)
    assert figures["redemption-rate"] == (33.3, 100.0)  # 3 of 9 codes sold; 1 of 1
    assert figures["risk-blocks"] == (3, 1)  # only the "block" outcome counts
    assert dashboard.kpi("sales").money and dashboard.kpi("redemption-rate").percent


def test_the_sales_trend_has_the_previous_period_dashed_day_by_day(shop):
    trend = ops_dashboard(NOV).chart("sales-trend")

    assert trend.categories[0] == "1 Nov 2026" and len(trend.categories) == 30
    current, previous = values(trend, 0), trend.series[1].data
    assert current["3 Nov 2026"] == D("120.00") and current["30 Nov 2026"] == D("90.00") and current["2 Nov 2026"] == 0
    assert trend.series[1].dashed and not trend.series[0].dashed
    assert previous[8] == D("30.00")  # 2026-10-10 is the 9th day of 2026-10-02 .. 2026-10-31
    assert sum(previous) == D("30.00")


def test_the_best_selling_skus_by_revenue_and_by_count_drill_to_the_sku(shop):
    dashboard = ops_dashboard(NOV)

    by_revenue, by_count = dashboard.chart("top-skus-revenue"), dashboard.chart("top-skus-count")
    assert values(by_revenue) == {"Alpha (ALPHA)": D("210.00"), "Beta (BETA)": D("200.00")}
    assert list(values(by_count).items()) == [("Alpha (ALPHA)", 7), ("Beta (BETA)", 2)]
    assert by_revenue.drill[0].endswith(f"sku={shop['a'].pk}") and "start=2026-11-01" in by_revenue.drill[0]


def test_the_channel_share_and_the_top_distributors(shop):
    dashboard = ops_dashboard(NOV)

    assert values(dashboard.chart("channel-share")) == {
        "Distributor portal": D("120.00"),
        "Distributor API": 0,
        "Storefront": D("200.00"),
        "Marketing campaign": D("90.00"),
    }
    distributors = dashboard.chart("top-distributors")
    assert list(values(distributors).items()) == [("South", D("290.00")), ("North", D("120.00"))]
    assert distributors.drill[0] == reverse("admin:channels_distributor_change", args=[shop["south"].pk])


def test_the_stock_runway_divides_stock_by_the_last_seven_days_rate(shop):
    runway = ops_dashboard(NOV).chart("stock-runway")

    # Beta: no stock left, sold 2 in Nov 24-30; Alpha: 5 left, sold 3 in Nov 24-30 (5 / (3/7) = 11.7 days).
    assert list(values(runway).items()) == [("Beta (BETA)", 0.0), ("Alpha (ALPHA)", 11.7), ("Idle (IDLE): no sales", None)]


def test_the_redemption_rate_by_sku_and_by_face_value(shop):
    dashboard = ops_dashboard(NOV)

    assert values(dashboard.chart("redemption-by-sku")) == {"Alpha (ALPHA)": 28.6, "Beta (BETA)": 50.0}  # 2/7, 1/2
    assert values(dashboard.chart("redemption-by-face-value")) == {"¥30.00": 28.6, "¥100.00": 50.0}


def test_the_peak_hours_heatmap_places_redemptions_by_weekday_and_hour(shop):
    heat = ops_dashboard(NOV).chart("redemption-peaks")

    assert len(heat.categories) == 24 and heat.y_categories[0] == "Mon" and len(heat.y_categories) == 7
    cells = {(x, y): n for x, y, n in heat.series[0].data}
    assert cells == {(10, date(2026, 11, 5).weekday()): 2, (20, date(2026, 11, 29).weekday()): 1}


def test_the_expiry_reminders_and_the_risk_blocks_per_day(shop):
    dashboard = ops_dashboard(NOV)

    reminders = dashboard.chart("expiry-reminders")
    assert values(reminders, 0)["10 Nov 2026"] == 5 and values(reminders, 1)["10 Nov 2026"] == 2
    assert sum(reminders.series[0].data) == 5
    blocks = dashboard.chart("risk-blocks")
    assert [s.name for s in blocks.series] == ["Consumer storefront"]
    assert values(blocks)["12 Nov 2026"] == 3 and sum(blocks.series[0].data) == 3


def test_the_sku_drill_down_narrows_the_sales_trend_only(shop):
    dashboard = ops_dashboard(NOV, sku_id=shop["b"].pk)

    trend = dashboard.chart("sales-trend")
    assert "Beta (BETA)" in trend.title
    assert sum(trend.series[0].data) == D("200.00") and sum(trend.series[1].data) == 0
    assert dashboard.kpi("sales").value == D("410.00")


# --- the page ---------------------------------------------------------------------------------------------------


def test_the_page_draws_every_chart_with_its_table_view(ops_client, shop):
    response = ops_client.get(URL, {"start": "2026-11-01", "end": "2026-11-30"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    page = response.content.decode()
    for chart in response.context["dashboard"].charts:
        assert f'id="vh-chart-data-{chart.key}"' in page and f'data-testid="table-{chart.key}"' in page
    assert 'data-testid="kpi-value-sales">¥410.00<' in page
    assert "?start=2026-11-01&amp;end=2026-11-30&amp;export=sales-trend" in page


def test_the_page_exports_a_chart_as_xlsx(ops_client, shop):
    response = ops_client.get(URL, {"start": "2026-11-01", "end": "2026-11-30", "export": "top-distributors"})

    assert response["Content-Disposition"] == 'attachment; filename="ops-analytics-top-distributors-2026-11-01-2026-11-30.xlsx"'
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[1:] == [("South", 290), ("North", 120)]
    assert ops_client.get(URL, {"export": "nope"}).status_code == 404


def test_the_sku_parameter_reaches_the_trend(ops_client, shop):
    response = ops_client.get(URL, {"start": "2026-11-01", "end": "2026-11-30", "sku": shop["b"].pk})

    assert sum(response.context["dashboard"].chart("sales-trend").series[0].data) == D("200.00")
    assert 'data-testid="sku-filter"' in response.content.decode()
    assert ops_client.get(URL, {"sku": "x"}).status_code == 200  # no id: ignored
    assert ops_client.get(URL, {"sku": "9" * 30}).status_code == 200  # past a bigint: ignored


def test_an_empty_period_renders_no_data(ops_client, shop):
    response = ops_client.get(URL, {"start": "2025-01-01", "end": "2025-01-31"})

    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('vh-chart vh-chart--empty"') + page.count("vh-chart vh-chart--tall vh-chart--empty") >= 9


def test_a_bad_period_shows_the_error_and_the_default_period(ops_client, shop):
    response = ops_client.get(URL, {"start": "2026-12-10", "end": "2026-12-01"})

    assert response.status_code == 200
    assert response.context["period"].days == 30
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize("role", [roles.FINANCE, roles.DISTRIBUTOR, roles.MERCHANT])
def test_only_ops_may_open_it(client, role):
    client.force_login(factories.UserFactory(username=f"u-{role}", role=role))
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"export": "sales-trend"}).status_code == 403


def test_anonymous_is_sent_to_log_in(client):
    assert client.get(URL).status_code == 302


def test_the_page_takes_a_bounded_number_of_queries(ops_client, shop, django_assert_max_num_queries):
    ops_client.get(URL)  # 16 queries: 12 of the dashboard, the rest session, user, groups and the page
    with django_assert_max_num_queries(18):
        ops_client.get(URL, {"start": "2026-11-01", "end": "2026-11-30"})
    for n in range(5):  # more SKUs and distributors: not more queries
        sku = factories.SkuFactory()
        rollup_rows.sales(day=date(2026, 11, 20), sku_id=sku.pk, distributor_id=shop["north"].pk, revenue=D(n + 1))
    with django_assert_max_num_queries(18):
        ops_client.get(URL, {"start": "2026-11-01", "end": "2026-11-30"})


# --- the links to it ----------------------------------------------------------------------------------------------


def test_the_ops_home_and_the_admin_sidebar_link_to_it(ops_client, ops_user, finance_user, rf):
    assert URL in ops_client.get(reverse("dashboards:ops-home")).content.decode()
    request = rf.get("/admin/")
    request.user = ops_user
    links = [item["link"] for group in admin_nav.navigation(request) for item in group["items"]]
    assert URL in links
    request.user = finance_user
    assert URL not in [item["link"] for group in admin_nav.navigation(request) for item in group["items"]]
    assert URL in ops_client.get(reverse("admin:index")).content.decode()
