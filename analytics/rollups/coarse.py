"""Coarser rollups for the pages that read a whole team or the whole platform (issue 17, bench/dashboard_scale.py):
each is rewritten in the same `recompute` as its source rollup, for the same local days, so a rebuild equals the
incremental job as the source does.

* Team tables (TeamSalesDay, TeamMemberDay, TeamSkuDay), with the sales rollup: every paid order of the days
  counted once for each upline in its `Order.chain` (nearest first: chain[0] at depth 1), bucketed by the local
  day of `paid_at`; one GROUP BY over the days' orders per (day, seller, chain, SKU), fanned out in Python.
* DistributorDay, with the sales rollup: DistributorSalesDay of the days summed over the channels.
* PlatformHeat, with the redemptions rollup: RedemptionHeat of the days summed over the merchants.
* CommissionLevelDay and CommissionEarnerDay, with the commission rollup: CommissionDay of the days summed over
  the distributors, and over the levels (rows with commission accrued or released only).
"""

from collections import defaultdict
from datetime import date

from django.db import router
from django.db.models import Count, Q, Sum

from analytics.models import (
    CommissionDay,
    CommissionEarnerDay,
    CommissionLevelDay,
    DistributorDay,
    DistributorSalesDay,
    PlatformHeat,
    RedemptionHeat,
    TeamMemberDay,
    TeamSalesDay,
    TeamSkuDay,
)
from analytics.rollups.base import local_day_bounds
from analytics.rollups.replace import local_date, rows_replace, sums, unprefixed
from settlement.models import Order

S = Order.Status
PAID = (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED)  # as analytics.rollups.sales
TEAM_MEASURES = ("orders", "quantity", "revenue")
SALES_MEASURES = ("orders", "quantity", "revenue", "platform_revenue", "cost", "discount", "refunded")
HEAT_MEASURES = ("redemptions", "reversed", "amount", "owed", "after_reminder", "known_holders", "new_holders")
COMMISSION_MEASURES = ("accrued", "released", "clawed_back", "frozen")


def _summed(model, first: date, last: date, keys: tuple[str, ...], measures: tuple[str, ...], condition: Q | None = None) -> list:
    """`model`'s rows of the local days first..last summed per day and `keys` (one aggregate query)."""
    rows = model.objects.using(router.db_for_write(model)).filter(day__gte=first, day__lte=last)
    if condition is not None:
        rows = rows.filter(condition)
    return [unprefixed(row) for row in rows.values("day", *keys).annotate(**sums(measures)).order_by()]


def team_orders(first: date, last: date):
    """The paid orders of the local days per (local day, seller, chain, SKU) with their orders, quantity, sales."""
    start, end = local_day_bounds(first, last)
    return (
        Order.objects.using(router.db_for_write(TeamSalesDay))
        .filter(status__in=PAID, paid_at__gte=start, paid_at__lt=end)
        .annotate(local_day=local_date("paid_at"))
        .values("local_day", "distributor_id", "chain", "sku_id")
        .annotate(m_orders=Count("pk"), m_quantity=Sum("quantity"), m_revenue=Sum("total"))
        .order_by()
    )


def _team_rows(first: date, last: date) -> tuple[dict, dict, dict]:
    """{(day, ancestor, depth)}, {(day, ancestor, member)}, {(day, ancestor, sku)} -> [orders, quantity, revenue]."""
    tables: tuple[dict, dict, dict] = (defaultdict(lambda: [0, 0, 0]), defaultdict(lambda: [0, 0, 0]), defaultdict(lambda: [0, 0, 0]))
    for row in team_orders(first, last):
        figures = (row["m_orders"] or 0, row["m_quantity"] or 0, row["m_revenue"] or 0)
        for depth, ancestor in enumerate(row["chain"] or [], start=1):
            keys = (
                (row["local_day"], ancestor, depth),
                (row["local_day"], ancestor, row["distributor_id"]),
                (row["local_day"], ancestor, row["sku_id"]),
            )
            for table, key in zip(tables, keys, strict=True):
                summed = table[key]
                for n, value in enumerate(figures):
                    summed[n] += value
    return tables


def team_recompute(first: date, last: date) -> int:
    """Rewrite the team tables' rows of the local days first..last from the paid orders' chains."""
    tables = _team_rows(first, last)
    written = 0
    for model, key, rows in zip((TeamSalesDay, TeamMemberDay, TeamSkuDay), ("depth", "member_id", "sku_id"), tables, strict=True):
        shaped = [
            {"day": day, "ancestor_id": ancestor, key: value, **dict(zip(TEAM_MEASURES, figures, strict=True))}
            for (day, ancestor, value), figures in sorted(rows.items())
        ]
        written += rows_replace(model, first=first, last=last, rows=shaped)
    return written


def sales_coarse_recompute(first: date, last: date) -> int:
    """The team tables and DistributorDay of the local days (after the sales rollup's own tables)."""
    written = team_recompute(first, last)
    rows = _summed(DistributorSalesDay, first, last, ("distributor_id",), SALES_MEASURES)
    return written + rows_replace(DistributorDay, first=first, last=last, rows=rows)


def heat_recompute(first: date, last: date) -> int:
    """PlatformHeat of the local days from RedemptionHeat (after the redemptions rollup's own tables)."""
    rows = _summed(RedemptionHeat, first, last, ("weekday", "local_hour"), HEAT_MEASURES)
    return rows_replace(PlatformHeat, first=first, last=last, rows=rows)


def commission_coarse_recompute(first: date, last: date) -> int:
    """CommissionLevelDay and CommissionEarnerDay of the local days from CommissionDay."""
    levels = _summed(CommissionDay, first, last, ("depth",), COMMISSION_MEASURES)
    written = rows_replace(CommissionLevelDay, first=first, last=last, rows=levels)
    moved = ~Q(accrued=0) | ~Q(released=0)
    earners = _summed(CommissionDay, first, last, ("distributor_id",), ("accrued", "released"), moved)
    return written + rows_replace(CommissionEarnerDay, first=first, last=last, rows=earners)
