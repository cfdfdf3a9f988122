"""Upstreams: demotion by success rate (and restore by hand), balance reads and low-balance alerts, and the
numbers the ops page shows."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from supply.models import SupplyAlert, Topup, TopupAttempt, Upstream
from supply.selectors import hold_queue, upstream_stats
from supply.services import topup_request, upstream_balance_refresh, upstream_restore
from supply.simulator import Faults
from tests.factories import UserFactory
from tests.supply.conftest import topup_wait, topups_of
from voucherhub.core.models import AuditLog

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_a_supplier_under_its_success_rate_floor_is_demoted_and_skipped_until_restored(supply_site, simulator, topup_sku, upstream_for):
    # given: the first supplier fails every order; it is judged after 3 attempts against a floor of 80%
    sku = topup_sku()
    flaky = upstream_for(sku, faults=Faults(failure_rate=1), rate_min_attempts=3, success_rate_floor=Decimal("0.8"))
    steady = upstream_for(sku, position=2)
    phones = [f"1380013800{n}" for n in range(5)]
    # when: three orders each fail there first and succeed at the second supplier
    for n in range(3):
        assert topup_wait(topup_request(reference=f"VH-DEM-{n}", sku=sku, account=phones[n])).status == Topup.Status.SUCCESS
    # then: demoted after the third failure, with an alert; the next order goes straight to the second supplier
    flaky.refresh_from_db()
    assert flaky.status == Upstream.Status.DEMOTED
    assert "0.0%" in flaky.status_reason
    assert SupplyAlert.objects.filter(upstream=flaky, kind=SupplyAlert.Kind.DEMOTED).count() == 1
    skipped = topup_wait(topup_request(reference="VH-DEM-3", sku=sku, account=phones[3]))
    assert list(skipped.attempts.values_list("upstream_id", flat=True)) == [steady.pk]
    # when: operations restore it; its rate counts afresh, so one more failure does not demote it again
    upstream_restore(upstream=flaky, actor=UserFactory(), reason="供应商已修复")
    again = topup_wait(topup_request(reference="VH-DEM-4", sku=sku, account=phones[4]))
    assert list(again.attempts.values_list("upstream_id", "status")) == [
        (flaky.pk, TopupAttempt.Status.FAILED),
        (steady.pk, TopupAttempt.Status.SUCCESS),
    ]
    flaky.refresh_from_db()
    assert flaky.status == Upstream.Status.ACTIVE
    assert AuditLog.objects.filter(action="supply.upstream.restore").count() == 1
    assert all(topups_of(simulator, phone) == 1 for phone in phones)


def test_a_balance_under_the_threshold_raises_one_low_balance_alert(db, simulator, topup_sku, upstream_for):
    # given: our balance at the supplier is 300, the threshold 500
    upstream = upstream_for(topup_sku(), balance=Decimal("300.00"), low_balance_threshold=Decimal("500.00"))
    # when: read twice
    assert upstream_balance_refresh(upstream=upstream) == Decimal("300.00")
    upstream_balance_refresh(upstream=upstream)
    # then: stored, one open alert
    upstream.refresh_from_db()
    assert (upstream.balance, upstream.balance_checked_at is not None) == (Decimal("300.00"), True)
    assert SupplyAlert.objects.filter(upstream=upstream, kind=SupplyAlert.Kind.LOW_BALANCE).count() == 1
    # and a supplier above its threshold raises none
    rich = upstream_for(topup_sku(), balance=Decimal("9000.00"), low_balance_threshold=Decimal("500.00"))
    upstream_balance_refresh(upstream=rich)
    assert not SupplyAlert.objects.filter(upstream=rich).exists()


def test_upstream_stats_count_rates_times_and_in_flight_orders(supply_site, simulator, topup_sku, upstream_for):
    # given: one supplier that succeeds, one that fails (held), one whose order is still processing
    sku = topup_sku()
    good = upstream_for(sku, faults=Faults(processing_seconds=0.2))
    topup_wait(topup_request(reference="VH-ST-1", sku=sku, account="13800138001"))
    held_sku = topup_sku(on_exhausted="hold")
    bad = upstream_for(held_sku, faults=Faults(failure_rate=1))
    held = topup_wait(topup_request(reference="VH-ST-2", sku=held_sku, account="13800138002"))
    slow_sku = topup_sku()
    slow = upstream_for(slow_sku, faults=Faults(processing_seconds=60, callback_lost_rate=1))
    topup_request(reference="VH-ST-3", sku=slow_sku, account="13800138003")
    # when
    stats = {row.upstream.pk: row for row in upstream_stats(since=timezone.now() - timedelta(hours=1))}
    # then
    assert (stats[good.pk].finished, stats[good.pk].success_rate, stats[good.pk].in_flight) == (1, Decimal("1"), 0)
    assert stats[good.pk].median_seconds >= 0.2 and stats[good.pk].p95_seconds >= stats[good.pk].median_seconds
    assert (stats[bad.pk].finished, stats[bad.pk].success_rate) == (1, Decimal("0"))
    assert (stats[slow.pk].finished, stats[slow.pk].success_rate, stats[slow.pk].in_flight) == (0, None, 1)
    assert list(hold_queue()) == [held]
    # and a window after the orders counts none of them
    later = {row.upstream.pk: row for row in upstream_stats(since=timezone.now() + timedelta(seconds=1))}
    assert later[good.pk].finished == 0
