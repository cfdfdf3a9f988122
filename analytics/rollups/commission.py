"""Commission per beneficiary distributor, level (depth) and local day (CommissionDay), read from settlement's
ledger, whose entries are never edited (so a rebuild finds what the job saw). Definitions: docs/analytics.md.

* accrued: commission booked as frozen (the COMMISSION transfer, written with the CommissionAccrual rows when
  the order is paid or its top-up delivered), by the local day of that transfer.
* released: what left the frozen account in RELEASE transfers (after the freeze period, or a redeemed code's
  share), by the local day of the release. Partial releases count on their own day.
* clawed_back: what CLAWBACK transfers took back on a refund (from frozen, available or as debt), by the local
  day of the refund.
* frozen: a balance, not a flow: the beneficiary's commission at that level still frozen at the end of the
  local day (every movement of its frozen account up to then, whatever the transfer). A row is written for
  every day on which a (distributor, level) had a movement or a frozen balance, so a day's total frozen is the
  sum of that day's rows; never sum `frozen` over days.

The level of a ledger line is its order's CommissionAccrual of that wallet (one level per wallet and order).
A day's frozen balance starts from the previous day's rows: the job recomputes from the first changed day up
to today (and today on a new day while anything is frozen); a rebuild since day X trusts the rows of day X-1,
so rebuild from the first day with commission to rebuild everything.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import router
from django.db.models import F, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import CommissionDay
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.coarse import commission_coarse_recompute
from settlement.models import Account, CommissionAccrual, Entry, Transfer
from voucherhub.core.money import ZERO, money

K = Account.Kind
T = Transfer.Kind


def commission_entries():
    """The ledger lines the rollup reads: every line on a commission-frozen account, and a clawback's lines on
    the available and debt accounts. Read on the primary: a replica may lag behind the job's watermark."""
    return Entry.objects.using(router.db_for_write(CommissionDay)).filter(
        Q(account__kind=K.COMMISSION_FROZEN) | Q(transfer__kind=T.CLAWBACK, account__kind__in=(K.COMMISSION_AVAILABLE, K.COMMISSION_DEBT))
    )


def _flows(start: datetime, end: datetime):
    """The lines of [start, end) summed per (local day, distributor, level, transfer kind, account kind)."""
    depth = CommissionAccrual.objects.filter(order_id=OuterRef("transfer__order_id"), wallet_id=OuterRef("account__wallet_id"))
    return (
        commission_entries()
        .filter(created_at__gte=start, created_at__lt=end)
        .annotate(
            local_day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()),
            distributor=F("account__wallet__distributor_id"),
            level=Subquery(depth.order_by("depth").values("depth")[:1]),
        )
        .values("local_day", "distributor", "level", "transfer__kind", "account__kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )


def _day_figures(start: datetime, end: datetime) -> dict:
    """{day: {(distributor, level): {"accrued", "released", "clawed_back", "frozen_change"}}} of [start, end)."""
    days: dict = defaultdict(lambda: defaultdict(lambda: dict.fromkeys(("accrued", "released", "clawed_back", "frozen_change"), ZERO)))
    for row in _flows(start, end):
        if row["level"] is None:  # a line on an order without commission of that wallet: no level to count it at
            continue
        figures = days[row["local_day"]][(row["distributor"], row["level"])]
        amount = Decimal(row["total"] or 0)
        kind, frozen = row["transfer__kind"], row["account__kind"] == K.COMMISSION_FROZEN
        if frozen:
            figures["frozen_change"] += amount
        if kind == T.COMMISSION and frozen:
            figures["accrued"] += amount
        elif kind == T.RELEASE and frozen:
            figures["released"] -= amount
        elif kind == T.CLAWBACK:
            figures["clawed_back"] -= amount
    return days


def commission_recompute(first: date, last: date) -> int:
    """Delete CommissionDay rows of the local days first..last and write them again, day by day from the frozen
    balances of the day before `first`."""
    CommissionDay.objects.filter(day__gte=first, day__lte=last).delete()
    previous = CommissionDay.objects.using(router.db_for_write(CommissionDay)).filter(day=first - timedelta(days=1)).exclude(frozen=0)
    balances = {(row.distributor_id, row.depth): row.frozen for row in previous}
    figures = _day_figures(*local_day_bounds(first, last))
    rows = []
    day = first
    while day <= last:
        today = figures.get(day, {})
        for key in sorted(set(balances) | set(today)):
            moved = today.get(key)
            balances[key] = money(balances.get(key, ZERO) + (moved["frozen_change"] if moved else ZERO))
            if moved or balances[key]:
                rows.append(_row(day, key, moved, balances[key]))
        balances = {key: value for key, value in balances.items() if value}
        day += timedelta(days=1)
    CommissionDay.objects.bulk_create(rows, batch_size=2000)
    return len(rows) + commission_coarse_recompute(first, last)


def _row(day: date, key: tuple[int, int], moved: dict | None, frozen: Decimal) -> CommissionDay:
    moved = moved or {}
    return CommissionDay(
        day=day,
        distributor_id=key[0],
        depth=key[1],
        accrued=money(moved.get("accrued", ZERO)),
        released=money(moved.get("released", ZERO)),
        clawed_back=money(moved.get("clawed_back", ZERO)),
        frozen=frozen,
    )


def commission_changed_days(since: datetime | None) -> set[date]:
    """Every local day from the first one with a changed ledger line up to today (a frozen balance carries into
    the days after it); on a new day, the days begun since `since` while anything was frozen then."""
    today = timezone.localdate()
    lines = commission_entries() if since is None else commission_entries().filter(created_at__gte=since)
    first_change = lines.aggregate(first=Min("created_at"))["first"]
    starts = [timezone.localdate(first_change)] if first_change else []
    if since is not None and timezone.localdate(since) < today:
        since_day = timezone.localdate(since)
        if CommissionDay.objects.using(router.db_for_write(CommissionDay)).filter(day=since_day).exclude(frozen=0).exists():
            starts.append(since_day + timedelta(days=1))
    if not starts:
        return set()
    first = min(starts)
    return {first + timedelta(days=n) for n in range((today - first).days + 1)}


ROLLUP = Rollup(name="commission", changed_days=commission_changed_days, recompute=commission_recompute)
