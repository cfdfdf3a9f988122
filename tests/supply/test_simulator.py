"""The supplier simulator does what its faults say: shares of failures, processing time, latency, callbacks
lost / duplicated / out of order / forged / sent again, balance running out, "exists" answers, and the
/_sim control API another process drives it with."""

import time
from decimal import Decimal

import pytest
import requests

from supply.adapters import adapter_for
from supply.adapters.base import Connection, Outcome, SubmitRequest
from supply.simulator import Faults, SupplierSimulator
from tests.supply.receiver import CallbackReceiver


def _conn(simulator, protocol="v2"):
    return Connection(base_url=simulator.base_url(protocol), app_key="m1", secret="s", callback_secret="c", timeout=3)


def _submit(simulator, number, *, product="P", notify_url="http://127.0.0.1:9/cb", protocol="v2"):
    request = SubmitRequest(number, product, "13800138000", "", Decimal("10.00"), None, notify_url)
    return adapter_for(protocol).submit(_conn(simulator, protocol), request)


@pytest.fixture
def sim(simulator):
    simulator.account(app_key="m1", secret="s", callback_secret="c", balance=Decimal("100000.00"))
    return simulator


def test_the_failure_rate_is_the_share_of_failed_orders_and_repeats_with_the_seed(sim):
    sim.product(product_id="P", face_value="10.00", cost="9.50", faults=Faults(failure_rate=0.3))
    for n in range(200):
        _submit(sim, f"R{n}-A1")

    states = [order.state for order in sim.orders_for("m1")]

    assert 40 <= states.count("failed") <= 80
    assert states.count("success") == 200 - states.count("failed")
    with SupplierSimulator(seed=7) as twin:  # the conftest simulator's seed
        twin.account(app_key="m1", secret="s", callback_secret="c")
        twin.product(product_id="P", face_value="10.00", cost="9.50", faults=Faults(failure_rate=0.3))
        for n in range(200):
            _submit(twin, f"R{n}-A1")
        assert [order.state for order in twin.orders_for("m1")] == states


def test_a_failed_order_gives_its_cost_back_and_a_partial_one_the_undelivered_share(sim):
    sim.account(app_key="m1", secret="s", callback_secret="c", balance=Decimal("100.00"))
    sim.product(product_id="P", face_value="10.00", cost="9.50", faults=Faults(failure_rate=1))
    sim.product(product_id="H", face_value="10.00", cost="9.50", faults=Faults(partial_rate=1, partial_ratio=Decimal("0.3")))
    _submit(sim, "F-A1")
    _submit(sim, "H-A1", product="H")

    failed, partial = sim.order("m1", "F-A1"), sim.order("m1", "H-A1")

    assert (failed.state, failed.cost, failed.topups) == ("failed", Decimal("0.00"), 0)
    assert (partial.state, partial.delivered_value, partial.cost, partial.topups) == ("partial", Decimal("3.00"), Decimal("2.85"), 1)
    assert sim.balance("m1") == Decimal("100.00") - Decimal("2.85")


def test_an_order_stays_processing_for_the_configured_seconds(sim):
    sim.product(product_id="P", face_value="10.00", cost="9.50", faults=Faults(processing_seconds=0.5))
    _submit(sim, "R1-A1")

    assert sim.order("m1", "R1-A1").state == "processing"
    time.sleep(0.6)
    assert sim.order("m1", "R1-A1").state == "success"


def test_latency_delays_every_answer_about_the_product(sim):
    sim.product(product_id="P", face_value="10.00", cost="9.50", faults=Faults(latency=0.4))
    started = time.monotonic()
    assert _submit(sim, "R1-A1").outcome == Outcome.PROCESSING
    assert time.monotonic() - started >= 0.4


def test_a_timed_out_order_is_created_and_answered_late(sim):
    sim.product(product_id="P", face_value="10.00", cost="9.50", faults=Faults(timeout_rate=1, timeout_sleep=0.8))
    conn = Connection(base_url=sim.base_url("gateway"), app_key="m1", secret="s", callback_secret="c", timeout=0.2)
    request = SubmitRequest("R1-A1", "P", "13800138000", "", Decimal("10.00"), None, "")

    assert adapter_for("gateway").submit(conn, request).outcome == Outcome.UNKNOWN
    assert sim.order("m1", "R1-A1").submits == 1


def test_a_number_sent_again_is_never_topped_up_again(sim):
    sim.product(product_id="P", face_value="10.00", cost="9.50")
    for _ in range(3):
        _submit(sim, "R1-A1")

    order = sim.order("m1", "R1-A1")

    assert (order.submits, order.topups) == (3, 1)
    assert sim.summary()["double_topups"] == 0
    assert sim.summary()["resubmitted_numbers"] == 1


def test_the_summary_counts_a_reference_topped_up_by_two_attempts(sim):
    sim.product(product_id="P", face_value="10.00", cost="9.50")
    _submit(sim, "R1-A1")
    _submit(sim, "R1-A2")  # a retry under a new number that should never have been sent
    _submit(sim, "R2-A1")

    assert sim.summary()["double_topups"] == 1


def test_the_balance_runs_out_and_then_orders_are_refused(sim):
    sim.account(app_key="m1", secret="s", callback_secret="c", balance=Decimal("20.00"))
    sim.product(product_id="P", face_value="10.00", cost="9.50")

    outcomes = [_submit(sim, f"R{n}-A1").outcome for n in range(3)]

    assert outcomes == [Outcome.PROCESSING, Outcome.PROCESSING, Outcome.NO_BALANCE]
    assert sim.balance("m1") == Decimal("1.00")


def test_exists_answers_come_for_fresh_numbers_at_the_configured_share(sim):
    sim.product(product_id="P", face_value="10.00", cost="9.50", faults=Faults(exists_rate=0.5))
    outcomes = [_submit(sim, f"R{n}-A1").outcome for n in range(40)]

    assert 10 <= outcomes.count(Outcome.EXISTS) <= 30
    assert len(sim.orders_for("m1")) == 40


# --- callbacks ---------------------------------------------------------------------------------------------------
def _callbacks(sim, faults, *, protocol="v2", reply=b"success", orders=1):
    sim.product(product_id="P", face_value="10.00", cost="9.50", faults=faults)
    with CallbackReceiver(reply=reply) as receiver:
        for n in range(orders):
            _submit(sim, f"R{n}-A1", notify_url=receiver.url(), protocol=protocol)
        assert sim.wait_idle(15)  # every callback went out and had its answer
    return receiver.received


def test_a_callback_is_sent_once_when_all_is_well(sim):
    received = _callbacks(sim, Faults())
    assert len(received) == 1
    assert [(r.kind, r.state, r.status) for r in sim.callbacks_for("R0-A1")] == [("final", "success", 200)]


def test_a_lost_callback_never_leaves(sim):
    received = _callbacks(sim, Faults(callback_lost_rate=1))
    assert received == []
    assert sim.callbacks_for() == []
    assert sim.order("m1", "R0-A1").state == "success"


def test_a_duplicated_callback_comes_twice(sim):
    received = _callbacks(sim, Faults(callback_duplicate_rate=1))
    assert len(received) == 2
    assert received[0].body.split(b"&timestamp=")[0] == received[1].body.split(b"&timestamp=")[0]


def test_an_out_of_order_callback_says_processing_after_the_final_one(sim):
    _callbacks(sim, Faults(callback_out_of_order_rate=1))
    assert [(r.kind, r.state) for r in sim.callbacks_for("R0-A1")] == [("final", "success"), ("out_of_order", "processing")]


def test_a_forged_callback_comes_first_with_a_bad_signature(sim):
    received = _callbacks(sim, Faults(callback_forged_rate=1))
    assert [r.kind for r in sim.callbacks_for("R0-A1")] == ["forged", "final"]
    assert b"state=3" in received[0].body  # the forgery claims the opposite
    assert b"state=2" in received[1].body


def test_the_callback_shares_are_exclusive_and_as_configured(sim):
    faults = Faults(callback_lost_rate=0.2, callback_duplicate_rate=0.2)
    _callbacks(sim, faults, orders=100)

    plans = [order.fate.callback for order in sim.orders_for("m1")]

    assert 10 <= plans.count("lost") <= 30
    assert 10 <= plans.count("duplicate") <= 30
    finals = [r for r in sim.callbacks_for() if r.kind == "final"]
    assert len(finals) == 100 - plans.count("lost")


def test_an_unacknowledged_callback_is_sent_again(sim, monkeypatch):
    monkeypatch.setattr("supply.simulator.server.CALLBACK_RETRIES", (0.1, 0.1))
    _callbacks(sim, Faults(), reply=b"fail")
    assert [r.kind for r in sim.callbacks_for("R0-A1")] == ["final", "final", "final"]


def test_the_voucherhub_callback_counts_the_json_acknowledgement(sim):
    _callbacks(sim, Faults(), protocol="voucherhub", reply=b'{"ok":true}')
    assert [r.kind for r in sim.callbacks_for("R0-A1")] == ["final"]


# --- the control API -----------------------------------------------------------------------------------------------
def test_another_process_configures_and_reads_it_over_http(simulator):
    base = simulator.url + "/_sim"
    assert requests.get(f"{base}/health", timeout=3).json() == {"ok": True}
    requests.post(f"{base}/accounts", json={"app_key": "m2", "secret": "s", "callback_secret": "c", "balance": "50"}, timeout=3)
    answer = requests.post(
        f"{base}/products",
        json={"product_id": "P", "face_value": "10.00", "cost": "9.50", "faults": {"failure_rate": 1, "partial_ratio": "0.2"}},
        timeout=3,
    )
    assert answer.json()["faults"]["failure_rate"] == 1.0
    conn = Connection(base_url=simulator.base_url("v2"), app_key="m2", secret="s", callback_secret="c", timeout=3)

    adapter_for("v2").submit(conn, SubmitRequest("R1-A1", "P", "13800138000", "", Decimal("10.00"), None, ""))

    [order] = requests.get(f"{base}/orders", params={"account": "m2"}, timeout=3).json()
    assert (order["number"], order["state"], order["submits"]) == ("R1-A1", "failed", 1)
    assert requests.get(f"{base}/summary", timeout=3).json()["by_state"] == {"failed": 1}
    requests.post(f"{base}/reset", timeout=3)
    assert requests.get(f"{base}/summary", timeout=3).json()["orders"] == 0


# --- the demo and the command ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_demo_upstreams_open_accounts_the_adapters_can_use(simulator):
    from supply import demo
    from supply.models import Upstream

    demo.seed(out=type("Out", (), {"write": lambda self, text: None})())
    demo.seed(out=type("Out", (), {"write": lambda self, text: None})())  # twice: nothing doubles
    assert Upstream.objects.count() == 3
    for upstream in Upstream.objects.all():  # point them at this test's simulator instead of :8900
        upstream.base_url = upstream.base_url.replace(demo.SIMULATOR_URL, simulator.url)
        upstream.save(update_fields=["base_url"])

    setups = demo.simulator_accounts(base_url=simulator.url)
    for setup in setups:
        simulator.account(setup["app_key"], secret=setup["secret"], callback_secret=setup["callback_secret"], balance=setup["balance"])

    assert sorted(len(setup["products"]) for setup in setups) == [2, 3, 3]
    for upstream in Upstream.objects.all():
        assert adapter_for(upstream.protocol).balance(upstream.connection()) == upstream.balance


def test_the_command_serves_until_sigterm():
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_supplier_simulator", "--port", str(port), "--no-upstreams"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                assert requests.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1).json() == {"ok": True}
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("the simulator did not answer")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "Supplier simulator stopped." in output


@pytest.mark.postgres
@pytest.mark.slow
def test_serve_with_the_simulator_starts_it_beside_the_site_and_stops_it_with_it(transactional_db):
    """`make run` = serve.py --simulator: the simulator answers while the site does, and is gone after SIGTERM."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    from tests.core.test_serve import ROOT, environment, free_port, wait_until_up

    site, sim = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "voucherhub.core.serve", site, "--simulator", sim]
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        wait_until_up(f"http://{site}/accounts/login/", process, time.monotonic() + 40)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                assert requests.get(f"http://{sim}/_sim/health", timeout=1).json() == {"ok": True}
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        else:
            pytest.fail("the simulator did not answer")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=10)
            pytest.fail("serve did not stop within 40 s:\n" + output)
    assert process.returncode == 0, output
    assert "Supplier simulator stopped." in output and "Traceback" not in output, output
    host, port = sim.split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()
