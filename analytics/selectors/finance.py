"""The finance dashboard (docs/analytics.md, "Finance"): read from the rollups only, a fixed number of queries
whatever the period or the number of distributors, campaigns and upstreams.

Definitions (days are local days in settings.TIME_ZONE):

* revenue: what buyers paid for the orders paid that day (SkuSalesDay.revenue, order totals, net of their
  discounts) less what was refunded of those orders (SkuSalesDay.refunded). The same orders and totals as
  settlement's finance home ("Today by channel"); its "today's revenue" is the ledger's REVENUE account, which
  also holds the platform-funded discounts (booked back as marketing expense, shown here on its own).
* cost: cost of goods of those orders (SkuSalesDay.cost, unit cost times quantity).
* margin: revenue - cost (gross: before commission and marketing expense); margin % = margin / revenue.
* commission accrued / released / clawed back: CommissionDay by the day it happened, every level (depth)
  including the storefront seller's retail margin (depth 0); frozen: what was still frozen at the day's end.
* marketing expense: CampaignDay.expense (the discount the platform funded, and free codes).
* supplier payables: SupplierDay.cost, what direct top-ups finished that day owe their upstream supplier.
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from analytics.charts import Chart, Kpi, Series
from analytics.dashboards import Dashboard
from analytics.models import CampaignDay, CommissionDay, CommissionEarnerDay, CommissionLevelDay, SkuSalesDay, SupplierDay
from analytics.periods import Period
from channels.models import Distributor
from marketing.models import Campaign
from supply.models import Upstream
from voucherhub.core.money import ZERO
from voucherhub.core.templatetags.vh_format import day_text

TOP_DISTRIBUTORS = 10
TOP_CAMPAIGNS = 10
TOP_UPSTREAMS = 6


def _money(value) -> Decimal:
    return value if value is not None else ZERO


def _both(period: Period) -> Q:
    """Rows of the period and of the previous one (one query serves the chart and the comparison)."""
    return Q(day__gte=period.previous().start, day__lte=period.end)


def _in(period: Period) -> Q:
    return Q(day__gte=period.start, day__lte=period.end)


def _split(rows: dict[date, dict], period: Period, key: str) -> tuple[Decimal, Decimal]:
    """(this period's total, the previous period's total) of `key` over per-day rows."""
    current = sum((row[key] for day, row in rows.items() if day >= period.start), ZERO)
    previous = sum((row[key] for day, row in rows.items() if day < period.start), ZERO)
    return current, previous


def _daily(rows: dict[date, dict], days: list[date], key: str) -> list[Decimal]:
    return [rows[day][key] if day in rows else ZERO for day in days]


def _sales_by_day(period: Period) -> dict[date, dict]:
    """Per day of both periods: revenue (net of refunds), cost and margin."""
    rows = (
        SkuSalesDay.objects.filter(_both(period))
        .values("day")
        .annotate(paid=Sum("revenue"), refunded=Sum("refunded"), cost=Sum("cost"))
        .order_by()
    )
    result = {}
    for row in rows:
        revenue = _money(row["paid"]) - _money(row["refunded"])
        cost = _money(row["cost"])
        result[row["day"]] = {"revenue": revenue, "cost": cost, "margin": revenue - cost}
    return result


def _commission_by_day(period: Period, distributor_id: int | None) -> dict[date, dict]:
    if distributor_id is None:  # every distributor: the per-level table, a few rows per day
        rows = CommissionLevelDay.objects.filter(_both(period))
    else:
        rows = CommissionDay.objects.filter(_both(period), distributor_id=distributor_id)
    sums = {key: Sum(key) for key in ("accrued", "released", "clawed_back", "frozen")}
    return {row.pop("day"): {k: _money(v) for k, v in row.items()} for row in rows.values("day").annotate(**sums).order_by()}


def margin_percent(margin: Decimal, revenue: Decimal) -> Decimal | None:
    """Margin as a percentage of revenue, one decimal; None without revenue."""
    if not revenue:
        return None
    return (margin / revenue * 100).quantize(Decimal("0.1"))


def _url(name: str, period: Period, **params) -> str:
    query = {"start": period.start.isoformat(), "end": period.end.isoformat(), **params}
    return f"{reverse(name)}?{urlencode(query)}"


def _sales_kpis(sales: dict[date, dict], period: Period) -> list[Kpi]:
    revenue, revenue_before = _split(sales, period, "revenue")
    cost, cost_before = _split(sales, period, "cost")
    margin, margin_before = revenue - cost, revenue_before - cost_before
    return [
        Kpi("revenue", _("Revenue"), revenue, revenue_before, money=True),
        Kpi("cost", _("Cost of goods"), cost, cost_before, money=True),
        Kpi("margin", _("Gross margin"), margin, margin_before, money=True),
        _margin_rate_kpi(margin_percent(margin, revenue), margin_percent(margin_before, revenue_before)),
    ]


def _margin_rate_kpi(value: Decimal | None, previous: Decimal | None) -> Kpi:
    """Without revenue there is no rate ("—") and nothing to compare."""
    if value is None:
        return Kpi("margin_percent", _("Gross margin rate"), None, None, percent=True)
    return Kpi("margin_percent", _("Gross margin rate"), value, previous, percent=True)


def _margin_chart(sales: dict[date, dict], period: Period) -> Chart:
    days = period.each_day()
    before = period.previous().each_day()
    return Chart(
        key="margin",
        kind="line",
        title=_("Revenue, cost and gross margin per day"),
        categories=[day_text(day) for day in days],
        series=[
            Series(_("Revenue"), _daily(sales, days, "revenue")),
            Series(_("Cost of goods"), _daily(sales, days, "cost")),
            Series(_("Gross margin"), _daily(sales, days, "margin")),
            Series(_("Revenue, previous period"), _daily(sales, before, "revenue"), dashed=True),
        ],
        money=True,
        note=_("Orders by the local day they were paid; revenue is what buyers paid less refunds, margin is revenue less cost of goods."),
    )


def _commission_chart(commission: dict[date, dict], period: Period, distributor_name: str | None) -> Chart:
    days = period.each_day()
    title = _("Commission over time")
    if distributor_name:
        title = _("Commission over time: %(name)s") % {"name": distributor_name}
    return Chart(
        key="commission",
        kind="line",
        title=title,
        categories=[day_text(day) for day in days],
        series=[
            Series(_("Accrued"), _daily(commission, days, "accrued")),
            Series(_("Frozen at the day's end"), _daily(commission, days, "frozen")),
            Series(_("Released"), _daily(commission, days, "released")),
            Series(_("Clawed back"), _daily(commission, days, "clawed_back")),
        ],
        money=True,
        note=_("Every level, the storefront seller's retail margin included; accrued on the day of the order's payment."),
    )


def _ranking_chart(period: Period) -> Chart:
    """分销商佣金排行: the top distributors by commission accrued; a click narrows the commission charts to one."""
    rows = list(
        CommissionEarnerDay.objects.filter(_in(period))
        .values("distributor_id")
        .annotate(accrued=Sum("accrued"), released=Sum("released"))
        .filter(accrued__gt=0)
        .order_by("-accrued", "distributor_id")[:TOP_DISTRIBUTORS]
    )
    names = dict(Distributor.objects.filter(pk__in=[row["distributor_id"] for row in rows]).values_list("pk", "name"))
    return Chart(
        key="commission_ranking",
        kind="hbar",
        title=_("Top distributors by commission accrued"),
        categories=[names.get(row["distributor_id"], f"#{row['distributor_id']}") for row in rows],
        series=[
            Series(_("Accrued"), [_money(row["accrued"]) for row in rows]),
            Series(_("Released"), [_money(row["released"]) for row in rows]),
        ],
        money=True,
        drill=[_url("dashboards:finance-analytics", period, distributor=row["distributor_id"]) for row in rows],
        note=_("Click a distributor to see its commission over time."),
    )


def _payables(period: Period) -> tuple[Chart, Decimal, Decimal]:
    """Supplier payables per upstream and day (the top upstreams, the rest together), with both periods' totals."""
    rows = list(SupplierDay.objects.filter(_both(period)).values("day", "upstream_id").annotate(cost=Sum("cost")).order_by())
    current = [row for row in rows if row["day"] >= period.start]
    total = sum((_money(row["cost"]) for row in current), ZERO)
    previous = sum((_money(row["cost"]) for row in rows if row["day"] < period.start), ZERO)
    per_upstream = defaultdict(lambda: ZERO)
    for row in current:
        per_upstream[row["upstream_id"]] += _money(row["cost"])
    top = sorted(per_upstream, key=lambda upstream: (-per_upstream[upstream], upstream))[:TOP_UPSTREAMS]
    names = dict(Upstream.objects.filter(pk__in=top).values_list("pk", "supplier__name"))
    days = period.each_day()
    grid = defaultdict(lambda: ZERO)
    for row in current:
        grid[(row["upstream_id"] if row["upstream_id"] in top else None, row["day"])] += _money(row["cost"])
    series = [Series(names.get(upstream, f"#{upstream}"), [grid[(upstream, day)] for day in days]) for upstream in top]
    if len(per_upstream) > len(top):
        series.append(Series(_("Other upstreams"), [grid[(None, day)] for day in days]))
    chart = Chart(
        key="payables",
        kind="stacked",
        title=_("Supplier payables by upstream"),
        categories=[day_text(day) for day in days],
        series=series,
        money=True,
        note=_("What the direct top-ups finished that day owe their upstream supplier."),
    )
    return chart, total, previous


def _expense(period: Period) -> tuple[Chart, Decimal, Decimal]:
    """Marketing expense by campaign (the top campaigns of the period), with both periods' totals."""
    current, previous = _in(period), Q(day__gte=period.previous().start, day__lt=period.start)
    totals = CampaignDay.objects.filter(_both(period)).aggregate(now=Sum("expense", filter=current), before=Sum("expense", filter=previous))
    rows = list(
        CampaignDay.objects.filter(current)
        .values("campaign_id")
        .annotate(expense=Sum("expense"))
        .filter(expense__gt=0)
        .order_by("-expense", "campaign_id")[:TOP_CAMPAIGNS]
    )
    names = dict(Campaign.objects.filter(pk__in=[row["campaign_id"] for row in rows]).values_list("pk", "name"))
    chart = Chart(
        key="marketing_expense",
        kind="hbar",
        title=_("Marketing expense by campaign"),
        categories=[names.get(row["campaign_id"], f"#{row['campaign_id']}") for row in rows],
        series=[Series(_("Marketing expense"), [_money(row["expense"]) for row in rows])],
        money=True,
        drill=[_url("dashboards:campaign-analytics", period, campaign=row["campaign_id"]) for row in rows],
        note=_("The discounts the platform funded and the free codes it gave, by the day of the order."),
    )
    return chart, _money(totals["now"]), _money(totals["before"])


def finance_dashboard(period: Period, distributor_id: int | None = None) -> Dashboard:
    """Revenue, cost, margin, commission, supplier payables and marketing expense of `period` against the
    previous period; `distributor_id` narrows the commission-over-time chart to one distributor."""
    sales = _sales_by_day(period)
    commission = _commission_by_day(period, None)
    scoped = commission if distributor_id is None else _commission_by_day(period, distributor_id)
    distributor_name = None
    if distributor_id is not None:
        distributor_name = Distributor.objects.filter(pk=distributor_id).values_list("name", flat=True).first() or f"#{distributor_id}"
    payables, payable, payable_before = _payables(period)
    expense_chart, expense, expense_before = _expense(period)
    accrued, accrued_before = _split(commission, period, "accrued")
    kpis = [
        *_sales_kpis(sales, period),
        Kpi("commission", _("Commission accrued"), accrued, accrued_before, money=True),
        Kpi("marketing_expense", _("Marketing expense"), expense, expense_before, money=True),
        Kpi("payables", _("Supplier payables"), payable, payable_before, money=True),
    ]
    charts = [
        _margin_chart(sales, period),
        _commission_chart(scoped, period, distributor_name),
        _ranking_chart(period),
        payables,
        expense_chart,
    ]
    return Dashboard(kpis=kpis, charts=charts)
