"""The dashboard components: `{% load charts %}` then `{% kpis dashboard %}`, `{% chart chart %}` (one per chart)
and `{% period_form period_form %}` (issue 17, analytics/dashboards.py).

Each component brings its own CSS and scripts the first time it is used on a page (the vendored ECharts and
analytics/static/analytics/charts.js, loaded with `defer`, no inline script), so a template in the ops pages,
the distributor portal or the merchant console needs nothing else. Numbers are formatted for people here:
¥1,234.50, 12.5%, 1,234, +12.5% against the previous period."""

from datetime import timedelta
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.html import conditional_escape, json_script
from django.utils.safestring import mark_safe

from analytics.charts import Chart, Kpi
from analytics.periods import Period
from voucherhub.core.templatetags.vh_format import money_text

register = template.Library()

QUICK_DAYS = (7, 30, 90)
_ASSETS_FLAG = "_vh_chart_assets"


def _assets_once(context) -> bool:
    """True the first time a chart component renders in this page's context: it then links the CSS and JS."""
    if getattr(context, _ASSETS_FLAG, False):
        return False
    setattr(context, _ASSETS_FLAG, True)
    return True


def number_text(value, *, money: bool = False, percent: bool = False) -> str:
    """A value as people read it: ¥1,234.50 for money, 12.5% for a percentage, 1,234 or 1,234.5 otherwise."""
    if value is None or value == "":
        return "—"
    if money:
        return money_text(value)
    if percent:
        return f"{float(value):,.1f}%"
    if isinstance(value, int) or (isinstance(value, Decimal | float) and value == int(value)):
        return f"{int(value):,}"
    return f"{float(value):,.1f}"


def change_text(change: float | None) -> str:
    """A change against the previous period: +12.5%, -3.0%; '' when there is nothing to compare with."""
    if change is None:
        return ""
    return f"{change:+,.1f}%"


def _plain(value):
    """A value for the chart's JSON: ECharts wants numbers, not Decimal strings."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def chart_payload(chart: Chart) -> dict:
    return {
        "kind": chart.kind,
        "categories": [str(c) for c in chart.categories],
        "y_categories": [str(c) for c in chart.y_categories],
        "series": [{"name": str(s.name), "data": _plain(list(s.data)), "dashed": s.dashed} for s in chart.series],
        "money": chart.money,
        "percent": chart.percent,
        "drill": list(chart.drill),
    }


def _table_body(chart: Chart, rows: list[list]) -> str:
    """The table view's rows as HTML, built here rather than in a template loop: a 90-day chart has 90 rows of a
    few cells, which the template engine renders many times slower (bench/dashboard_scale.py)."""
    drills = chart.drill if chart.kind != "heatmap" else []
    lines = []
    for i, row in enumerate(rows):
        label = conditional_escape(row[0])
        if i < len(drills) and drills[i]:
            label = f'<a href="{conditional_escape(drills[i])}">{label}</a>'
        cells = "".join(
            f'<td class="vh-num">{conditional_escape(number_text(value, money=chart.money, percent=chart.percent))}</td>'
            for value in row[1:]
        )
        lines.append(f'<tr><th scope="row">{label}</th>{cells}</tr>')
    return mark_safe("\n".join(lines))  # noqa: S308 - every value above is escaped


def _export_url(request, key: str) -> str:
    params = request.GET.copy() if request is not None else None
    if params is None:
        return f"?export={key}"
    params["export"] = key
    return "?" + params.urlencode()


@register.inclusion_tag("analytics/components/chart.html", takes_context=True)
def chart(context, chart: Chart, tall: bool = False):
    """A chart card: title, note, the drawing, an XLSX link (?export=key, other GET parameters kept) and the
    same data as a table for screen readers."""
    header, rows = chart.table()
    return {
        "chart": chart,
        "assets": _assets_once(context),
        "element_id": f"vh-chart-{chart.key}",
        "data_script": json_script(chart_payload(chart), f"vh-chart-data-{chart.key}"),
        "header": header[1:],
        "corner": header[0],
        "table_body": _table_body(chart, rows),
        "export_url": _export_url(context.get("request"), chart.key),
        "tall": tall or chart.kind == "heatmap",
    }


def kpi_card(kpi: Kpi) -> dict:
    change = kpi.change
    return {
        "kpi": kpi,
        "value": number_text(kpi.value, money=kpi.money, percent=kpi.percent),
        "previous": number_text(kpi.previous, money=kpi.money, percent=kpi.percent) if kpi.previous is not None else "",
        "change": change_text(change),
        "direction": "" if not change else ("up" if change > 0 else "down"),
    }


@register.inclusion_tag("analytics/components/kpis.html", takes_context=True)
def kpis(context, dashboard):
    """The key figures as cards: value, and its change against the previous period."""
    return {"cards": [kpi_card(kpi) for kpi in dashboard.kpis], "assets": _assets_once(context)}


def _quick_picks(request, period: Period | None) -> list[dict]:
    today = timezone.localdate()
    params = request.GET.copy() if request is not None else None
    picks = []
    for days in QUICK_DAYS:
        start = today - timedelta(days=days - 1)
        query = params.copy() if params is not None else None
        if query is not None:
            query.pop("export", None)
            query["start"], query["end"] = start.isoformat(), today.isoformat()
            href = "?" + query.urlencode()
        else:
            href = f"?start={start.isoformat()}&end={today.isoformat()}"
        picks.append({"days": days, "url": href, "current": period == Period(start, today)})
    return picks


def _kept_params(request) -> list[tuple[str, str]]:
    """The GET parameters other than the dates (a drill-down filter such as ?sku=) that the form sends again."""
    if request is None:
        return []
    return [(name, value) for name, values in request.GET.lists() if name not in ("start", "end", "export") for value in values]


@register.inclusion_tag("analytics/components/period_form.html", takes_context=True)
def period_form(context, form):
    """The date range picker: two date inputs, a button, quick picks for the last 7, 30 and 90 days, errors."""
    request = context.get("request")
    period = context.get("period") or (form.cleaned_data.get("period") if form.is_bound and form.is_valid() else None)
    start = form["start"].value() or (period.start.isoformat() if period else "")
    end = form["end"].value() or (period.end.isoformat() if period else "")
    return {
        "form": form,
        "start": start,
        "end": end,
        "period": period,
        "previous": period.previous() if period else None,
        "picks": _quick_picks(request, period),
        "kept": _kept_params(request),
        "errors": [error for errors in form.errors.values() for error in errors] if form.is_bound else [],
        "assets": _assets_once(context),
    }
