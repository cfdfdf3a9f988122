"""The chart components ({% load charts %}), a chart's XLSX export and the dashboard period (issue 17)."""

import io
import json
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.http import QueryDict
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from analytics.charts import Chart, Kpi, Series
from analytics.dashboards import Dashboard, dashboard_response
from analytics.exports import chart_xlsx, export_filename
from analytics.periods import Period, period_from
from analytics.templatetags.charts import change_text, number_text

D = Decimal

pytestmark = pytest.mark.usefixtures("english")


def sales_chart(**overrides) -> Chart:
    values = {
        "key": "sales-trend",
        "kind": "line",
        "title": "Sales per day",
        "categories": ["2026-12-01", "2026-12-02"],
        "series": [Series("This period", [D("1234.5"), D("10")]), Series("Previous period", [D("99.999"), D("0")], dashed=True)],
        "money": True,
        "drill": ["/x/?day=1", "/x/?day=2"],
        "note": "What the buyers paid.",
    }
    return Chart(**(values | overrides))


def render(source: str, request=None, **context) -> str:
    return Template("{% load charts %}" + source).render(Context({"request": request, **context}))


def chart_data(page: str, key: str) -> dict:
    marker = f'<script id="vh-chart-data-{key}" type="application/json">'
    return json.loads(page.split(marker, 1)[1].split("</script>", 1)[0])


# --- formatting -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (D("1234.5"), "money", "¥1,234.50"),
        (D("-3"), "money", "-¥3.00"),
        (12.345, "percent", "12.3%"),
        (1234, "", "1,234"),
        (D("2.50"), "", "2.5"),
        (None, "", "—"),
    ],
)
def test_numbers_are_formatted_for_people(value, kind, text):
    assert number_text(value, money=kind == "money", percent=kind == "percent") == text


def test_a_change_against_the_previous_period_has_its_sign():
    assert change_text(Kpi("k", "K", 1125, 1000).change) == "+12.5%"
    assert change_text(Kpi("k", "K", 50, 200).change) == "-75.0%"
    assert change_text(Kpi("k", "K", 50, 0).change) == ""


# --- {% chart %} ------------------------------------------------------------------------------------------------


def test_the_chart_tag_embeds_its_data_as_json_and_links_the_scripts_once():
    request = RequestFactory().get("/dash/", {"sku": "7", "start": "2026-12-01"})
    page = render("{% chart a %}{% chart b %}", request, a=sales_chart(), b=sales_chart(key="other", kind="bar"))

    data = chart_data(page, "sales-trend")
    assert data["kind"] == "line" and data["money"] is True
    assert data["series"][0]["data"] == [1234.5, 10.0]
    assert data["series"][1]["dashed"] is True
    assert data["drill"] == ["/x/?day=1", "/x/?day=2"]
    assert 'data-chart="vh-chart-data-sales-trend"' in page and 'id="vh-chart-sales-trend"' in page
    assert page.count("echarts.min.js") == 1 and page.count("analytics/charts.js") == 1 and page.count("charts.css") == 1
    assert "<script>" not in page  # only src= and JSON data blocks: the CSP forbids inline script


def test_the_chart_tag_prints_the_table_view_with_formatted_values_and_drill_links():
    page = render("{% chart a %}", RequestFactory().get("/"), a=sales_chart())

    table = page.split('data-testid="table-sales-trend">', 1)[1].split("</table>", 1)[0]
    assert '<th scope="col" class="vh-num">This period</th>' in table
    assert '<a href="/x/?day=1">2026-12-01</a>' in table
    assert "¥1,234.50" in table and "¥100.00" in table and "¥0.00" in table
    assert "<details" in page and "Sales per day" in page and "What the buyers paid." in page


def test_the_export_link_keeps_the_other_parameters():
    request = RequestFactory().get("/dash/", {"sku": "7", "start": "2026-12-01", "export": "old"})
    page = render("{% chart a %}", request, a=sales_chart())

    href = page.split('data-testid="export-sales-trend"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    params = QueryDict(href.removeprefix("?").replace("&amp;", "&"))
    assert params["export"] == "sales-trend" and params["sku"] == "7" and params["start"] == "2026-12-01"
    assert params.getlist("export") == ["sales-trend"]


def test_an_empty_chart_says_so_instead_of_drawing():
    empty = sales_chart(series=[Series("This period", [0, 0])])
    page = render("{% chart a %}", RequestFactory().get("/"), a=empty)

    assert "vh-chart--empty" in page
    assert page.count("No data for this period") >= 2  # the element's text and what charts.js shows


def test_a_heatmap_table_has_one_row_per_y_category():
    heat = Chart("heat", "heatmap", "Peak hours", ["0", "1"], [Series("Redemptions", [[0, 0, 3], [1, 1, 5]])], y_categories=["Mon", "Tue"])
    page = render("{% chart a %}", RequestFactory().get("/"), a=heat)

    table = page.split('data-testid="table-heat">', 1)[1].split("</table>", 1)[0]
    assert table.count('<th scope="row">') == 2
    assert '<th scope="row">Mon</th><td class="vh-num">3</td><td class="vh-num">0</td>' in table
    assert "vh-chart--tall" in page


# --- {% kpis %} and {% period_form %} ---------------------------------------------------------------------------


def test_the_kpi_cards_show_value_and_change():
    dashboard = Dashboard(
        kpis=[Kpi("sales", "Sales", D("1234.5"), D("1097.33"), money=True), Kpi("rate", "Rate", 50.0, None, percent=True)]
    )
    page = render("{% kpis d %}", RequestFactory().get("/"), d=dashboard)

    assert 'data-testid="kpi-value-sales">¥1,234.50<' in page
    assert "+12.5%" in page and "¥1,097.33" in page
    assert 'data-testid="kpi-value-rate">50.0%<' in page
    assert 'data-testid="kpi-change-rate"' not in page


def test_the_period_form_has_date_inputs_quick_picks_and_keeps_the_filter():
    request = RequestFactory().get("/dash/", {"sku": "7", "start": "2026-11-01", "end": "2026-11-30"})
    period, form = period_from(request.GET)
    page = render("{% period_form f %}", request, f=form, period=period)

    assert 'type="date" name="start" value="2026-11-01"' in page and 'type="date" name="end" value="2026-11-30"' in page
    assert '<input type="hidden" name="sku" value="7">' in page
    today = timezone.localdate()
    assert f"start={(today - timedelta(days=6)).isoformat()}" in page and "sku=7" in page
    for days in (7, 30, 90):
        assert f'data-testid="period-{days}"' in page
    assert "2 Oct 2026" in page and "31 Oct 2026" in page  # the previous period it is compared with


def test_the_period_form_shows_its_errors():
    request = RequestFactory().get("/dash/", {"start": "2026-12-10", "end": "2026-12-01"})
    period, form = period_from(request.GET)
    page = render("{% period_form f %}", request, f=form, period=period)

    assert 'role="alert"' in page and "The start date must not be after the end date." in page


# --- the period ------------------------------------------------------------------------------------------------


def test_the_period_is_read_from_the_query():
    period, form = period_from(QueryDict("start=2026-11-01&end=2026-11-30"))
    assert form.is_valid() and period == Period(date(2026, 11, 1), date(2026, 11, 30))
    assert period.days == 30 and period.previous() == Period(date(2026, 10, 2), date(2026, 10, 31))


def test_the_default_period_is_the_last_30_days():
    period, _form = period_from(QueryDict(""))
    assert period.end == timezone.localdate() and period.days == 30


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-12-10&end=2026-12-01", "must not be after"),
        ("start=2025-01-01&end=2026-12-01", "at most 366 days"),
        ("start=2026-13-01", "valid date"),
    ],
)
def test_a_bad_period_is_an_error_and_the_default_is_shown(query, message):
    period, form = period_from(QueryDict(query))
    assert not form.is_valid()
    assert message in " ".join(str(e) for errors in form.errors.values() for e in errors)
    assert period.end == timezone.localdate() and period.days == 30


def test_366_days_are_allowed():
    period, form = period_from(QueryDict("start=2025-12-01&end=2026-12-01"))
    assert form.is_valid() and period.days == 366


# --- XLSX -------------------------------------------------------------------------------------------------------


def test_a_chart_exports_as_xlsx_with_a_header_and_money_as_numbers():
    book = openpyxl.load_workbook(io.BytesIO(chart_xlsx(sales_chart())))
    sheet = book.active

    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Sales per day", "This period", "Previous period")
    assert rows[1] == ("2026-12-01", 1234.5, 100)
    assert rows[2] == ("2026-12-02", 10, 0)
    assert sheet["B2"].number_format == "#,##0.00"
    assert sheet.title == "sales-trend"


def test_a_percent_chart_exports_rounded_numbers():
    rate = Chart("rate", "bar", "Rate", ["A"], [Series("Rate", [D("33.3333")])], percent=True)
    rows = list(openpyxl.load_workbook(io.BytesIO(chart_xlsx(rate))).active.iter_rows(values_only=True))
    assert rows[1] == ("A", 33.3)


def test_the_export_filename_has_no_spaces():
    name = export_filename("ops analytics", sales_chart(key="top skus"), Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert name == "ops-analytics-top-skus-2026-11-01-2026-11-30.xlsx"


# --- dashboard_response ---------------------------------------------------------------------------------------


def build(period: Period) -> Dashboard:
    return Dashboard(kpis=[Kpi("sales", "Sales", D("10"), money=True)], charts=[sales_chart(title=f"Sales {period.start}")])


def test_dashboard_response_answers_export_with_the_chart_xlsx(rf):
    request = rf.get("/dash/", {"start": "2026-11-01", "end": "2026-11-30", "export": "sales-trend"})
    response = dashboard_response(request, build=build, template="unused.html", filename="ops")

    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert response["Content-Disposition"] == 'attachment; filename="ops-sales-trend-2026-11-01-2026-11-30.xlsx"'
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet["A1"].value == "Sales 2026-11-01"


def test_dashboard_response_refuses_an_unknown_chart(rf):
    from django.http import Http404

    with pytest.raises(Http404):
        dashboard_response(rf.get("/dash/", {"export": "nope"}), build=build, template="unused.html", filename="ops")


def test_dashboard_chart_finds_by_key():
    dashboard = build(Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert dashboard.chart("sales-trend").kind == "line"
    with pytest.raises(KeyError):
        dashboard.chart("missing")
