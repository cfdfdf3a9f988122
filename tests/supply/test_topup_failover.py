"""Confirmed failures move along the SKU's chain; an exhausted chain is refunded or held by the SKU's policy;
partial success and an upstream's exhausted balance."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from supply.adapters.base import Answer, Outcome
from supply.models import SupplyAlert, Topup, TopupAttempt, TopupEvent, TopupProfile, Upstream
from supply.services import attempt_answer_apply, topup_hold_refund, topup_hold_resubmit, topup_request, topups_poll
from supply.simulator import Faults
from tests.factories import UserFactory
from tests.supply.conftest import topup_wait, topups_of
from voucherhub.core.models import AuditLog

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PHONE = "13800138000"
FAILS = Faults(processing_seconds=0.1, failure_rate=1)


def _trail(topup):
    return list(topup.attempts.order_by("n").values_list("number", "upstream_id", "status"))


def test_failure_retries_then_fails_over_to_the_next_supplier(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: the first supplier (2 tries) fails every order, the second tops up
    sku = topup_sku()
    first = upstream_for(sku, retries=2, faults=FAILS)
    second = upstream_for(sku, position=2, faults=Faults(processing_seconds=0.1))
    # when
    topup = topup_wait(topup_request(reference="VH-FO", sku=sku, account=PHONE))
    # then: two attempts at the first, each under its own number, then the second one succeeded
    assert topup.status == Topup.Status.SUCCESS
    assert _trail(topup) == [
        ("VH-FO-A1", first.pk, TopupAttempt.Status.FAILED),
        ("VH-FO-A2", first.pk, TopupAttempt.Status.FAILED),
        ("VH-FO-A3", second.pk, TopupAttempt.Status.SUCCESS),
    ]
    assert (topup.upstream_id, topup.cost) == (second.pk, Decimal("48.50"))
    assert [signal["status"] for signal in finished_signals] == ["success"]
    assert topups_of(simulator, PHONE) == 1


def test_the_next_supplier_waits_for_the_failover_delay(supply_site, settings, simulator, topup_sku, upstream_for):
    # given: a pause of a minute between a confirmed failure and the next attempt
    settings.SUPPLY_FAILOVER_DELAY_SECONDS = 60
    sku = topup_sku()
    upstream_for(sku, faults=Faults(failure_rate=1))
    second = upstream_for(sku, position=2, faults=Faults(processing_seconds=0.1))
    topup = topup_request(reference="VH-DELAY", sku=sku, account=PHONE)
    assert simulator.wait_idle(5)
    topup.refresh_from_db()
    assert topup.attempts.get().status == TopupAttempt.Status.FAILED
    # when: the poller runs inside the pause, then after it
    topups_poll(now=timezone.now())
    assert topup.attempts.count() == 1
    topups_poll(now=timezone.now() + timedelta(minutes=2))
    # then
    topup = topup_wait(topup)
    assert (topup.status, topup.upstream_id, topup.attempts.count()) == (Topup.Status.SUCCESS, second.pk, 2)


def test_an_exhausted_chain_is_refunded(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: both suppliers fail; the SKU's policy is to refund
    sku = topup_sku(on_exhausted=TopupProfile.OnExhausted.REFUND)
    upstream_for(sku, faults=FAILS)
    upstream_for(sku, position=2, faults=FAILS)
    # when
    topup = topup_wait(topup_request(reference="VH-REFUND", sku=sku, account=PHONE))
    # then: failed, settlement told to refund, nobody topped up
    assert topup.status == Topup.Status.FAILED
    assert topup.finished_at is not None
    assert [status for _n, _u, status in _trail(topup)] == [TopupAttempt.Status.FAILED] * 2
    assert [(s["reference"], s["status"], s["delivered_value"]) for s in finished_signals] == [("VH-REFUND", "failed", None)]
    assert topups_of(simulator, PHONE) == 0


def test_an_exhausted_chain_is_held_then_refunded_by_operations(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: the only supplier fails; the SKU's policy is to hold
    sku = topup_sku(on_exhausted=TopupProfile.OnExhausted.HOLD)
    upstream_for(sku, faults=FAILS)
    # when
    topup = topup_wait(topup_request(reference="VH-HOLD", sku=sku, account=PHONE))
    # then: on hold, settlement not told anything yet
    assert topup.status == Topup.Status.ON_HOLD
    assert finished_signals == []
    topups_poll(now=timezone.now() + timedelta(hours=1))
    assert topup.attempts.count() == 1  # the poller leaves a held top-up to operations
    # when: operations refund it with a reason
    ops = UserFactory()
    topup_hold_refund(topup=topup, actor=ops, reason="用户要求退款")
    topup.refresh_from_db()
    assert topup.status == Topup.Status.FAILED
    event = topup.events.get(to_status=Topup.Status.FAILED)
    assert (event.source, event.actor, event.note) == (TopupEvent.Source.OPS, ops, "用户要求退款")
    assert AuditLog.objects.filter(action="supply.topup.refund", reason="用户要求退款").count() == 1
    assert [s["status"] for s in finished_signals] == ["failed"]


def test_operations_resubmit_a_held_topup_to_a_supplier_of_their_choice(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: a held top-up; a paused supplier (out of the chain) that would top up
    sku = topup_sku(on_exhausted=TopupProfile.OnExhausted.HOLD)
    upstream_for(sku, faults=FAILS)
    paused = upstream_for(sku, position=2, faults=Faults(processing_seconds=0.1), status=Upstream.Status.PAUSED)
    topup = topup_wait(topup_request(reference="VH-RESUB", sku=sku, account=PHONE))
    assert (topup.status, topup.attempts.count()) == (Topup.Status.ON_HOLD, 1)
    # when
    topup_hold_resubmit(topup=topup, upstream=paused, actor=UserFactory(), reason="换渠道")
    # then
    topup = topup_wait(topup)
    assert topup.status == Topup.Status.SUCCESS
    assert _trail(topup)[-1] == ("VH-RESUB-A2", paused.pk, TopupAttempt.Status.SUCCESS)
    assert topup.events.get(attempt__n=2, to_status=Topup.Status.SUBMITTED).source == TopupEvent.Source.OPS
    assert [s["status"] for s in finished_signals] == ["success"]


def test_partial_success_reports_the_delivered_value(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: a supplier that tops up 40% of the face value
    sku = topup_sku()
    upstream_for(sku, faults=Faults(processing_seconds=0.1, partial_rate=1, partial_ratio=Decimal("0.4")))
    upstream_for(sku, position=2)
    # when
    topup = topup_wait(topup_request(reference="VH-PART", sku=sku, account=PHONE))
    # then: final as partial (no failover: part of it was delivered), settlement refunds the difference
    assert (topup.status, topup.delivered_value) == (Topup.Status.PARTIAL, Decimal("20.00"))
    assert topup.attempts.count() == 1
    (signal,) = finished_signals
    assert (signal["status"], signal["delivered_value"], signal["face_value"]) == ("partial", Decimal("20.00"), Decimal("50.00"))


def test_an_exhausted_balance_fails_over_at_once(supply_site, settings, simulator, topup_sku, upstream_for):
    # given: the first supplier (3 tries, a long failover pause) has balance for one order only
    settings.SUPPLY_FAILOVER_DELAY_SECONDS = 600
    sku = topup_sku()
    poor = upstream_for(sku, retries=3, balance=Decimal("60.00"), faults=Faults(processing_seconds=0.1))
    rich = upstream_for(sku, position=2, faults=Faults(processing_seconds=0.1))
    first = topup_wait(topup_request(reference="VH-BAL-1", sku=sku, account=PHONE))
    assert (first.status, first.upstream_id) == (Topup.Status.SUCCESS, poor.pk)
    # when
    second = topup_wait(topup_request(reference="VH-BAL-2", sku=sku, account="13900139000"))
    # then: refused for balance, straight on to the next supplier (no pause, no retry there), one alert
    assert second.status == Topup.Status.SUCCESS
    assert list(second.attempts.order_by("n").values_list("upstream_id", "status", "outcome")) == [
        (poor.pk, TopupAttempt.Status.FAILED, "no_balance"),
        (rich.pk, TopupAttempt.Status.SUCCESS, "success"),
    ]
    assert SupplyAlert.objects.filter(upstream=poor, kind=SupplyAlert.Kind.NO_BALANCE).count() == 1


def test_a_supplier_reporting_success_for_an_attempt_we_counted_failed_raises_a_reconciliation_alert(
    supply_site, simulator, topup_sku, upstream_for, finished_signals
):
    # given: a refunded top-up whose only attempt failed
    sku = topup_sku()
    upstream = upstream_for(sku, faults=FAILS)
    topup = topup_wait(topup_request(reference="VH-LATE-WIN", sku=sku, account=PHONE))
    assert topup.status == Topup.Status.FAILED
    attempt = topup.attempts.get()
    # when: the supplier later says it did top up after all
    verdict = attempt_answer_apply(attempt_id=attempt.pk, answer=Answer(Outcome.SUCCESS), source=TopupEvent.Source.CALLBACK)
    # then: nothing moves (a final attempt never does), but operations get the costly difference to reconcile
    assert (verdict.changed, verdict.contradicts) == (False, True)
    topup.refresh_from_db()
    attempt.refresh_from_db()
    assert (topup.status, attempt.status) == (Topup.Status.FAILED, TopupAttempt.Status.FAILED)
    alert = SupplyAlert.objects.get(upstream=upstream, kind=SupplyAlert.Kind.RECONCILIATION)
    assert "VH-LATE-WIN-A1" in alert.message
    assert [s["status"] for s in finished_signals] == ["failed"]
