"""Top-ups finished by the supplier's callback, over real HTTP: the simulator posts to the live site."""

from decimal import Decimal

import pytest

from supply.models import SupplyCallback, Topup, TopupAttempt, TopupEvent
from supply.services import topup_request
from supply.simulator import Faults
from tests.supply.conftest import topup_wait, topups_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PHONE = "13800138000"


@pytest.mark.parametrize("protocol", ["v2", "gateway", "voucherhub"])
def test_success_by_callback(supply_site, simulator, topup_sku, upstream_for, finished_signals, protocol):
    # given: one supplier that finishes after a moment and calls back
    sku = topup_sku()
    upstream = upstream_for(sku, protocol=protocol, faults=Faults(processing_seconds=0.3))
    # when
    topup = topup_wait(topup_request(reference=f"VH-CB-{protocol}", sku=sku, account=PHONE))
    assert simulator.wait_idle(5)  # the callback was answered (and so recorded)
    # then: success came by the callback, recorded and verified; settlement heard of it once
    assert topup.status == Topup.Status.SUCCESS
    assert (topup.delivered_value, topup.cost, topup.upstream_id) == (Decimal("50.00"), Decimal("48.50"), upstream.pk)
    attempt = topup.attempts.get()
    assert (attempt.number, attempt.status) == (f"VH-CB-{protocol}-A1", TopupAttempt.Status.SUCCESS)
    assert topup.events.filter(to_status=Topup.Status.SUCCESS, source=TopupEvent.Source.CALLBACK).count() == 1
    callback = SupplyCallback.objects.get(attempt=attempt)
    assert (callback.verified, callback.duplicate) == (True, False)
    assert [(signal["reference"], signal["status"]) for signal in finished_signals] == [(topup.reference, "success")]
    assert topup.announced_at is not None
    assert simulator.callbacks_for(attempt.number)[-1].status == 200  # answered in the protocol's form
    assert topups_of(simulator, PHONE) == 1


def test_duplicate_and_out_of_order_callbacks_change_nothing(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: a supplier that sends its final callback twice, and another that sends "processing" after success
    sku = topup_sku()
    upstream_for(sku, faults=Faults(processing_seconds=0.2, callback_duplicate_rate=1))
    twice = topup_wait(topup_request(reference="VH-DUP", sku=sku, account=PHONE))
    late_sku = topup_sku()
    upstream_for(late_sku, faults=Faults(processing_seconds=0.2, callback_out_of_order_rate=1))
    late = topup_wait(topup_request(reference="VH-LATE", sku=late_sku, account="13900139000"))
    assert simulator.wait_idle(10)
    # then: both succeeded once; the second callback of each was accepted as a duplicate and moved nothing
    for topup in (twice, late):
        topup.refresh_from_db()
        assert topup.status == Topup.Status.SUCCESS
        callbacks = list(SupplyCallback.objects.filter(attempt__topup=topup).order_by("pk"))
        assert [(c.verified, c.duplicate) for c in callbacks] == [(True, False), (True, True)]
        assert topup.attempts.get().status == TopupAttempt.Status.SUCCESS
        assert topup.events.filter(to_status=Topup.Status.SUCCESS).count() == 1
    assert sorted(signal["reference"] for signal in finished_signals) == ["VH-DUP", "VH-LATE"]
    assert [record.status for record in simulator.callbacks_for("VH-DUP-A1")] == [200, 200]


def test_a_forged_callback_is_refused_and_the_real_one_counts(supply_site, simulator, topup_sku, upstream_for, finished_signals):
    # given: a supplier whose order succeeds, but a forger first posts "failed" with a bad signature
    sku = topup_sku()
    upstream_for(sku, faults=Faults(processing_seconds=0.2, callback_forged_rate=1))
    # when
    topup = topup_wait(topup_request(reference="VH-FORGED", sku=sku, account=PHONE))
    assert simulator.wait_idle(10)  # every callback answered (and so recorded)
    # then: the forged one is recorded unverified and refused; the top-up succeeded by the genuine one
    assert topup.status == Topup.Status.SUCCESS
    forged, genuine = SupplyCallback.objects.filter(upstream__topups=topup).order_by("pk")
    assert (forged.verified, forged.attempt_id) == (False, None)
    assert forged.outcome.startswith(("Refused", "已拒绝"))  # stored in the language of the request
    assert forged.outcome.endswith(("the signature does not match", "签名不符"))  # in words, not the adapter's code
    assert genuine.verified and not genuine.duplicate
    assert [record.status for record in simulator.callbacks_for("VH-FORGED-A1")][0] != 200
    assert [signal["status"] for signal in finished_signals] == ["success"]
