"""The distributor's dashboard (issue 17): figures from known rollup rows, the previous period, the ranking's
drill-down, the XLSX export, who may open it, its query count, an empty period, and isolation (invariant 5: a
neighbour's or an upline's numbers never show, their ids answer 404)."""

import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from analytics.models import CommissionDay, DistributorSalesDay, SalesChannel, SalesDay, VisitDay
from analytics.periods import Period
from analytics.selectors.distributor import distributor_dashboard, member_trend_chart
from channels.errors import NotInDownline
from channels.models import Distributor, DistributorLevel, Storefront
from tests import factories
from tests.analytics import rollup_rows
from voucherhub.core import roles

pytestmark = pytest.mark.django_db
D = Decimal
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))  # previous: 2026-10-02 .. 2026-10-31
IN_PERIOD = date(2026, 11, 10)
IN_PREVIOUS = date(2026, 10, 20)
URL_PARAMS = {"start": "2026-11-01", "end": "2026-11-30"}


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@dataclass
class Team:
    top: Distributor  # the caller's upline
    me: Distributor  # the caller (省代)
    direct: Distributor  # my direct downline
    indirect: Distributor  # the direct one's downline
    neighbour: Distributor  # another 省代 under the same 总代
    storefront: Storefront
    user: object
    sku: object


def make(name, level, parent=None, user=None) -> Distributor:
    return factories.DistributorFactory(name=name, level=level, parent=parent, user=user)


@pytest.fixture
def team(db) -> Team:
    levels = [DistributorLevel.objects.create(name=name, position=n) for n, name in enumerate(("总代", "省代", "推广员"), start=1)]
    user = factories.UserFactory(username="province", role=roles.DISTRIBUTOR)
    top = make("华东总代", levels[0])
    me = make("浙江省代", levels[1], top, user=user)
    direct = make("杭州团长", levels[2], me)
    indirect = make("西湖推广员", levels[2], direct)
    neighbour = make("江苏省代", levels[1], top)
    storefront = Storefront.objects.create(distributor=me, slug="zj-shop", title="浙江小店")
    return Team(top, me, direct, indirect, neighbour, storefront, user, factories.SkuFactory(name="爱奇艺月卡"))


def sale(distributor, day, revenue, *, channel=SalesChannel.PORTAL, orders=1, sku=None):
    """One rollup row of sales (the per-distributor table, the per-SKU one and the uplines' team rows, as the
    rollup writes them)."""
    DistributorSalesDay.objects.create(day=day, distributor_id=distributor.pk, channel=channel, orders=orders, revenue=D(revenue))
    SalesDay.objects.create(
        day=day,
        sku_id=sku.pk if sku else 0,
        channel=channel,
        distributor_id=distributor.pk,
        orders=orders,
        quantity=orders,
        revenue=D(revenue),
    )
    rollup_rows.team(
        day=day, distributor_id=distributor.pk, sku_id=sku.pk if sku else 0, orders=orders, quantity=orders, revenue=D(revenue)
    )


def kpis(dashboard) -> dict:
    return {kpi.key: kpi for kpi in dashboard.kpis}


def chart(dashboard, key):
    return next(c for c in dashboard.charts if c.key == key)


@pytest.fixture
def sales(team):
    sale(team.me, IN_PERIOD, "100.00", sku=team.sku)
    sale(team.me, IN_PERIOD, "30.00", channel=SalesChannel.STOREFRONT, orders=3, sku=team.sku)
    sale(team.me, IN_PREVIOUS, "50.00", sku=team.sku)
    sale(team.direct, IN_PERIOD, "200.00", sku=team.sku)
    sale(team.direct, IN_PREVIOUS, "20.00", sku=team.sku)
    sale(team.indirect, IN_PERIOD + timedelta(days=1), "70.00", sku=team.sku)
    sale(team.indirect, IN_PREVIOUS, "90.00", sku=team.sku)
    # Not mine: my upline's and my neighbour's sales, and my own sales outside both periods.
    sale(team.top, IN_PERIOD, "5000.00", sku=team.sku)
    sale(team.neighbour, IN_PERIOD, "7000.00", sku=team.sku)
    sale(team.me, date(2026, 12, 1), "999.00", sku=team.sku)
    return team


def test_kpis_sum_own_and_team_sales_against_the_previous_period(sales):
    figures = kpis(distributor_dashboard(PERIOD, sales.me))

    assert (figures["own-sales"].value, figures["own-sales"].previous) == (D("130.00"), D("50.00"))
    assert (figures["team-sales"].value, figures["team-sales"].previous) == (D("270.00"), D("110.00"))
    assert figures["own-sales"].change == pytest.approx(160.0)


def test_own_vs_team_per_day_puts_each_sale_on_its_local_day(sales):
    daily = chart(distributor_dashboard(PERIOD, sales.me), "own-vs-team")

    own, team = daily.series
    assert len(daily.categories) == 30
    assert own.data[9] == D("130.00") and sum(own.data) == D("130.00")
    assert team.data[9] == D("200.00") and team.data[10] == D("70.00") and sum(team.data) == D("270.00")


def test_ranking_lists_direct_and_indirect_members_only_with_a_drill_link(sales):
    dashboard = distributor_dashboard(PERIOD, sales.me)

    by_sales = chart(dashboard, "ranking-sales")
    assert by_sales.categories == ["杭州团长 (direct)", "西湖推广员 (indirect)"]
    assert by_sales.series[0].data == [D("200.00"), D("70.00")]
    assert by_sales.series[1].data == [D("20.00"), D("90.00")]
    assert f"member={sales.direct.pk}" in by_sales.drill[0] and "start=2026-11-01" in by_sales.drill[0]
    by_growth = chart(dashboard, "ranking-growth")
    assert by_growth.categories == ["杭州团长 (direct)", "西湖推广员 (indirect)"]
    assert by_growth.series[0].data == [D("180.00"), D("-20.00")]


def test_the_top_of_the_tree_sees_the_whole_tree_but_a_leaf_sees_nothing_above(sales):
    top = kpis(distributor_dashboard(PERIOD, sales.top))
    leaf = kpis(distributor_dashboard(PERIOD, sales.indirect))

    assert top["team-sales"].value == D("7400.00")  # me 130 + direct 200 + indirect 70 + neighbour 7000
    assert (leaf["own-sales"].value, leaf["team-sales"].value) == (D("70.00"), D("0.00"))


def test_funnel_and_conversion_read_visits_of_the_own_storefront_and_its_orders(sales):
    VisitDay.objects.create(day=IN_PERIOD, storefront_id=sales.storefront.pk, visitors=60, views=90)
    VisitDay.objects.create(day=IN_PREVIOUS, storefront_id=sales.storefront.pk, visitors=10, views=10)
    sale(sales.me, IN_PERIOD + timedelta(days=2), "12.00", channel=SalesChannel.CAMPAIGN, orders=3)
    other_shop = Storefront.objects.create(distributor=sales.neighbour, slug="js-shop", title="江苏小店")
    VisitDay.objects.create(day=IN_PERIOD, storefront_id=other_shop.pk, visitors=500, views=900)

    dashboard = distributor_dashboard(PERIOD, sales.me)

    funnel = chart(dashboard, "storefront-funnel")
    assert funnel.series[0].data == [60, 6]  # 3 storefront + 3 campaign orders; portal orders do not count
    figures = kpis(dashboard)
    assert (figures["visitors"].value, figures["visitors"].previous) == (60, 10)
    assert (figures["conversion"].value, figures["conversion"].previous) == (10.0, 0.0)


def test_commission_by_level_with_the_level_labels_of_settlement(team):
    CommissionDay.objects.create(day=IN_PERIOD, distributor_id=team.me.pk, depth=0, accrued=D("3.00"))
    CommissionDay.objects.create(day=IN_PERIOD, distributor_id=team.me.pk, depth=1, accrued=D("4.50"))
    CommissionDay.objects.create(day=IN_PREVIOUS, distributor_id=team.me.pk, depth=2, accrued=D("1.25"))
    CommissionDay.objects.create(day=IN_PERIOD, distributor_id=team.top.pk, depth=1, accrued=D("80.00"))

    dashboard = distributor_dashboard(PERIOD, team.me)

    levels = chart(dashboard, "commission-levels")
    assert levels.categories == ["My own sale", "Direct downline", "Second level", "Third level"]
    assert levels.series[0].data == [D("3.00"), D("4.50"), D("0.00"), D("0.00")]
    assert levels.series[1].data == [D("0.00"), D("0.00"), D("1.25"), D("0.00")]
    assert (kpis(dashboard)["commission"].value, kpis(dashboard)["commission"].previous) == (D("7.50"), D("1.25"))


def test_best_selling_skus_count_the_team_and_not_the_neighbour(sales):
    other_sku = factories.SkuFactory(name="腾讯视频月卡")
    sale(sales.neighbour, IN_PERIOD + timedelta(days=3), "9000.00", sku=other_sku)

    skus = chart(distributor_dashboard(PERIOD, sales.me), "team-skus")

    assert skus.categories == ["爱奇艺月卡"]
    assert skus.series[0].data == [D("400.00")]


def test_member_trend_only_inside_the_downline(sales):
    trend = member_trend_chart(PERIOD, sales.me, sales.indirect)
    assert trend.series[0].data[10] == D("70.00") and sum(trend.series[1].data) == D("90.00")

    for outsider in (sales.neighbour, sales.top, sales.me):
        with pytest.raises(NotInDownline):
            member_trend_chart(PERIOD, sales.me, outsider)


def test_an_empty_period_is_all_zero(team):
    dashboard = distributor_dashboard(PERIOD, team.me)

    assert all(kpi.value == 0 for kpi in dashboard.kpis)
    assert all(c.empty for c in dashboard.charts)


# --- The page -------------------------------------------------------------------------------------------------


@pytest.fixture
def portal(client, sales):
    client.force_login(sales.user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_page_draws_every_chart_and_is_in_the_portal_menu(portal):
    page = portal.get(reverse("dashboards:portal-analytics"), URL_PARAMS).content.decode()

    for key in ("own-vs-team", "ranking-sales", "ranking-growth", "storefront-funnel", "commission-levels", "team-skus"):
        assert f'data-testid="chart-{key}"' in page, key
    assert 'data-testid="portal-link-portal-analytics"' in page
    assert "杭州团长" in page and "江苏省代" not in page


def test_portal_home_links_to_the_dashboard(portal):
    page = portal.get(reverse("channels:portal-home")).content.decode()

    assert f'href="{reverse("dashboards:portal-analytics")}"' in page


def test_drill_down_on_a_member_shows_its_trend(portal, sales):
    page = portal.get(reverse("dashboards:portal-analytics"), {**URL_PARAMS, "member": sales.indirect.pk}).content.decode()

    assert "member-trend" in page and "西湖推广员" in page


@pytest.mark.parametrize("who", ["neighbour", "top", "me"])
def test_drill_down_on_anyone_outside_the_downline_is_404(portal, sales, who):
    outsider = getattr(sales, who)

    response = portal.get(reverse("dashboards:portal-analytics"), {**URL_PARAMS, "member": outsider.pk})

    assert response.status_code == 404


def test_export_of_a_chart_is_its_data_as_xlsx(portal):
    response = portal.get(reverse("dashboards:portal-analytics"), {**URL_PARAMS, "export": "ranking-sales"})

    assert response.status_code == 200
    assert "distributor-ranking-sales-2026-11-01-2026-11-30.xlsx" in response["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(b"".join(response))).active.iter_rows(values_only=True))
    cells = [cell for row in rows for cell in row]
    assert "杭州团长 (direct)" in cells and "江苏省代 (direct)" not in cells
    assert any(cell == 200 or cell == D("200.00") for cell in cells)


def test_only_a_signed_in_distributor_opens_it(client, sales):
    url = reverse("dashboards:portal-analytics")
    assert client.get(url).status_code == 302  # to the login page

    client.force_login(factories.UserFactory(username="merchant-clerk", role=roles.MERCHANT))
    assert client.get(url).status_code == 403


def test_query_count_does_not_grow_with_the_team(portal, sales):
    url, params = reverse("dashboards:portal-analytics"), {**URL_PARAMS, "member": sales.direct.pk}
    with CaptureQueriesContext(connection) as small:
        assert portal.get(url, params).status_code == 200
    for n in range(15):
        member = make(f"推广员 {n}", sales.indirect.level, sales.direct)
        sale(member, IN_PERIOD, f"{n + 1}.00")

    with CaptureQueriesContext(connection) as large:
        assert portal.get(url, params).status_code == 200

    assert len(large) == len(small) <= 25


def test_an_empty_period_renders(portal):
    response = portal.get(reverse("dashboards:portal-analytics"), {"start": "2020-01-01", "end": "2020-01-31"})

    assert response.status_code == 200
