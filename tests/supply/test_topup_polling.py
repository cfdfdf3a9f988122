"""Lost callbacks and unknown answers: the poller queries (with backoff) before anything else is tried, and a
top-up is never submitted twice."""

import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from supply.models import Topup, TopupAttempt, TopupEvent, Upstream
from supply.services import topup_request, topups_poll
from supply.simulator import Faults
from tests.supply.conftest import topup_wait, topups_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PHONE = "13800138000"
LATER = timedelta(minutes=5)


def test_success_by_polling_when_the_callback_is_lost(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: a supplier that tops up but never calls back
    sku = topup_sku()
    upstream = upstream_for(sku, faults=Faults(callback_lost_rate=1))
    topup = topup_request(reference="VH-LOST", sku=sku, account=PHONE)
    assert simulator.wait_idle(5)
    topup.refresh_from_db()
    assert topup.status == Topup.Status.PROCESSING
    # when: the poller runs before the attempt is due, then once it is
    assert topups_poll(now=timezone.now()) == 0
    assert topups_poll(now=timezone.now() + LATER) == 1
    # then: the query found the success
    topup.refresh_from_db()
    attempt = topup.attempts.get()
    assert (topup.status, attempt.status, attempt.queries) == (Topup.Status.SUCCESS, TopupAttempt.Status.SUCCESS, 1)
    assert topup.events.get(to_status=Topup.Status.SUCCESS).source == TopupEvent.Source.QUERY
    assert [signal["status"] for signal in finished_signals] == ["success"]
    assert len(simulator.orders_for(upstream.app_key)) == 1
    # and a second run finds nothing to do
    assert topups_poll(now=timezone.now() + 2 * LATER) == 0


def test_a_timeout_is_queried_and_the_success_found_without_a_second_submit(supply_site, simulator, topup_sku, upstream_for):
    # given: the first supplier answers only after our timeout (the order is created all the same) and never
    # calls back; a second supplier would take the order
    sku = topup_sku()
    slow = upstream_for(sku, faults=Faults(timeout_rate=1, timeout_sleep=2, callback_lost_rate=1))
    spare = upstream_for(sku, position=2)
    # when
    topup = topup_request(reference="VH-TIMEOUT", sku=sku, account=PHONE)
    topup.refresh_from_db()
    attempt = topup.attempts.get()
    # then: the answer is unknown, so nothing else is tried until a query says what happened
    assert (topup.status, attempt.status) == (Topup.Status.UNKNOWN, TopupAttempt.Status.UNKNOWN)
    assert topups_poll(now=timezone.now() + LATER) == 1
    topup.refresh_from_db()
    assert topup.status == Topup.Status.SUCCESS
    assert topup.attempts.count() == 1
    assert topup.events.get(to_status=Topup.Status.SUCCESS).source == TopupEvent.Source.QUERY
    (order,) = simulator.orders_for(slow.app_key)
    assert (order.number, order.submits) == ("VH-TIMEOUT-A1", 1)
    assert simulator.orders_for(spare.app_key) == []
    assert topups_of(simulator, PHONE) == 1


def test_an_order_number_exists_answer_is_queried_never_failed(supply_site, simulator, topup_sku, upstream_for):
    # given: a supplier that answers a fresh submit with "order number exists" (it has the order)
    sku = topup_sku()
    upstream_for(sku, faults=Faults(exists_rate=1, callback_lost_rate=1))
    spare = upstream_for(sku, position=2)
    # when
    topup = topup_request(reference="VH-EXISTS", sku=sku, account=PHONE)
    topup.refresh_from_db()
    assert topup.status == Topup.Status.UNKNOWN
    assert topup.attempts.get().next_query_at <= timezone.now()  # queried at once
    topups_poll(now=timezone.now())
    # then
    topup.refresh_from_db()
    assert topup.status == Topup.Status.SUCCESS
    assert simulator.orders_for(spare.app_key) == []
    assert topups_of(simulator, PHONE) == 1


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v2"


def test_a_submission_that_never_arrived_fails_over_only_after_the_submit_window(supply_site, simulator, topup_sku, upstream_for):
    # given: the first supplier is unreachable when we submit (unknown), reachable when we query (not found)
    sku = topup_sku()
    first = upstream_for(sku)
    real_url = first.base_url
    Upstream.objects.filter(pk=first.pk).update(base_url=_closed_port_url())
    second = upstream_for(sku, position=2, faults=Faults(processing_seconds=0.2))
    topup = topup_request(reference="VH-NEVER", sku=sku, account=PHONE)
    topup.refresh_from_db()
    assert topup.status == Topup.Status.UNKNOWN
    Upstream.objects.filter(pk=first.pk).update(base_url=real_url)
    # when: a query inside the submit window hears "not found": it keeps waiting
    topups_poll(now=timezone.now() + timedelta(seconds=10))
    topup.refresh_from_db()
    attempt = topup.attempts.get()
    assert (topup.status, attempt.status, attempt.outcome) == (Topup.Status.UNKNOWN, TopupAttempt.Status.UNKNOWN, "not_found")
    # when: past the window it counts as failed, and the next supplier takes the order
    topups_poll(now=timezone.now() + LATER)
    topup = topup_wait(topup)
    assert topup.status == Topup.Status.SUCCESS
    assert list(topup.attempts.values_list("upstream_id", "status")) == [
        (first.pk, TopupAttempt.Status.FAILED),
        (second.pk, TopupAttempt.Status.SUCCESS),
    ]
    assert topups_of(simulator, PHONE) == 1


def test_one_attempt_the_poller_cannot_query_does_not_stall_the_others(supply_site, simulator, topup_sku, upstream_for, caplog):
    # given: two top-ups waiting for their lost callbacks; the first one's supplier cannot be asked any more
    sku, other_sku = topup_sku(), topup_sku()
    broken = upstream_for(sku, faults=Faults(callback_lost_rate=1))
    upstream_for(other_sku, faults=Faults(callback_lost_rate=1))
    stuck = topup_request(reference="VH-STUCK", sku=sku, account=PHONE)
    fine = topup_request(reference="VH-FINE", sku=other_sku, account="13900139000")
    Upstream.objects.filter(pk=broken.pk).update(protocol="retired-protocol")
    # when
    handled = topups_poll(now=timezone.now() + LATER)
    # then: the other one was still queried and finished; the failure is logged and the row retried later
    assert handled == 2
    fine.refresh_from_db()
    stuck.refresh_from_db()
    assert (fine.status, stuck.status) == (Topup.Status.SUCCESS, Topup.Status.PROCESSING)
    assert "attempt_query" in caplog.text
    assert stuck.attempts.get().next_query_at > timezone.now()


def test_an_announcement_a_receiver_refused_is_made_again_by_the_poller(supply_site, simulator, topup_sku, upstream_for, caplog):
    # given: settlement's side fails the first time it hears of a top-up
    from supply.signals import topup_finished

    heard = []

    def flaky_receiver(sender, reference, status, **kwargs):
        heard.append((reference, status))
        if len(heard) == 1:
            raise RuntimeError("ledger busy")

    topup_finished.connect(flaky_receiver, dispatch_uid="tests.supply.flaky")
    try:
        sku = topup_sku()
        upstream_for(sku, faults=Faults(processing_seconds=0.1))
        topup = topup_wait(topup_request(reference="VH-TELL", sku=sku, account=PHONE))
        # then: final, the callback was answered all the same, but not marked announced
        assert (topup.status, topup.announced_at) == (Topup.Status.SUCCESS, None)
        assert simulator.callbacks_for("VH-TELL-A1")[-1].status == 200
        # when: the poller runs a while later, twice
        topups_poll(now=timezone.now() + LATER)
        topups_poll(now=timezone.now() + 2 * LATER)
    finally:
        topup_finished.disconnect(dispatch_uid="tests.supply.flaky")
    # then: told again once, and marked
    topup.refresh_from_db()
    assert heard == [("VH-TELL", "success"), ("VH-TELL", "success")]
    assert topup.announced_at is not None


def test_a_supplier_that_stays_silent_raises_one_alert_and_its_top_up_is_still_queried(supply_site, simulator, topup_sku, upstream_for):
    from supply.models import SupplyAlert

    # given: a supplier that accepts the top-up, never calls back and answers "processing" to every query
    sku = topup_sku()
    upstream = upstream_for(sku, faults=Faults(processing_seconds=24 * 3600, callback_lost_rate=1))
    topup = topup_request(reference="VH-SILENT", sku=sku, account=PHONE)
    deadline = time.monotonic() + 10
    while topup.status != Topup.Status.PROCESSING and time.monotonic() < deadline:
        time.sleep(0.05)
        topup.refresh_from_db()
    assert topup.status == Topup.Status.PROCESSING
    # when: the poller runs before and after SUPPLY_STUCK_ALERT_MINUTES (30 by default), twice after
    topups_poll(now=timezone.now() + LATER)
    assert not SupplyAlert.objects.filter(kind=SupplyAlert.Kind.STUCK).exists()
    topups_poll(now=timezone.now() + timedelta(minutes=31))
    topups_poll(now=timezone.now() + timedelta(minutes=40))
    # then: one alert for the upstream, in words; the top-up keeps its one attempt, still open and queried
    alert = SupplyAlert.objects.get(kind=SupplyAlert.Kind.STUCK)
    assert alert.upstream == upstream and "1" in alert.message
    topup.refresh_from_db()
    attempt = topup.attempts.get()
    assert topup.status == Topup.Status.PROCESSING and attempt.queries >= 2
    assert len(simulator.orders_for(upstream.app_key)) == 1
