"""The merchant's dashboard (issue 17): figures from known rollup rows, the previous period, 新客占比 (and
"unknown" without a known holder), the store drill-down, the XLSX export, who may open it, its query count, an
empty period, and isolation (invariant 5: another merchant's store answers 404, its figures never show)."""

import io
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from analytics.models import RedemptionDay, RedemptionHeat, RedemptionHour
from analytics.periods import Period
from analytics.selectors.merchant import merchant_dashboard
from redemption.models import Merchant, Store
from redemption.services import clerk_link
from tests import factories
from voucherhub.core import roles
from voucherhub.core.errors import NotFound

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
D = Decimal
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))  # previous: 2026-10-02 .. 2026-10-31
IN_PERIOD = date(2026, 11, 10)  # a Tuesday
IN_PREVIOUS = date(2026, 10, 20)
URL_PARAMS = {"start": "2026-11-01", "end": "2026-11-30"}


@dataclass
class Shops:
    merchant: Merchant
    north: Store
    south: Store
    rival: Store  # another merchant's store
    owner: object  # a clerk for every store
    south_clerk: object  # a clerk of the south store only


@pytest.fixture
def shops(db) -> Shops:
    merchant = factories.MerchantFactory(name="星巴克")
    north, south = factories.StoreFactory(merchant=merchant, name="北门店"), factories.StoreFactory(merchant=merchant, name="南门店")
    rival = factories.StoreFactory(name="瑞幸门店")
    owner = factories.UserFactory(username="coffee-owner", role=roles.MERCHANT)
    clerk_link(user=owner, merchant=merchant)
    south_clerk = factories.UserFactory(username="coffee-south", role=roles.MERCHANT)
    clerk_link(user=south_clerk, merchant=merchant, stores=[south])
    return Shops(merchant, north, south, rival, owner, south_clerk)


def used(store, day, *, n=1, amount="30.00", owed="25.00", known=0, new=0, hour=10):
    """Rollup rows of `n` redemptions at `store` on local `day` at local `hour` (the day, heat and hour tables)."""
    measures = {
        "redemptions": n,
        "amount": D(amount),
        "owed": D(owed),
        "known_holders": known,
        "new_holders": new,
    }
    RedemptionDay.objects.create(day=day, sku_id=1, merchant_id=store.merchant_id, store_id=store.pk, **measures)
    heat, _ = RedemptionHeat.objects.get_or_create(
        day=day, merchant_id=store.merchant_id, local_hour=hour, defaults={"weekday": day.weekday()}
    )
    heat.redemptions += n
    heat.save()
    start = datetime.combine(day, time(hour), tzinfo=timezone.get_default_timezone())
    RedemptionHour.objects.create(
        hour=start, sku_id=1, merchant_id=store.merchant_id, store_id=store.pk, weekday=day.weekday(), local_hour=hour, **measures
    )


@pytest.fixture
def history(shops):
    used(shops.north, IN_PERIOD, n=4, amount="120.00", owed="100.00", known=4, new=3, hour=9)
    used(shops.south, IN_PERIOD, n=2, amount="60.00", owed="50.00", known=1, new=0, hour=15)
    used(shops.north, IN_PREVIOUS, n=1, amount="30.00", owed="25.00", known=2, new=2)
    used(shops.rival, IN_PERIOD, n=50, amount="1500.00", owed="1200.00", known=50, new=50, hour=9)
    return shops


def kpis(dashboard) -> dict:
    return {kpi.key: kpi for kpi in dashboard.kpis}


def test_kpis_sum_the_merchants_stores_against_the_previous_period(history):
    figures = kpis(merchant_dashboard(PERIOD, history.merchant))

    assert (figures["redemptions"].value, figures["redemptions"].previous) == (6, 1)
    assert (figures["amount"].value, figures["amount"].previous) == (D("180.00"), D("30.00"))
    assert (figures["owed"].value, figures["owed"].previous) == (D("150.00"), D("25.00"))
    assert (figures["new-share"].value, figures["new-share"].previous) == (60.0, 100.0)  # 3 of 5 known holders


def test_new_share_is_unknown_without_a_known_holder(shops):
    used(shops.north, IN_PERIOD, n=3)
    used(shops.north, IN_PREVIOUS, n=2, known=2, new=1)

    share = kpis(merchant_dashboard(PERIOD, shops.merchant))["new-share"]

    assert share.value is None and share.change is None


def test_charts_per_day_heatmap_stores_holders_and_owed(history):
    dashboard = merchant_dashboard(PERIOD, history.merchant)

    per_day = dashboard.chart("redemptions-per-day")
    assert per_day.series[0].data[9] == 6 and sum(per_day.series[0].data) == 6
    assert sum(per_day.series[1].data) == 1  # the previous period, dashed
    heat = dashboard.chart("redemption-heat")
    assert sorted(heat.series[0].data) == [[9, 1, 4], [15, 1, 2]]  # Tuesday is row 1
    stores = dashboard.chart("redemptions-by-store")
    assert stores.categories == ["北门店", "南门店"] and stores.series[0].data == [4, 2]
    assert f"store={history.north.pk}" in stores.drill[0]
    new, returning = dashboard.chart("holders-new-returning").series
    assert (new.data[9], returning.data[9]) == (3, 2)
    owed, running = dashboard.chart("owed").series
    assert owed.data[9] == D("150.00") and running.data[8] == D("0.00") and running.data[-1] == D("150.00")


def test_one_store_drill_down_narrows_every_chart(history):
    dashboard = merchant_dashboard(PERIOD, history.merchant, history.south.pk)

    assert kpis(dashboard)["redemptions"].value == 2
    assert dashboard.chart("redemption-heat").series[0].data == [[15, 1, 2]]
    assert dashboard.chart("redemptions-by-store").categories == ["南门店"]


def test_another_merchants_store_is_not_found(history):
    with pytest.raises(NotFound):
        merchant_dashboard(PERIOD, history.merchant, history.rival.pk)


def test_an_empty_period_is_all_zero(shops):
    dashboard = merchant_dashboard(PERIOD, shops.merchant)

    assert [kpi.value for kpi in dashboard.kpis] == [0, D("0.00"), D("0.00"), None]
    assert all(c.empty for c in dashboard.charts)


# --- The page -------------------------------------------------------------------------------------------------


def console(client, user):
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_page_draws_every_chart_and_is_in_the_console_menu(client, history):
    page = console(client, history.owner).get(reverse("dashboards:merchant-analytics"), URL_PARAMS).content.decode()

    for key in ("redemptions-per-day", "redemption-heat", "redemptions-by-store", "holders-new-returning", "owed"):
        assert f'data-testid="chart-{key}"' in page, key
    assert 'data-testid="console-link-dashboards:merchant-analytics"' in page
    assert "北门店" in page and "瑞幸门店" not in page


def test_drill_down_on_an_own_store(client, history):
    page = console(client, history.owner).get(reverse("dashboards:merchant-analytics"), {**URL_PARAMS, "store": history.north.pk})

    assert page.status_code == 200 and 'data-testid="store-filter"' in page.content.decode()


def test_another_merchants_store_answers_404(client, history):
    response = console(client, history.owner).get(reverse("dashboards:merchant-analytics"), {**URL_PARAMS, "store": history.rival.pk})

    assert response.status_code == 404


def test_a_store_clerk_sees_only_its_stores(client, history):
    url = reverse("dashboards:merchant-analytics")
    client = console(client, history.south_clerk)

    page = client.get(url, URL_PARAMS).content.decode()

    assert "南门店" in page and "北门店" not in page
    assert client.get(url, {**URL_PARAMS, "store": history.north.pk}).status_code == 404


def test_export_of_a_chart_is_its_data_as_xlsx(client, history):
    response = console(client, history.owner).get(
        reverse("dashboards:merchant-analytics"), {**URL_PARAMS, "export": "redemptions-by-store"}
    )

    assert "merchant-redemptions-by-store-2026-11-01-2026-11-30.xlsx" in response["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert ("北门店", 4) in [tuple(row[:2]) for row in rows]
    assert "瑞幸门店" not in [row[0] for row in rows]


def test_only_a_clerk_opens_it(client, history):
    url = reverse("dashboards:merchant-analytics")
    assert client.get(url).status_code == 302

    client.force_login(factories.UserFactory(username="someone", role=roles.DISTRIBUTOR))
    assert client.get(url).status_code == 403


def test_query_count_does_not_grow_with_the_stores(client, history):
    url, client = reverse("dashboards:merchant-analytics"), console(client, history.owner)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url, URL_PARAMS).status_code == 200
    for n in range(12):
        used(factories.StoreFactory(merchant=history.merchant), IN_PERIOD, hour=n)

    with CaptureQueriesContext(connection) as large:
        assert client.get(url, URL_PARAMS).status_code == 200

    assert len(large) == len(small) <= 25


def test_an_empty_period_renders(client, shops):
    response = console(client, shops.owner).get(reverse("dashboards:merchant-analytics"), {"start": "2020-01-01", "end": "2020-01-31"})

    assert response.status_code == 200
