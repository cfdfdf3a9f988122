"""The distributor's dashboard (总代, 省代, 推广员 / 团长 alike): its own and its team's sales, commission and storefront,
read from the rollups only (issue 17, docs/analytics.md "Distributor dashboard").

Scope (invariant 5): a distributor sees itself and its downline (channels' materialised path), never a neighbour
or an upline. "Team" is the downline without the distributor itself; days are local days (settings.TIME_ZONE).
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from analytics.charts import Chart, Kpi, Series
from analytics.dashboards import Dashboard
from analytics.models import CommissionDay, DistributorSalesDay, SalesChannel, SalesDay, TeamMemberDay, TeamSalesDay, TeamSkuDay, VisitDay
from analytics.periods import Period
from catalog.models import Sku
from channels import selectors as channel_selectors
from channels.errors import NotInDownline
from channels.models import Distributor
from settlement.models import CommissionAccrual
from voucherhub.core.templatetags.vh_format import day_text

ZERO = Decimal("0.00")
RANKING_SIZE = 10
STOREFRONT_CHANNELS = (SalesChannel.STOREFRONT, SalesChannel.CAMPAIGN)
COMMISSION_DEPTHS = (0, 1, 2, 3)


@dataclass
class _Sales:
    """Revenue per local day of the distributor itself and of its team, and its own storefront orders."""

    own: dict  # day -> Decimal
    team: dict  # day -> Decimal
    storefront_orders: dict  # day -> int


@dataclass
class _Member:
    """A downline member's sales in the period and the previous one."""

    pk: int
    now: Decimal
    before: Decimal
    name: str = ""
    direct: bool = False

    @property
    def growth(self) -> Decimal:
        return self.now - self.before


def distributor_dashboard(period: Period, distributor: Distributor, *, member: Distributor | None = None) -> Dashboard:
    """KPIs and charts of `distributor` for `period` against the previous period; `member` (a distributor of its
    downline, else NotInDownline) adds that member's daily sales (the ranking's drill-down)."""
    sales = _sales(period, distributor)
    commission = _commission(period, distributor)
    visitors = _visitors(period, distributor)
    ranking = _ranking(period, distributor)
    charts = [
        _own_vs_team_chart(period, sales),
        _ranking_chart(period, ranking, key="ranking-sales", by_growth=False),
        _ranking_chart(period, ranking, key="ranking-growth", by_growth=True),
        _funnel_chart(period, sales, visitors),
        _commission_chart(commission),
        _skus_chart(period, distributor),
    ]
    if member is not None:
        charts.insert(0, member_trend_chart(period, distributor, member))
    return Dashboard(kpis=_kpis(period, sales, commission, visitors), charts=charts)


def _both(period: Period) -> Q:
    return Q(day__gte=period.previous().start, day__lte=period.end)


def _sales(period: Period, distributor: Distributor) -> _Sales:
    """Own sales from the distributor's DistributorSalesDay rows, the team's from TeamSalesDay (one row per day and
    depth below it: orders of its downline by their chain), both read by index on (distributor, day)."""
    own, team, storefront = defaultdict(lambda: ZERO), defaultdict(lambda: ZERO), defaultdict(int)
    rows = DistributorSalesDay.objects.filter(_both(period), distributor_id=distributor.pk).values_list(
        "day", "channel", "revenue", "orders"
    )
    for day, channel, revenue, orders in rows:
        own[day] += revenue
        if channel in STOREFRONT_CHANNELS:
            storefront[day] += orders
    for day, revenue in TeamSalesDay.objects.filter(_both(period), ancestor_id=distributor.pk).values_list("day", "revenue"):
        team[day] += revenue
    return _Sales(own=own, team=team, storefront_orders=storefront)


def _sum(series: dict, period: Period, zero=ZERO):
    return sum((value for day, value in series.items() if period.start <= day <= period.end), start=zero)


def _commission(period: Period, distributor: Distributor) -> dict[int, tuple[Decimal, Decimal]]:
    """depth -> (accrued in the period, accrued in the previous period)."""
    previous = period.previous()
    rows = (
        CommissionDay.objects.filter(_both(period), distributor_id=distributor.pk)
        .values("depth")
        .annotate(
            now=Sum("accrued", filter=Q(day__gte=period.start)),
            before=Sum("accrued", filter=Q(day__lte=previous.end)),
        )
        .order_by()
    )
    return {row["depth"]: (row["now"] or ZERO, row["before"] or ZERO) for row in rows}


def _visitors(period: Period, distributor: Distributor) -> tuple[int, int]:
    """(visitors of the distributor's own storefront in the period, in the previous period)."""
    storefront = channel_selectors.storefront_of(distributor)
    if storefront is None:
        return 0, 0
    totals = VisitDay.objects.filter(_both(period), storefront_id=storefront.pk).aggregate(
        now=Sum("visitors", filter=Q(day__gte=period.start)), before=Sum("visitors", filter=Q(day__lt=period.start))
    )
    return totals["now"] or 0, totals["before"] or 0


def _conversion(orders: int, visitors: int) -> float:
    return round(orders * 100 / visitors, 1) if visitors else 0.0


def _kpis(period: Period, sales: _Sales, commission: dict, visitors: tuple[int, int]) -> list[Kpi]:
    previous = period.previous()
    orders = (_sum(sales.storefront_orders, period, 0), _sum(sales.storefront_orders, previous, 0))
    return [
        Kpi("own-sales", _("Own sales"), _sum(sales.own, period), _sum(sales.own, previous), money=True),
        Kpi("team-sales", _("Team sales"), _sum(sales.team, period), _sum(sales.team, previous), money=True),
        Kpi(
            "commission",
            _("Commission earned"),
            sum((now for now, _before in commission.values()), start=ZERO),
            sum((before for _now, before in commission.values()), start=ZERO),
            money=True,
        ),
        Kpi("visitors", _("Storefront visitors"), visitors[0], visitors[1]),
        Kpi(
            "conversion",
            _("Storefront conversion"),
            _conversion(orders[0], visitors[0]),
            _conversion(orders[1], visitors[1]) if visitors[1] else None,
            percent=True,
        ),
    ]


def _own_vs_team_chart(period: Period, sales: _Sales) -> Chart:
    days = period.each_day()
    return Chart(
        key="own-vs-team",
        kind="line",
        title=_("Own and team sales per day"),
        categories=[day_text(day) for day in days],
        series=[
            Series(_("Own sales"), [sales.own.get(day, ZERO) for day in days]),
            Series(_("Team sales"), [sales.team.get(day, ZERO) for day in days]),
        ],
        money=True,
        note=_("What the buyers paid for paid orders, by the local day of payment; the team is your whole downline."),
    )


def _drill(period: Period, **params) -> str:
    """A link to this dashboard (relative: same page) for the same period with a filter such as member=ID."""
    return "?" + urlencode({"start": period.start.isoformat(), "end": period.end.isoformat(), **params})


def _ranking(period: Period, distributor: Distributor) -> list[_Member]:
    """Every downline member (direct and indirect) that sold in the period or the previous one; names are read
    for the members the two rankings show only."""
    rows = (
        TeamMemberDay.objects.filter(_both(period), ancestor_id=distributor.pk)
        .values("member_id")
        .annotate(now=Sum("revenue", filter=Q(day__gte=period.start)), before=Sum("revenue", filter=Q(day__lt=period.start)))
        .order_by()
    )
    members = [_Member(pk=row["member_id"], now=row["now"] or ZERO, before=row["before"] or ZERO) for row in rows]
    shown = {m.pk for m in _top(members, by_growth=False)} | {m.pk for m in _top(members, by_growth=True)}
    found = {row["pk"]: row for row in Distributor.objects.filter(pk__in=shown).values("pk", "name", "parent_id")}
    for member in members:
        if member.pk in found:
            member.name = found[member.pk]["name"]
            member.direct = found[member.pk]["parent_id"] == distributor.pk
    return [m for m in members if m.pk in found]


def _top(members: list[_Member], *, by_growth: bool) -> list[_Member]:
    def key(m: _Member):
        return (m.growth if by_growth else m.now, -m.pk)

    return sorted(members, key=key, reverse=True)[:RANKING_SIZE]


def _member_label(member: _Member) -> str:
    if member.direct:
        return _("%(name)s (direct)") % {"name": member.name}
    return _("%(name)s (indirect)") % {"name": member.name}


def _ranking_chart(period: Period, members: list[_Member], *, key: str, by_growth: bool) -> Chart:
    top = _top(members, by_growth=by_growth)
    if by_growth:
        title, note = _("Team members by growth"), _("Sales in the period minus sales in the previous period, per member.")
        series = [Series(_("Change"), [m.growth for m in top])]
    else:
        title, note = _("Team members by sales"), _("Sales of each direct and indirect downline member; click a member for its trend.")
        series = [Series(_("This period"), [m.now for m in top]), Series(_("Previous period"), [m.before for m in top], dashed=True)]
    return Chart(
        key=key,
        kind="hbar",
        title=title,
        categories=[_member_label(m) for m in top],
        series=series,
        money=True,
        drill=[_drill(period, member=m.pk) for m in top],
        note=note,
    )


def _funnel_chart(period: Period, sales: _Sales, visitors: tuple[int, int]) -> Chart:
    orders = _sum(sales.storefront_orders, period, 0)
    return Chart(
        key="storefront-funnel",
        kind="funnel",
        title=_("Storefront conversion"),
        categories=[_("Visitors"), _("Orders")],
        series=[Series(_("This period"), [visitors[0], orders])],
        note=_("Visitors of your storefront (one per device and day) and its paid orders, campaign orders included."),
    )


def _commission_chart(commission: dict[int, tuple[Decimal, Decimal]]) -> Chart:
    depths = sorted(set(COMMISSION_DEPTHS) | set(commission))
    labels = [str(CommissionAccrual.LEVEL_LABELS.get(depth) or _("Level %(n)s") % {"n": depth}) for depth in depths]
    return Chart(
        key="commission-levels",
        kind="bar",
        title=_("Commission earned by level"),
        categories=labels,
        series=[
            Series(_("This period"), [commission.get(depth, (ZERO, ZERO))[0] for depth in depths]),
            Series(_("Previous period"), [commission.get(depth, (ZERO, ZERO))[1] for depth in depths], dashed=True),
        ],
        money=True,
        note=_("Commission accrued to you, by the local day of the order that earned it and by whose sale it was."),
    )


def _skus_chart(period: Period, distributor: Distributor) -> Chart:
    in_period = Q(day__gte=period.start, day__lte=period.end)
    revenue: dict[int, Decimal] = defaultdict(lambda: ZERO)
    own = SalesDay.objects.filter(in_period, distributor_id=distributor.pk).values_list("sku_id", "revenue")
    team = TeamSkuDay.objects.filter(in_period, ancestor_id=distributor.pk).values_list("sku_id", "revenue")
    for rows in (own, team):
        for sku_id, value in rows:
            revenue[sku_id] += value
    rows = [{"sku_id": sku_id, "revenue": value} for sku_id, value in sorted(revenue.items(), key=lambda item: (-item[1], item[0]))]
    rows = rows[:RANKING_SIZE]
    names = dict(Sku.objects.filter(pk__in=[row["sku_id"] for row in rows]).values_list("pk", "name"))
    return Chart(
        key="team-skus",
        kind="hbar",
        title=_("Best-selling SKUs in your team"),
        categories=[names.get(row["sku_id"], str(row["sku_id"])) for row in rows],
        series=[Series(_("Sales"), [row["revenue"] for row in rows])],
        money=True,
        note=_("Sales by you and your whole downline, per SKU."),
    )


def member_trend_chart(period: Period, distributor: Distributor, member: Distributor) -> Chart:
    """A downline member's own sales per day, against the previous period; NotInDownline for anyone else."""
    if member.pk == distributor.pk or not member.path.startswith(distributor.path):
        raise NotInDownline()
    rows = (
        DistributorSalesDay.objects.filter(_both(period), distributor_id=member.pk)
        .values("day")
        .annotate(revenue=Sum("revenue"))
        .order_by()
    )
    by_day = {row["day"]: row["revenue"] for row in rows}
    days, before = period.each_day(), period.previous().each_day()
    return Chart(
        key="member-trend",
        kind="line",
        title=_("Sales of %(name)s per day") % {"name": member.name},
        categories=[day_text(day) for day in days],
        series=[
            Series(_("This period"), [by_day.get(day, ZERO) for day in days]),
            Series(_("Previous period"), [by_day.get(day, ZERO) for day in before], dashed=True),
        ],
        money=True,
        note=_("The member's own paid orders, by the local day of payment."),
    )
