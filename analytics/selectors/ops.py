"""The ops analytics dashboard (/dashboards/ops/analytics/, issue 17, docs/analytics.md "Ops").

Reads the rollup tables only (analytics/models.py), never the orders or redemptions themselves, plus names from
catalog and channels and the available stock from catalog's selectors. Days are local dates (settings.TIME_ZONE);
sales count paid orders by the day they were paid, redemptions by the day of the redemption.
`sku_id` narrows the sales trend to one SKU (the drill-down of the SKU charts)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Q, Sum
from django.urls import reverse
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _

from analytics.charts import Chart, Kpi, Series
from analytics.dashboards import Dashboard
from analytics.models import (
    DistributorDay,
    PlatformHeat,
    ReminderDay,
    RiskDay,
    SalesChannel,
    SkuRedemptionDay,
    SkuSalesDay,
)
from analytics.periods import Period
from catalog import selectors as catalog_selectors
from catalog.models import Sku
from channels.models import Distributor
from riskcontrol.models import Action, Channel, Outcome
from voucherhub.core.templatetags.vh_format import day_text, money_text

TOP = 10
RUNWAY_DAYS = 7  # the sell rate of a SKU's runway: its average daily quantity over the period's last 7 days
RUNWAY_ROWS = 20
BLOCKED = [Outcome.BLOCK]  # the risk decisions that stopped an order or a redemption
ZERO = Decimal("0")


@dataclass
class SkuSales:
    """One SKU's sales in the period, all channels together."""

    sku_id: int
    revenue: Decimal = ZERO
    quantity: int = 0


def _total(value) -> Decimal | int:
    return value if value is not None else 0


def _percent(part, whole) -> float | None:
    return round(float(part) / float(whole) * 100, 1) if whole else None


def dashboard_url(period: Period, **params) -> str:
    query = {"start": period.start.isoformat(), "end": period.end.isoformat(), **params}
    return reverse("dashboards:ops-analytics") + "?" + urlencode(query)


# --- reads ------------------------------------------------------------------------------------------------------


def _sales_by_day(first, last, sku_id: int | None = None) -> dict:
    rows = SkuSalesDay.objects.filter(day__range=(first, last))
    if sku_id is not None:
        rows = rows.filter(sku_id=sku_id)
    rows = rows.values("day").annotate(revenue=Sum("revenue"), orders=Sum("orders"), quantity=Sum("quantity")).order_by()
    return {row["day"]: row for row in rows}


def _sales_by_sku_and_channel(period: Period) -> tuple[dict[int, SkuSales], dict[str, Decimal]]:
    rows = (
        SkuSalesDay.objects.filter(day__range=(period.start, period.end))
        .values("sku_id", "channel")
        .annotate(revenue=Sum("revenue"), quantity=Sum("quantity"))
        .order_by()
    )
    skus: dict[int, SkuSales] = {}
    channels: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        sales = skus.setdefault(row["sku_id"], SkuSales(row["sku_id"]))
        sales.revenue += row["revenue"] or ZERO
        sales.quantity += row["quantity"] or 0
        channels[row["channel"]] += row["revenue"] or ZERO
    return skus, channels


def _redeemed(period: Period) -> dict:
    """Codes redeemed in the period and in the previous one, and per SKU in the period."""
    previous = period.previous()
    rows = SkuRedemptionDay.objects.filter(day__range=(previous.start, period.end))
    totals = rows.aggregate(
        current=Sum("redemptions", filter=Q(day__gte=period.start)), previous=Sum("redemptions", filter=Q(day__lt=period.start))
    )
    per_sku = rows.filter(day__gte=period.start).values("sku_id").annotate(n=Sum("redemptions")).order_by()
    return {"current": _total(totals["current"]), "previous": _total(totals["previous"]), "by_sku": {r["sku_id"]: r["n"] for r in per_sku}}


def _risk_blocks(period: Period) -> dict:
    previous = period.previous()
    rows = (
        RiskDay.objects.filter(day__range=(previous.start, period.end), outcome__in=BLOCKED)
        .values("day", "channel")
        .annotate(n=Sum("events"))
        .order_by()
    )
    return {(row["day"], row["channel"]): row["n"] for row in rows}


def _sku_names(sku_ids) -> dict[int, Sku]:
    return {sku.pk: sku for sku in Sku.objects.filter(pk__in=set(sku_ids)).only("pk", "code", "name", "face_value")}


def _sku_label(skus: dict[int, Sku], sku_id: int) -> str:
    sku = skus.get(sku_id)
    return f"{sku.name} ({sku.code})" if sku else _("SKU #%(id)s") % {"id": sku_id}


# --- key figures ------------------------------------------------------------------------------------------------


def _kpis(period: Period, days: dict, redeemed: dict, blocks: dict) -> list[Kpi]:
    def summed(field, first, last):
        return sum((row[field] or 0 for day, row in days.items() if first <= day <= last), ZERO if field == "revenue" else 0)

    previous = period.previous()
    sales = [summed(f, period.start, period.end) for f in ("revenue", "orders", "quantity")]
    before = [summed(f, previous.start, previous.end) for f in ("revenue", "orders", "quantity")]
    blocked_now = sum(n for (day, _channel), n in blocks.items() if day >= period.start)
    blocked_before = sum(n for (day, _channel), n in blocks.items() if day < period.start)
    rate_now, rate_before = _percent(redeemed["current"], sales[2]), _percent(redeemed["previous"], before[2])
    return [
        Kpi("sales", _("Sales"), sales[0], before[0], money=True),
        Kpi("orders", _("Orders"), sales[1], before[1]),
        Kpi("redeemed", _("Codes redeemed"), redeemed["current"], redeemed["previous"]),
        Kpi("redemption-rate", _("Redemption rate"), rate_now if rate_now is not None else 0, rate_before, percent=True),
        Kpi("risk-blocks", _("Risk blocks"), blocked_now, blocked_before),
    ]


# --- charts -----------------------------------------------------------------------------------------------------


def sales_trend(period: Period, days: dict, sku_label: str = "") -> Chart:
    previous = period.previous()
    current = [days.get(day, {}).get("revenue") or ZERO for day in period.each_day()]
    before = [days.get(day, {}).get("revenue") or ZERO for day in previous.each_day()]
    title = _("Sales per day") if not sku_label else _("Sales per day: %(sku)s") % {"sku": sku_label}
    return Chart(
        key="sales-trend",
        kind="line",
        title=title,
        categories=[day_text(day) for day in period.each_day()],
        series=[Series(_("This period"), current), Series(_("Previous period"), before, dashed=True)],
        money=True,
        note=_("What buyers paid for paid orders, by the local day of payment; dashed: the same days of the previous period."),
    )


def top_skus(period: Period, sales: dict[int, SkuSales], skus: dict[int, Sku], *, by: str) -> Chart:
    ranked = sorted(sales.values(), key=lambda s: (getattr(s, by), s.revenue), reverse=True)
    ranked = [s for s in ranked if getattr(s, by)][:TOP]
    money = by == "revenue"
    return Chart(
        key=f"top-skus-{'revenue' if money else 'count'}",
        kind="hbar",
        title=_("Best-selling SKUs by sales") if money else _("Best-selling SKUs by codes sold"),
        categories=[_sku_label(skus, s.sku_id) for s in ranked],
        series=[Series(_("Sales") if money else _("Codes sold"), [getattr(s, by) for s in ranked])],
        money=money,
        drill=[dashboard_url(period, sku=s.sku_id) for s in ranked],
        note=_("The top ten in the period; click a SKU to see its sales trend."),
    )


def channel_share(channels: dict[str, Decimal]) -> Chart:
    choices = [(value, label) for value, label in SalesChannel.choices]
    return Chart(
        key="channel-share",
        kind="pie",
        title=_("Sales by channel"),
        categories=[str(label) for _value, label in choices],
        series=[Series(_("Sales"), [channels.get(value, ZERO) for value, _label in choices])],
        money=True,
        note=_("A storefront order priced by a marketing campaign counts as campaign."),
    )


def top_distributors(period: Period) -> Chart:
    rows = list(
        DistributorDay.objects.filter(day__range=(period.start, period.end))
        .values("distributor_id")
        .annotate(revenue=Sum("revenue"))
        .filter(revenue__gt=0)
        .order_by("-revenue", "distributor_id")[:TOP]
    )
    names = dict(Distributor.objects.filter(pk__in=[r["distributor_id"] for r in rows]).values_list("pk", "name"))
    return Chart(
        key="top-distributors",
        kind="hbar",
        title=_("Top distributors by sales"),
        categories=[names.get(r["distributor_id"]) or _("Distributor #%(id)s") % {"id": r["distributor_id"]} for r in rows],
        series=[Series(_("Sales"), [r["revenue"] for r in rows])],
        money=True,
        drill=[reverse("admin:channels_distributor_change", args=[r["distributor_id"]]) for r in rows],
        note=_("Sales of the distributor's own orders in the period."),
    )


def stock_runway(period: Period) -> Chart:
    """Days of stock left per SKU: available codes ÷ average daily quantity sold over the period's last 7 days."""
    window = Period(max(period.start, period.end - timedelta(days=RUNWAY_DAYS - 1)), period.end)
    skus = {sku.pk: sku for sku in Sku.objects.active().exclude(fulfilment=Sku.Fulfilment.TOPUP).only("pk", "code", "name")}
    available = catalog_selectors.available_by_sku(sku_ids=skus)
    sold = dict(
        SkuSalesDay.objects.filter(day__range=(window.start, window.end), sku_id__in=skus)
        .values_list("sku_id")
        .annotate(n=Sum("quantity"))
        .order_by()
    )
    rows = []
    for sku_id in skus:
        rate = Decimal(sold.get(sku_id) or 0) / window.days
        runway = round(float(available.get(sku_id, 0) / rate), 1) if rate else None
        rows.append((runway is None, runway or 0, _sku_label(skus, sku_id), runway, sku_id))
    rows = sorted(rows)[:RUNWAY_ROWS]
    return Chart(
        key="stock-runway",
        kind="hbar",
        title=_("Stock runway (days left)"),
        categories=[label if runway is not None else _("%(sku)s: no sales") % {"sku": label} for _n, _r, label, runway, _id in rows],
        series=[Series(_("Days left"), [runway for *_rest, runway, _id in rows])],
        drill=[reverse("admin:catalog_sku_change", args=[sku_id]) for *_rest, sku_id in rows],
        note=_("Available codes divided by the average number sold per day over the last 7 days of the period; shortest first."),
    )


def redemption_by_sku(period: Period, sales: dict[int, SkuSales], redeemed: dict[int, int], skus: dict[int, Sku]) -> Chart:
    ranked = sorted((s for s in sales.values() if s.quantity), key=lambda s: (-s.quantity, s.sku_id))[:TOP]
    return Chart(
        key="redemption-by-sku",
        kind="hbar",
        title=_("Redemption rate by SKU"),
        categories=[_sku_label(skus, s.sku_id) for s in ranked],
        series=[Series(_("Redemption rate"), [_percent(redeemed.get(s.sku_id, 0), s.quantity) for s in ranked])],
        percent=True,
        drill=[dashboard_url(period, sku=s.sku_id) for s in ranked],
        note=_("Codes redeemed in the period divided by codes sold in the period, for the ten SKUs that sold most."),
    )


def redemption_by_face_value(sales: dict[int, SkuSales], redeemed: dict[int, int], skus: dict[int, Sku]) -> Chart:
    sold_by_value: dict[Decimal, int] = defaultdict(int)
    redeemed_by_value: dict[Decimal, int] = defaultdict(int)
    for sku_id, sku in skus.items():
        sold_by_value[sku.face_value] += sales[sku_id].quantity if sku_id in sales else 0
        redeemed_by_value[sku.face_value] += redeemed.get(sku_id, 0)
    values = sorted(value for value, sold in sold_by_value.items() if sold)
    return Chart(
        key="redemption-by-face-value",
        kind="bar",
        title=_("Redemption rate by face value"),
        categories=[money_text(value) for value in values],
        series=[Series(_("Redemption rate"), [_percent(redeemed_by_value[v], sold_by_value[v]) for v in values])],
        percent=True,
        note=_("Codes redeemed in the period divided by codes sold in the period, SKUs of the same face value together."),
    )


def redemption_heatmap(period: Period) -> Chart:
    rows = (
        PlatformHeat.objects.filter(day__range=(period.start, period.end))
        .values("weekday", "local_hour")
        .annotate(n=Sum("redemptions"))
        .order_by("weekday", "local_hour")
    )
    return Chart(
        key="redemption-peaks",
        kind="heatmap",
        title=_("Redemption peak hours"),
        categories=[f"{hour:02d}" for hour in range(24)],
        y_categories=[str(WEEKDAYS_ABBR[day]) for day in range(7)],
        series=[Series(_("Redemptions"), [[row["local_hour"], row["weekday"], row["n"]] for row in rows if row["n"]])],
        note=_("Codes redeemed by local weekday and hour of day, all merchants together."),
    )


def reminders(period: Period) -> Chart:
    rows = {
        row["day"]: row
        for row in ReminderDay.objects.filter(day__range=(period.start, period.end))
        .values("day")
        .annotate(sent=Sum("sent"), redeemed_after=Sum("redeemed_after"))
        .order_by()
    }
    days = period.each_day()
    return Chart(
        key="expiry-reminders",
        kind="bar",
        title=_("Expiry reminders sent and redeemed after"),
        categories=[day_text(day) for day in days],
        series=[
            Series(_("Reminders sent"), [rows.get(day, {}).get("sent") or 0 for day in days]),
            Series(_("Redeemed after the reminder"), [rows.get(day, {}).get("redeemed_after") or 0 for day in days]),
        ],
        note=_("By the local day the reminder was sent: how many codes were redeemed after it."),
    )


def risk_blocks(period: Period, blocks: dict) -> Chart:
    labels = {**dict(Action.choices), **dict(Channel.choices)}
    channels = sorted({channel for (day, channel) in blocks if day >= period.start})
    days = period.each_day()
    return Chart(
        key="risk-blocks",
        kind="stacked",
        title=_("Risk blocks per day"),
        categories=[day_text(day) for day in days],
        series=[
            Series(str(labels.get(channel, channel or _("other"))), [blocks.get((day, channel), 0) for day in days]) for channel in channels
        ],
        note=_("Risk decisions that blocked an order, a redemption or another action, by local day and channel."),
    )


# --- the dashboard ----------------------------------------------------------------------------------------------


def ops_dashboard(period: Period, sku_id: int | None = None) -> Dashboard:
    """Key figures and charts of the ops analytics page for `period` (each figure beside the previous period)."""
    previous = period.previous()
    days = _sales_by_day(previous.start, period.end)
    sales, channels = _sales_by_sku_and_channel(period)
    redeemed = _redeemed(period)
    blocks = _risk_blocks(period)
    skus = _sku_names({*sales, *redeemed["by_sku"], *([sku_id] if sku_id else [])})
    trend_days = _sales_by_day(previous.start, period.end, sku_id) if sku_id else days
    charts = [
        sales_trend(period, trend_days, _sku_label(skus, sku_id) if sku_id else ""),
        top_skus(period, sales, skus, by="revenue"),
        top_skus(period, sales, skus, by="quantity"),
        channel_share(channels),
        top_distributors(period),
        stock_runway(period),
        redemption_by_sku(period, sales, redeemed["by_sku"], skus),
        redemption_by_face_value(sales, redeemed["by_sku"], skus),
        redemption_heatmap(period),
        reminders(period),
        risk_blocks(period, blocks),
    ]
    return Dashboard(kpis=_kpis(period, days, redeemed, blocks), charts=charts)
