"""The coarser rollups (issue 17, performance): team rows fanned out over each paid order's chain, the platform
and per-level sums of the finer tables, and the watermark a first rebuild leaves for the job."""

from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum

from analytics.models import (
    CommissionDay,
    CommissionEarnerDay,
    CommissionLevelDay,
    DistributorDay,
    DistributorSalesDay,
    PlatformHeat,
    RedemptionHeat,
    RollupState,
    TeamMemberDay,
    TeamSalesDay,
    TeamSkuDay,
)
from analytics.rollups import all_rollups, rollups_rebuild, rollups_refresh
from analytics.rollups.coarse import commission_coarse_recompute, heat_recompute
from settlement.services.orders import order_refund
from tests.analytics import rollup_rows
from tests.analytics.rollup_support import at, local, portal_buy
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal
DAY = date(2026, 11, 3)


def test_a_paid_order_counts_once_for_every_upline_in_its_chain(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    fund(tree.other, "1000.00", actor=finance_user)
    first = portal_buy(tree, 2, local(2026, 11, 3, 10))
    second = portal_buy(tree, 1, local(2026, 11, 3, 23, 40))  # still the local 3 Nov
    assert first.chain == [tree.mid.pk, tree.top.pk]
    with at(local(2026, 11, 4, 9)):
        order_refund(order=second, actor=finance_user, reason="not wanted")  # a refunded order still counts
        rollups_refresh()

    revenue = first.total + second.total
    team = {(row.ancestor_id, row.depth): (row.orders, row.quantity, row.revenue) for row in TeamSalesDay.objects.filter(day=DAY)}
    assert team == {(tree.mid.pk, 1): (2, 3, revenue), (tree.top.pk, 2): (2, 3, revenue)}
    members = set(TeamMemberDay.objects.values_list("day", "ancestor_id", "member_id", "orders"))
    assert members == {(DAY, tree.mid.pk, tree.seller.pk, 2), (DAY, tree.top.pk, tree.seller.pk, 2)}
    skus = set(TeamSkuDay.objects.values_list("ancestor_id", "sku_id", "quantity", "revenue"))
    assert skus == {(tree.mid.pk, tree.sku.pk, 3, revenue), (tree.top.pk, tree.sku.pk, 3, revenue)}
    assert not TeamSalesDay.objects.filter(ancestor_id__in=(tree.seller.pk, tree.other.pk)).exists()  # no downline


def test_distributor_day_sums_the_channels_of_distributor_sales_day(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    portal_buy(tree, 2, local(2026, 11, 3, 10))
    portal_buy(tree, 1, local(2026, 11, 5, 10))
    with at(local(2026, 11, 6, 9)):
        rollups_refresh()

    fine = DistributorSalesDay.objects.values("day", "distributor_id").annotate(revenue=Sum("revenue"), orders=Sum("orders"))
    coarse = DistributorDay.objects.values("day", "distributor_id", "revenue", "orders")
    assert sorted(map(repr, fine.order_by("day"))) == sorted(map(repr, coarse.order_by("day")))
    assert DistributorDay.objects.count() == 2


def test_platform_heat_and_commission_per_level_and_earner_sum_the_finer_rows():
    for merchant in (1, 2):
        rollup_rows.redemptions(day=DAY, sku_id=1, merchant_id=merchant, store_id=merchant, hour=12, redemptions=merchant)
    rollup_rows.redemptions(day=DAY, sku_id=1, merchant_id=2, store_id=2, hour=19, redemptions=5)
    PlatformHeat.objects.all().delete()  # the factory writes them; the rollup must find them again
    heat_recompute(DAY, DAY)
    assert set(PlatformHeat.objects.values_list("day", "weekday", "local_hour", "redemptions")) == {(DAY, 1, 12, 3), (DAY, 1, 19, 5)}
    assert RedemptionHeat.objects.count() == 3

    CommissionDay.objects.create(day=DAY, distributor_id=7, depth=1, accrued=D("2.00"), frozen=D("2.00"))
    CommissionDay.objects.create(day=DAY, distributor_id=8, depth=1, accrued=D("3.00"), released=D("1.00"), frozen=D("4.00"))
    CommissionDay.objects.create(day=DAY, distributor_id=8, depth=2, frozen=D("6.00"))  # a balance only
    commission_coarse_recompute(DAY, DAY)
    levels = set(CommissionLevelDay.objects.values_list("depth", "accrued", "released", "frozen"))
    assert levels == {(1, D("5.00"), D("1.00"), D("6.00")), (2, D("0.00"), D("0.00"), D("6.00"))}
    earners = set(CommissionEarnerDay.objects.values_list("distributor_id", "accrued", "released"))
    assert earners == {(7, D("2.00"), D("0.00")), (8, D("3.00"), D("1.00"))}  # no balance-only row


def test_a_first_rebuild_sets_the_watermark_so_the_next_run_recomputes_only_changes(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    portal_buy(tree, 1, local(2026, 11, 3, 10))
    assert not RollupState.objects.exists()
    with at(local(2026, 11, 6, 9)):
        rollups_rebuild(date(2026, 11, 1))
    states = dict(RollupState.objects.values_list("name", "watermark"))
    assert states == {rollup.name: local(2026, 11, 6, 9) for rollup in all_rollups()}
    with at(local(2026, 11, 6, 9, 5)):
        assert rollups_refresh()["sales"] == 0  # nothing changed since the rebuild: no day recomputed
    portal_buy(tree, 1, local(2026, 11, 6, 9, 10))
    with at(local(2026, 11, 6, 9, 11)):
        assert rollups_refresh()["sales"] == 1


def test_a_rebuild_that_stops_before_today_or_finds_a_watermark_leaves_it(tree):
    with at(local(2026, 11, 6, 9)):
        rollups_rebuild(date(2026, 11, 1), date(2026, 11, 4))
    assert not RollupState.objects.filter(watermark__isnull=False).exists()  # 5 Nov and today are left to the job
    RollupState.objects.create(name="sales", watermark=local(2026, 11, 2, 8))
    with at(local(2026, 11, 6, 9)):
        rollups_rebuild(date(2026, 11, 5))
    assert RollupState.objects.get(name="sales").watermark == local(2026, 11, 2, 8)
    assert RollupState.objects.get(name="visits").watermark == local(2026, 11, 6, 9)
