"""A dashboard page: key figures and charts for a period, and the XLSX of any one chart (issue 17).

A role's selector (analytics/selectors/<role>.py) builds a `Dashboard` for a `Period`; its view hands the
selector to `dashboard_response`, which reads the period from ?start=&end=, answers ?export=<chart key> with that
chart's XLSX and otherwise renders the page. Templates draw it with `{% load charts %}`: `{% kpis dashboard %}`,
`{% chart chart %}` and `{% period_form period_form %}` (analytics/templatetags/charts.py)."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import Http404, HttpResponse
from django.shortcuts import render

from analytics.charts import Chart, Kpi
from analytics.exports import chart_xlsx, export_filename
from analytics.periods import Period, period_from

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Dashboard:
    kpis: list[Kpi] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    def chart(self, key: str) -> Chart:
        """The chart with this key; KeyError if the dashboard has none."""
        for chart in self.charts:
            if chart.key == key:
                return chart
        raise KeyError(key)

    def kpi(self, key: str) -> Kpi:
        """The key figure with this key; KeyError if the dashboard has none."""
        for kpi in self.kpis:
            if kpi.key == key:
                return kpi
        raise KeyError(key)


def xlsx_response(chart: Chart, *, filename: str, period: Period) -> HttpResponse:
    response = HttpResponse(chart_xlsx(chart), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(filename, chart, period)}"'
    return response


def dashboard_response(
    request, *, build: Callable[[Period], Dashboard], template: str, context: dict | None = None, filename: str
) -> HttpResponse:
    """The dashboard page for the period in request.GET, or with ?export=<chart key> that chart's XLSX (404 for
    an unknown key). `build(period)` returns the Dashboard; `context` adds to the template's context."""
    period, form = period_from(request.GET)
    dashboard = build(period)
    key = request.GET.get("export")
    if key:
        try:
            chart = dashboard.chart(key)
        except KeyError:
            raise Http404(f"no chart {key!r} on this dashboard") from None
        return xlsx_response(chart, filename=filename, period=period)
    page = {"dashboard": dashboard, "period": period, "period_form": form, **(context or {})}
    return render(request, template, page)
