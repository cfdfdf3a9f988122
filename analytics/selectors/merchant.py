"""The merchant's dashboard in the merchant console: redemptions of its own stores, read from the redemption
rollups only (issue 17, docs/analytics.md "Merchant dashboard").

Scope (invariant 5): one merchant's rows (RedemptionDay/Heat/Hour by merchant_id), narrowed to the stores a clerk
may see and to one store on the drill-down; another merchant's store is NotFound (404). Days are local days.
"""

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from analytics.charts import Chart, Kpi, Series
from analytics.dashboards import Dashboard
from analytics.models import RedemptionDay, RedemptionHeat, RedemptionHour
from analytics.periods import Period
from redemption.models import Merchant, Store
from voucherhub.core.errors import NotFound
from voucherhub.core.templatetags.vh_format import day_text

ZERO = Decimal("0.00")
MEASURES = ("redemptions", "amount", "owed", "known_holders", "new_holders")


def merchant_store_get(merchant: Merchant, store_id, *, store_ids=None) -> Store:
    """One of `merchant`'s stores that the caller may see (`store_ids`: a clerk's stores, None for all); NotFound
    for any other id, another merchant's stores included."""
    try:
        store = Store.objects.get(pk=int(store_id), merchant=merchant)
    except (Store.DoesNotExist, ValueError, TypeError):
        raise NotFound()
    if store_ids is not None and store.pk not in store_ids:
        raise NotFound()
    return store


def merchant_dashboard(period: Period, merchant: Merchant, store_id: int | None = None, *, store_ids=None) -> Dashboard:
    """KPIs and charts of `merchant`'s redemptions in `period` against the previous period, for the stores in
    `store_ids` (None: every store) or only `store_id` (checked with merchant_store_get)."""
    if store_id is not None:
        store_ids = frozenset({merchant_store_get(merchant, store_id, store_ids=store_ids).pk})
    scope = Q(merchant_id=merchant.pk) if store_ids is None else Q(merchant_id=merchant.pk, store_id__in=store_ids)
    daily = _daily(period, scope)
    charts = [
        _per_day_chart(period, daily),
        _heatmap_chart(period, merchant, store_ids),
        _stores_chart(period, scope),
        _holders_chart(period, daily),
        _owed_chart(period, daily),
    ]
    return Dashboard(kpis=_kpis(period, daily), charts=charts)


def _daily(period: Period, scope: Q) -> dict:
    """day -> {measure: sum} over the period and the previous one."""
    rows = (
        RedemptionDay.objects.filter(scope, day__gte=period.previous().start, day__lte=period.end)
        .values("day")
        .annotate(**{name: Sum(name) for name in MEASURES})
        .order_by()
    )
    return {row["day"]: row for row in rows}


def _total(daily: dict, period: Period, measure: str):
    zero = ZERO if measure in ("amount", "owed") else 0
    return sum((row[measure] for day, row in daily.items() if period.start <= day <= period.end), start=zero)


def _new_share(daily: dict, period: Period) -> float | None:
    """New holders ÷ known holders in percent; None ("unknown") when no redemption had a known holder."""
    known = _total(daily, period, "known_holders")
    return round(_total(daily, period, "new_holders") * 100 / known, 1) if known else None


def _kpis(period: Period, daily: dict) -> list[Kpi]:
    previous = period.previous()

    def kpi(key, label, measure, money=False):
        return Kpi(key, label, _total(daily, period, measure), _total(daily, previous, measure), money=money)

    return [
        kpi("redemptions", _("Redemptions"), "redemptions"),
        kpi("amount", _("Value used"), "amount", money=True),
        kpi("owed", _("Owed to you"), "owed", money=True),
        _new_share_kpi(daily, period),
    ]


def _new_share_kpi(daily: dict, period: Period) -> Kpi:
    """新客占比; "unknown" (None, shown as a dash) without a known holder, and then nothing to compare with."""
    share = _new_share(daily, period)
    previous = _new_share(daily, period.previous()) if share is not None else None
    return Kpi("new-share", _("New-holder share"), share, previous, percent=True)


def _values(daily: dict, days: list, measure: str) -> list:
    zero = ZERO if measure in ("amount", "owed") else 0
    return [daily[day][measure] if day in daily else zero for day in days]


def _per_day_chart(period: Period, daily: dict) -> Chart:
    days = period.each_day()
    return Chart(
        key="redemptions-per-day",
        kind="line",
        title=_("Redemptions per day"),
        categories=[day_text(day) for day in days],
        series=[
            Series(_("This period"), _values(daily, days, "redemptions")),
            Series(_("Previous period"), _values(daily, period.previous().each_day(), "redemptions"), dashed=True),
        ],
        note=_("Completed redemptions that were not reversed, by the local day of redemption."),
    )


def _weekday_labels() -> list[str]:
    return [
        pgettext("weekday", "Mon"),
        pgettext("weekday", "Tue"),
        pgettext("weekday", "Wed"),
        pgettext("weekday", "Thu"),
        pgettext("weekday", "Fri"),
        pgettext("weekday", "Sat"),
        pgettext("weekday", "Sun"),
    ]


def _heat_rows(period: Period, merchant: Merchant, store_ids):
    """(weekday, local hour, redemptions) of the period: from RedemptionHeat for the whole merchant, from
    RedemptionHour (UTC hours of the period's local days) when only some stores count."""
    if store_ids is None:
        rows = RedemptionHeat.objects.filter(merchant_id=merchant.pk, day__gte=period.start, day__lte=period.end)
    else:
        zone = timezone.get_default_timezone()
        first = datetime.combine(period.start, time.min, tzinfo=zone)
        after = datetime.combine(period.end + timedelta(days=1), time.min, tzinfo=zone)
        rows = RedemptionHour.objects.filter(merchant_id=merchant.pk, store_id__in=store_ids, hour__gte=first, hour__lt=after)
    return rows.values("weekday", "local_hour").annotate(n=Sum("redemptions")).order_by().values_list("weekday", "local_hour", "n")


def _heatmap_chart(period: Period, merchant: Merchant, store_ids) -> Chart:
    cells = defaultdict(int)
    for weekday, hour, n in _heat_rows(period, merchant, store_ids):
        cells[(weekday, hour)] += n or 0
    return Chart(
        key="redemption-heat",
        kind="heatmap",
        title=_("Redemptions by weekday and hour"),
        categories=[f"{hour:02d}:00" for hour in range(24)],
        y_categories=_weekday_labels(),
        series=[Series(_("Redemptions"), [[hour, weekday, n] for (weekday, hour), n in sorted(cells.items())])],
        note=_("Completed redemptions in the period by local weekday and hour of day."),
    )


def _drill(period: Period, **params) -> str:
    return "?" + urlencode({"start": period.start.isoformat(), "end": period.end.isoformat(), **params})


def _stores_chart(period: Period, scope: Q) -> Chart:
    rows = list(
        RedemptionDay.objects.filter(scope, day__gte=period.start, day__lte=period.end)
        .values("store_id")
        .annotate(redemptions=Sum("redemptions"), amount=Sum("amount"))
        .order_by("-redemptions", "store_id")
    )
    names = dict(Store.objects.filter(pk__in=[row["store_id"] for row in rows]).values_list("pk", "name"))
    return Chart(
        key="redemptions-by-store",
        kind="hbar",
        title=_("Redemptions by store"),
        categories=[names.get(row["store_id"], str(row["store_id"])) for row in rows],
        series=[Series(_("Redemptions"), [row["redemptions"] for row in rows])],
        drill=[_drill(period, store=row["store_id"]) for row in rows],
        note=_("Completed redemptions per store in the period; click a store to see only its figures."),
    )


def _holders_chart(period: Period, daily: dict) -> Chart:
    days = period.each_day()
    new = _values(daily, days, "new_holders")
    known = _values(daily, days, "known_holders")
    return Chart(
        key="holders-new-returning",
        kind="stacked",
        title=_("New and returning holders per day"),
        categories=[day_text(day) for day in days],
        series=[
            Series(_("New holders"), new),
            Series(_("Returning holders"), [k - n for k, n in zip(known, new, strict=True)]),
        ],
        note=_("Redemptions whose holder is known: a holder's first redemption at your stores is new, later ones return."),
    )


def _owed_chart(period: Period, daily: dict) -> Chart:
    days = period.each_day()
    owed = _values(daily, days, "owed")
    running, total = [], ZERO
    for value in owed:
        total += value
        running.append(total)
    return Chart(
        key="owed",
        kind="line",
        title=_("Amount owed to you"),
        categories=[day_text(day) for day in days],
        series=[Series(_("Owed that day"), owed), Series(_("Running total"), running)],
        money=True,
        note=_("What the platform owes you for the redemptions of each local day (before statements and payouts)."),
    )
