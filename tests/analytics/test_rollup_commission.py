"""Commission per beneficiary, level and local day, read from the ledger: accrued, released and clawed back on
the days they happened, and the frozen balance at each day's end."""

from datetime import date
from decimal import Decimal

import pytest

from analytics.models import CommissionDay
from analytics.rollups import commission
from analytics.rollups.base import rollup_refresh
from settlement.models import CommissionAccrual
from settlement.services.commission import commission_release
from settlement.services.orders import order_refund
from settlement.services.wallets import wallet_for
from tests.analytics.rollup_support import at, local, portal_buy
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal


def rows(distributor) -> dict:
    """{day: (level, accrued, released, clawed back, frozen)} of one beneficiary."""
    found = CommissionDay.objects.filter(distributor_id=distributor.pk).order_by("day")
    return {row.day: (row.depth, row.accrued, row.released, row.clawed_back, row.frozen) for row in found}


def refresh(moment) -> int:
    with at(moment):
        return rollup_refresh(commission.ROLLUP)


def test_accrued_released_clawed_back_by_their_days_and_frozen_at_each_days_end(tree, finance_user):
    # mid (level 1) earns 1.00 per code, top (level 2) 2 percent of the sale; the seller pays 26.00 a code
    fund(tree.seller, "1000.00", actor=finance_user)
    first = portal_buy(tree, 2, local(2026, 11, 2, 10))
    assert refresh(local(2026, 11, 2, 11)) == 1
    second = portal_buy(tree, 1, local(2026, 11, 3, 11))
    with at(local(2026, 11, 3, 15)):
        order_refund(order=first, actor=finance_user, reason="one code unused", quantity=1)  # from frozen
    assert refresh(local(2026, 11, 3, 16)) == 1
    with at(local(2026, 11, 4, 12)):
        for accrual in CommissionAccrual.objects.filter(wallet=wallet_for(tree.mid)):
            commission_release(accrual=accrual)
    assert refresh(local(2026, 11, 4, 13)) == 1
    with at(local(2026, 11, 6, 9)):
        order_refund(order=second, actor=finance_user, reason="not wanted")  # mid's from available, top's from frozen
    assert refresh(local(2026, 11, 6, 10)) == 2  # 5 Nov carries top's frozen balance, 6 Nov moved

    assert rows(tree.mid) == {
        date(2026, 11, 2): (1, D("2.00"), D("0.00"), D("0.00"), D("2.00")),
        date(2026, 11, 3): (1, D("1.00"), D("0.00"), D("1.00"), D("2.00")),
        date(2026, 11, 4): (1, D("0.00"), D("2.00"), D("0.00"), D("0.00")),
        date(2026, 11, 6): (1, D("0.00"), D("0.00"), D("1.00"), D("0.00")),
    }
    assert rows(tree.top) == {
        date(2026, 11, 2): (2, D("1.04"), D("0.00"), D("0.00"), D("1.04")),
        date(2026, 11, 3): (2, D("0.52"), D("0.00"), D("0.52"), D("1.04")),
        date(2026, 11, 4): (2, D("0.00"), D("0.00"), D("0.00"), D("1.04")),
        date(2026, 11, 5): (2, D("0.00"), D("0.00"), D("0.00"), D("1.04")),
        date(2026, 11, 6): (2, D("0.00"), D("0.00"), D("0.52"), D("0.52")),
    }
    # the day's frozen total equals the ledger's frozen balances now
    frozen_now = sum(a.frozen_remaining for a in CommissionAccrual.objects.all())
    assert sum(row.frozen for row in CommissionDay.objects.filter(day=date(2026, 11, 6))) == frozen_now == D("0.52")


def test_nothing_changed_nothing_recomputed_and_a_new_day_carries_the_frozen_balance(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    portal_buy(tree, 1, local(2026, 11, 2, 10))
    assert refresh(local(2026, 11, 2, 11)) == 1
    assert refresh(local(2026, 11, 2, 11, 1)) == 0
    assert refresh(local(2026, 11, 3, 8)) == 1  # a new day: the frozen balance is that day's too
    assert CommissionDay.objects.filter(day=date(2026, 11, 3)).count() == 2
    assert refresh(local(2026, 11, 3, 8, 1)) == 0


def test_a_rebuild_from_the_first_day_equals_the_job(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    order = portal_buy(tree, 2, local(2026, 11, 2, 10))
    refresh(local(2026, 11, 2, 11))
    with at(local(2026, 11, 4, 10)):
        order_refund(order=order, actor=finance_user, reason="late", quantity=1)
    refresh(local(2026, 11, 4, 11))
    before = sorted(rows(tree.mid).items()) + sorted(rows(tree.top).items())
    CommissionDay.objects.all().delete()
    with at(local(2026, 11, 4, 12)):
        commission.commission_recompute(date(2026, 11, 2), date(2026, 11, 4))
    assert sorted(rows(tree.mid).items()) + sorted(rows(tree.top).items()) == before
    assert len(before) == 6  # 3 days × 2 beneficiaries, 3 Nov carrying the balances
