"""The campaign dashboard (docs/analytics.md, "Campaigns"): every campaign, or one (`campaign_id`), read from
CampaignDay only; a fixed number of queries whatever the number of campaigns.

Definitions, the same as marketing's results page (docs/marketing.md, "The results page"), per local day:

* issued / claimed / used: coupons handed out, held by a consumer, and orders paid with the campaign.
* orders, revenue (what buyers paid), cost of goods, discount (the campaign's spend, whoever funds it) of the
  campaign's paid orders; marketing expense: the part the platform funded, and free codes.
* ROI: (revenue - cost of goods) / discount; none ("no expense") while the discount is zero.
* new-customer share: paid orders that were the buyer's first paid order / paid orders, in percent.
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
from analytics.models import CampaignDay, SalesChannel
from analytics.periods import Period
from marketing.models import Campaign
from voucherhub.core.money import ZERO
from voucherhub.core.templatetags.vh_format import day_text

TOP_CAMPAIGNS = 15
MEASURES = ("issued", "claimed", "used", "orders", "new_customers", "revenue", "cost", "discount", "expense")
MONEY = {"revenue", "cost", "discount", "expense"}


def roi(totals: dict) -> Decimal | None:
    """(revenue - cost of goods) / discount, two places; None when nothing was spent."""
    if not totals["discount"]:
        return None
    return ((totals["revenue"] - totals["cost"]) / totals["discount"]).quantize(Decimal("0.01"))


def new_share(totals: dict) -> Decimal | None:
    """New customers' orders as a percentage of the paid orders, one decimal; None without orders."""
    if not totals["orders"]:
        return None
    return (Decimal(totals["new_customers"]) / totals["orders"] * 100).quantize(Decimal("0.1"))


def _zero() -> dict:
    return {key: ZERO if key in MONEY else 0 for key in MEASURES}


def _sums(prefix: str, condition: Q | None = None) -> dict:
    """Sum(measure) of every measure, named "<prefix><measure>" (a name of its own: not the column's)."""
    return {prefix + key: Sum(key, filter=condition) for key in MEASURES}


def _add(into: dict, row: dict, prefix: str) -> None:
    for key in MEASURES:
        value = row[prefix + key]
        if value is not None:
            into[key] += value


def _rows(period: Period, campaign_id: int | None):
    rows = CampaignDay.objects.filter(day__gte=period.previous().start, day__lte=period.end)
    return rows if campaign_id is None else rows.filter(campaign_id=campaign_id)


def _per_campaign(period: Period, campaign_id: int | None) -> tuple[dict[int, dict], dict, dict]:
    """Per campaign this period's totals, and every campaign's totals of this period and of the previous one."""
    current, previous = Q(day__gte=period.start), Q(day__lt=period.start)
    sums = _sums("now_", current) | _sums("before_", previous)
    per_campaign: dict[int, dict] = {}
    now, before = _zero(), _zero()
    for row in _rows(period, campaign_id).values("campaign_id").annotate(**sums).order_by():
        if row["now_issued"] is not None:  # the campaign has rows in this period
            totals = _zero()
            _add(totals, row, "now_")
            per_campaign[row["campaign_id"]] = totals
            _add(now, row, "now_")
        _add(before, row, "before_")
    return per_campaign, now, before


def _url(period: Period, **params) -> str:
    query = {"start": period.start.isoformat(), "end": period.end.isoformat(), **params}
    return f"{reverse('dashboards:campaign-analytics')}?{urlencode(query)}"


def _kpis(now: dict, before: dict) -> list[Kpi]:
    return [
        Kpi("issued", _("Coupons issued"), now["issued"], before["issued"]),
        Kpi("claimed", _("Coupons claimed"), now["claimed"], before["claimed"]),
        Kpi("used", _("Coupons used"), now["used"], before["used"]),
        Kpi("revenue", _("Campaign revenue"), now["revenue"], before["revenue"], money=True),
        Kpi("discount", _("Campaign expense (discounts)"), now["discount"], before["discount"], money=True),
        Kpi("expense", _("Platform-funded expense"), now["expense"], before["expense"], money=True),
        _ratio_kpi("roi", _("ROI"), roi(now), roi(before), missing=_("ROI: no expense")),
        _ratio_kpi("new_share", _("New-customer share"), new_share(now), new_share(before), percent=True),
    ]


def _ratio_kpi(key: str, label: str, value, previous, *, missing: str = "", percent: bool = False) -> Kpi:
    """A ratio's key figure; without a value ("—") there is no comparison either, and `missing` says why."""
    if value is None:
        return Kpi(key, missing or label, None, None, percent=percent)
    return Kpi(key, label, value, previous, percent=percent)


def _funnel_chart(now: dict) -> Chart:
    return Chart(
        key="funnel",
        kind="funnel",
        title=_("Issued, claimed, used"),
        categories=[_("Issued"), _("Claimed"), _("Used")],
        series=[Series(_("Coupons"), [now["issued"], now["claimed"], now["used"]])],
        note=_("Coupons handed out, held by a consumer, and orders paid with the campaign."),
    )


def _daily_chart(period: Period, campaign_id: int | None) -> Chart:
    rows = _rows(period, campaign_id).filter(day__gte=period.start)
    by_day: dict[date, dict] = {
        row.pop("day"): row
        for row in rows.values("day").annotate(issued_n=Sum("issued"), claimed_n=Sum("claimed"), used_n=Sum("used")).order_by()
    }
    days = period.each_day()

    def daily(key: str) -> list[int]:
        return [by_day[day][key] if day in by_day else 0 for day in days]

    return Chart(
        key="daily",
        kind="line",
        title=_("Coupons per day"),
        categories=[day_text(day) for day in days],
        series=[Series(_("Issued"), daily("issued_n")), Series(_("Claimed"), daily("claimed_n")), Series(_("Used"), daily("used_n"))],
    )


def _roi_chart(per_campaign: dict[int, dict], period: Period) -> Chart:
    """ROI of the campaigns with the most revenue; a campaign that spent nothing says "no expense"."""
    ids = sorted(per_campaign, key=lambda pk: (-per_campaign[pk]["revenue"], pk))[:TOP_CAMPAIGNS]
    names = dict(Campaign.objects.filter(pk__in=ids).values_list("pk", "name"))
    labels = []
    for pk in ids:
        name = names.get(pk, f"#{pk}")
        labels.append(name if roi(per_campaign[pk]) is not None else _("%(name)s (no expense)") % {"name": name})
    return Chart(
        key="roi",
        kind="hbar",
        title=_("ROI per campaign"),
        categories=labels,
        series=[Series(_("ROI"), [roi(per_campaign[pk]) for pk in ids])],
        drill=[_url(period, campaign=pk) for pk in ids],
        note=_("(Revenue - cost of goods) / the campaign's discounts; click a campaign for its own figures."),
    )


def _channel_charts(period: Period, campaign_id: int | None) -> list[Chart]:
    totals = defaultdict(_zero)
    for row in _rows(period, campaign_id).filter(day__gte=period.start).values("channel").annotate(**_sums("sum_")).order_by():
        _add(totals[row["channel"]], row, "sum_")
    channels = [channel for channel in SalesChannel.values if channel in totals]
    labels = [str(SalesChannel(channel).label) for channel in channels]
    return [
        Chart(
            key="channel_orders",
            kind="bar",
            title=_("Orders by channel"),
            categories=labels,
            series=[
                Series(_("Paid orders"), [totals[c]["orders"] for c in channels]),
                Series(_("Orders of new customers"), [totals[c]["new_customers"] for c in channels]),
            ],
        ),
        Chart(
            key="channel_revenue",
            kind="bar",
            title=_("Revenue by channel"),
            categories=labels,
            series=[Series(_("Campaign revenue"), [totals[c]["revenue"] for c in channels])],
            money=True,
        ),
        Chart(
            key="channel_new_share",
            kind="bar",
            title=_("New-customer share by channel"),
            categories=labels,
            series=[Series(_("New-customer share"), [new_share(totals[c]) for c in channels])],
            percent=True,
        ),
    ]


def campaign_dashboard(period: Period, campaign_id: int | None = None) -> Dashboard:
    """Every campaign's results in `period` against the previous period, or one campaign's (`campaign_id`)."""
    per_campaign, now, before = _per_campaign(period, campaign_id)
    charts = [_funnel_chart(now), _daily_chart(period, campaign_id)]
    if campaign_id is None:
        charts.append(_roi_chart(per_campaign, period))
    charts += _channel_charts(period, campaign_id)
    return Dashboard(kpis=_kpis(now, before), charts=charts)
