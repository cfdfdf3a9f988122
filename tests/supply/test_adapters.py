"""The three protocol adapters against the supplier simulator over real HTTP: submit, query, balance, card
purchase, callbacks verified (and forged or stale ones refused), and trouble on the wire read as UNKNOWN."""

import hashlib
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

import pytest

from supply.adapters import adapter_for
from supply.adapters.base import CallbackRejected, Connection, NotSupported, Outcome, SubmitRequest, SupplierUnavailable
from supply.adapters.gateway import CHINA, TIME_FORMAT, gateway_sign
from supply.adapters.v2 import v2_sign
from supply.simulator import Faults
from tests.supply.receiver import CallbackReceiver
from voucherhub.core import apisign

PROTOCOLS = ["gateway", "v2", "voucherhub"]
ACK = {"gateway": b"success", "v2": b"success", "voucherhub": b'{"ok": true}'}


@pytest.fixture
def supplier(simulator):
    """An account at the simulator and a product of face value 50 costing 48.50 (faults as the test wants);
    returns the Connection of `protocol`."""

    def make(protocol, *, faults=None, balance="1000.00", timeout=2.0):
        simulator.account(app_key="m1", secret="api-secret", callback_secret="cb-secret", balance=Decimal(balance))
        simulator.product(product_id="P50", face_value=Decimal("50.00"), cost=Decimal("48.50"), faults=faults or Faults())
        return Connection(
            base_url=simulator.base_url(protocol), app_key="m1", secret="api-secret", callback_secret="cb-secret", timeout=timeout
        )

    return make


def request(number="R100-A1", *, notify_url="http://127.0.0.1:9/cb", max_price=None, face_value="50.00"):
    return SubmitRequest(
        number=number,
        product_id="P50",
        account="13800138000",
        region="",
        face_value=Decimal(face_value),
        max_price=max_price,
        notify_url=notify_url,
    )


def until(check, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


# --- signatures, pinned to the documented rules ------------------------------------------------------------
def test_gateway_signature_is_md5_of_sorted_names_and_values_then_the_secret():
    params = {"method": "fulu.user.info.get", "app_key": "K", "biz_content": "{}", "empty": "", "sign": "old"}
    expected = hashlib.md5(b"app_keyKbiz_content{}methodfulu.user.info.getSECRET").hexdigest()
    assert gateway_sign(params, "SECRET") == expected


def test_v2_signature_is_upper_md5_of_sorted_pairs_and_the_apikey():
    params = {"userid": "7", "out_trade_num": "R1-A1", "price": "", "mobile": "13800138000", "sign": "x"}
    expected = hashlib.md5(b"mobile=13800138000&out_trade_num=R1-A1&userid=7&apikey=KEY").hexdigest().upper()
    assert v2_sign(params, "KEY") == expected


# --- submit, query, balance ---------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_submit_is_processing_then_query_finds_the_success(simulator, supplier, protocol):
    conn = supplier(protocol, faults=Faults(processing_seconds=0.3))
    adapter = adapter_for(protocol)

    answer = adapter.submit(conn, request())
    assert answer.outcome == Outcome.PROCESSING
    assert answer.their_number
    assert adapter.query(conn, "R100-A1").outcome == Outcome.PROCESSING

    final = until(lambda: (a := adapter.query(conn, "R100-A1")).outcome == Outcome.SUCCESS and a)
    assert final.delivered_value == Decimal("50.00")
    assert final.cost == Decimal("48.50")
    assert final.their_number == answer.their_number
    assert simulator.order("m1", "R100-A1").target == "13800138000"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_number_sent_twice_is_exists_and_topped_up_once(simulator, supplier, protocol):
    conn = supplier(protocol)
    adapter = adapter_for(protocol)
    assert adapter.submit(conn, request()).outcome == Outcome.PROCESSING

    again = adapter.submit(conn, request())

    # the voucherhub protocol answers a replayed Idempotency-Key with the order itself
    assert again.outcome in ({Outcome.EXISTS} if protocol != "voucherhub" else {Outcome.PROCESSING, Outcome.SUCCESS})
    order = simulator.order("m1", "R100-A1")
    assert (order.submits, order.topups) == (2, 1)
    assert simulator.balance("m1") == Decimal("951.50")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_exists_answer_to_a_fresh_number_is_exists_and_the_order_is_there(simulator, supplier, protocol):
    conn = supplier(protocol, faults=Faults(exists_rate=1))
    adapter = adapter_for(protocol)

    assert adapter.submit(conn, request()).outcome == Outcome.EXISTS
    assert adapter.query(conn, "R100-A1").outcome == Outcome.SUCCESS


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_number_they_never_received_is_not_found(supplier, protocol):
    conn = supplier(protocol)
    assert adapter_for(protocol).query(conn, "R404-A1").outcome == Outcome.NOT_FOUND


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_balance_is_read_and_falls_by_the_cost(supplier, protocol):
    conn = supplier(protocol, balance="100.00")
    adapter = adapter_for(protocol)
    assert adapter.balance(conn) == Decimal("100.00")
    adapter.submit(conn, request())
    assert adapter.balance(conn) == Decimal("51.50")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_empty_balance_is_no_balance(simulator, supplier, protocol):
    conn = supplier(protocol, balance="60.00")
    adapter = adapter_for(protocol)
    assert adapter.submit(conn, request("R1-A1")).outcome == Outcome.PROCESSING

    refused = adapter.submit(conn, request("R2-A1"))

    assert refused.outcome == Outcome.NO_BALANCE
    assert [order.number for order in simulator.orders_for("m1")] == ["R1-A1"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_failure_and_partial_success_are_read_from_their_states(simulator, protocol):
    simulator.account(app_key="m1", secret="s", callback_secret="c")
    simulator.product(product_id="FAIL", face_value="50.00", cost="48.50", faults=Faults(failure_rate=1))
    simulator.product(product_id="HALF", face_value="50.00", cost="48.50", faults=Faults(partial_rate=1, partial_ratio=Decimal("0.4")))
    conn = Connection(base_url=simulator.base_url(protocol), app_key="m1", secret="s", callback_secret="c", timeout=2)
    adapter = adapter_for(protocol)
    for number, product in (("F1-A1", "FAIL"), ("H1-A1", "HALF")):
        adapter.submit(conn, SubmitRequest(number, product, "13800138000", "", Decimal("50.00"), None, "http://127.0.0.1:9/"))

    failed, partial = adapter.query(conn, "F1-A1"), adapter.query(conn, "H1-A1")

    assert failed.outcome == Outcome.FAILED
    assert failed.delivered_value is None
    assert partial.outcome == Outcome.PARTIAL
    assert partial.delivered_value == Decimal("20.00")
    assert partial.cost == Decimal("19.40")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_guards_refuse_a_wrong_face_value_or_a_price_above_max(simulator, supplier, protocol):
    conn = supplier(protocol)
    adapter = adapter_for(protocol)

    assert adapter.submit(conn, request("R1-A1", max_price=Decimal("48.00"))).outcome == Outcome.FAILED
    assert adapter.submit(conn, request("R2-A1", face_value="30.00")).outcome == Outcome.FAILED
    assert adapter.submit(conn, request("R3-A1", max_price=Decimal("48.50"))).outcome == Outcome.PROCESSING
    assert [order.number for order in simulator.orders_for("m1")] == ["R3-A1"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_wrong_secret_is_refused_and_nothing_is_created(simulator, supplier, protocol):
    conn = supplier(protocol)
    wrong = Connection(base_url=conn.base_url, app_key="m1", secret="not-it", callback_secret="cb-secret", timeout=2)

    assert adapter_for(protocol).submit(wrong, request()).outcome == Outcome.FAILED
    assert simulator.orders_for("m1") == []


# --- trouble on the wire ------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_timeout_is_unknown_and_the_order_exists_all_the_same(simulator, supplier, protocol):
    conn = supplier(protocol, faults=Faults(timeout_rate=1, timeout_sleep=1.0), timeout=0.3)
    adapter = adapter_for(protocol)

    assert adapter.submit(conn, request()).outcome == Outcome.UNKNOWN

    assert adapter.query(conn, "R100-A1").outcome == Outcome.SUCCESS
    assert simulator.order("m1", "R100-A1").submits == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_nobody_listening_is_unknown_and_balance_unavailable(protocol, unused_tcp_port):
    conn = Connection(base_url=f"http://127.0.0.1:{unused_tcp_port}/x", app_key="m1", secret="s", callback_secret="c", timeout=1)
    adapter = adapter_for(protocol)
    assert adapter.submit(conn, request()).outcome == Outcome.UNKNOWN
    assert adapter.query(conn, "R100-A1").outcome == Outcome.UNKNOWN
    with pytest.raises(SupplierUnavailable):
        adapter.balance(conn)


@pytest.fixture
def unused_tcp_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def broken_supplier():
    """A server that answers every request with `status` and `body` (a supplier's proxy in trouble)."""
    answer = {"status": 502, "body": b"<html>Bad Gateway</html>"}

    class Handler(BaseHTTPRequestHandler):
        def _reply(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(answer["status"])
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        do_GET = do_POST = _reply

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield answer, f"http://127.0.0.1:{server.server_address[1]}/x"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("status,body", [(502, b"<html>Bad Gateway</html>"), (500, b'{"errno": 0}'), (200, b"not json"), (200, b"[]")])
def test_a_5xx_or_an_unreadable_answer_is_unknown_never_failed(broken_supplier, protocol, status, body):
    answer, url = broken_supplier
    answer.update(status=status, body=body)
    conn = Connection(base_url=url, app_key="m1", secret="s", callback_secret="c", timeout=2)
    adapter = adapter_for(protocol)
    assert adapter.submit(conn, request()).outcome == Outcome.UNKNOWN
    assert adapter.query(conn, "R100-A1").outcome == Outcome.UNKNOWN
    with pytest.raises(SupplierUnavailable):
        adapter.balance(conn)


# --- card purchase -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["gateway", "voucherhub"])
def test_cards_are_bought_once_per_number(simulator, supplier, protocol):
    conn = supplier(protocol)
    adapter = adapter_for(protocol)

    codes = adapter.buy_cards(conn, product_id="P50", quantity=3, number="RP1")
    again = adapter.buy_cards(conn, product_id="P50", quantity=3, number="RP1")

    assert len(codes) == 3 and len(set(codes)) == 3
    assert again == codes
    assert simulator.balance("m1") == Decimal("1000.00") - 3 * Decimal("48.50")


def test_v2_has_no_card_purchase(supplier):
    with pytest.raises(NotSupported):
        adapter_for("v2").buy_cards(supplier("v2"), product_id="P50", quantity=1, number="RP1")


# --- callbacks -------------------------------------------------------------------------------------------------
def _received_callbacks(simulator, conn, protocol, *, count):
    with CallbackReceiver(reply=ACK[protocol]) as receiver:
        adapter_for(protocol).submit(conn, request(notify_url=receiver.url("/supply/callback/1/?from=sim")))
        received = receiver.wait(count)
        assert simulator.wait_idle(10)
    return received


def _parse(protocol, conn, received):
    return adapter_for(protocol).callback_parse(
        conn, body=received.body, content_type=received.content_type, query={}, headers=received.headers
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_callback_is_verified_and_read(simulator, supplier, protocol):
    conn = supplier(protocol)
    [callback] = _received_callbacks(simulator, conn, protocol, count=1)

    result = _parse(protocol, conn, callback)

    assert result.number == "R100-A1"
    assert result.answer.outcome == Outcome.SUCCESS
    assert result.answer.delivered_value == Decimal("50.00")
    assert [record.status for record in simulator.callbacks_for("R100-A1")] == [200]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_forged_callback_is_rejected_and_the_true_one_read(simulator, supplier, protocol):
    conn = supplier(protocol, faults=Faults(callback_forged_rate=1))
    forged, true = _received_callbacks(simulator, conn, protocol, count=2)

    with pytest.raises(CallbackRejected) as rejected:
        _parse(protocol, conn, forged)

    assert rejected.value.reason == "bad_signature"
    assert _parse(protocol, conn, true).answer.outcome == Outcome.SUCCESS


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_callback_signed_with_another_callback_secret_is_rejected(simulator, supplier, protocol):
    conn = supplier(protocol)
    [callback] = _received_callbacks(simulator, conn, protocol, count=1)
    other = Connection(base_url=conn.base_url, app_key="m1", secret="api-secret", callback_secret="someone-else", timeout=2)

    with pytest.raises(CallbackRejected):
        _parse(protocol, other, callback)


def _stale_copy(protocol, callback, secret):
    """The same callback signed correctly, but ten minutes ago."""
    old = time.time() - 600
    if protocol == "gateway":
        fields = json.loads(callback.body)
        fields["timestamp"] = time.strftime(TIME_FORMAT, time.gmtime(old + 8 * 3600))
        assert CHINA.utcoffset(None).total_seconds() == 8 * 3600
        fields["sign"] = gateway_sign(fields, secret)
        return callback.__class__(callback.path, callback.headers, json.dumps(fields).encode(), callback.content_type)
    if protocol == "v2":
        fields = dict(parse_qsl(callback.body.decode()))
        fields["timestamp"] = str(int(old))
        fields["sign"] = v2_sign(fields, secret)
        return callback.__class__(callback.path, callback.headers, urlencode(fields).encode(), callback.content_type)
    headers = apisign.signed_headers(key_id="m1", secret=secret, method="POST", path=callback.path, body=callback.body, timestamp=old)
    return callback.__class__(callback.path, {**callback.headers, **headers}, callback.body, callback.content_type)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_stale_callback_is_rejected(simulator, supplier, protocol):
    conn = supplier(protocol)
    [callback] = _received_callbacks(simulator, conn, protocol, count=1)
    assert _parse(protocol, conn, callback).number == "R100-A1"  # the fresh one passes

    with pytest.raises(CallbackRejected) as rejected:
        _parse(protocol, conn, _stale_copy(protocol, callback, "cb-secret"))

    assert rejected.value.reason == "stale_timestamp"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unreadable_callback_is_rejected(supplier, protocol):
    conn = supplier(protocol)
    with pytest.raises(CallbackRejected):
        adapter_for(protocol).callback_parse(conn, body=b"\xff\xfe{", content_type="application/json", query={}, headers={})


def test_a_voucherhub_distributor_webhook_is_accepted_too(supplier):
    """One VoucherHub supplying another: its own signed webhook (settlement/services/notify.py) is a callback."""
    import hmac

    conn = supplier("voucherhub")
    data = {"order": "VH1", "status": "delivered", "customer_ref": "R7-A1", "total": "48.00", "face_value": "50.00"}
    body = json.dumps({"id": "evt_1", "type": "topup.succeeded", "data": data}).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(b"cb-secret", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-VH-Webhook-Timestamp": timestamp, "X-VH-Webhook-Signature": signature}

    result = adapter_for("voucherhub").callback_parse(conn, body=body, content_type="application/json", query={}, headers=headers)

    answer = result.answer
    assert (result.number, answer.outcome, answer.delivered_value, answer.cost, answer.their_number) == (
        "R7-A1", Outcome.SUCCESS, Decimal("50.00"), Decimal("48.00"), "VH1",
    )  # fmt: skip
    with pytest.raises(CallbackRejected):
        tampered = body.replace(b"delivered", b"refunded")
        adapter_for("voucherhub").callback_parse(conn, body=tampered, content_type="", query={}, headers=headers)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_reply_is_what_the_supplier_waits_for(protocol):
    status, _content_type, body = adapter_for(protocol).callback_reply(accepted=True)
    assert (status, json.loads(body) if protocol == "voucherhub" else body) == (
        200,
        {"ok": True} if protocol == "voucherhub" else b"success",
    )
    assert adapter_for(protocol).callback_reply(accepted=False)[0] >= 400


# --- the status tables, for the states the simulator does not send ---------------------------------------------
@pytest.mark.parametrize(
    "order,outcome,delivered",
    [
        ({"state": "-1", "amount": "50"}, Outcome.FAILED, None),
        ({"state": "0", "amount": "50"}, Outcome.PROCESSING, None),
        ({"state": "1", "amount": "50"}, Outcome.PROCESSING, None),
        ({"state": "2", "amount": "50", "charge_amount": "50"}, Outcome.SUCCESS, Decimal("50")),
        ({"state": "2", "amount": "50", "charge_amount": "30"}, Outcome.PARTIAL, Decimal("30")),
        ({"state": "3", "amount": "50", "charge_amount": "20"}, Outcome.PARTIAL, Decimal("20")),
        ({"state": "3", "amount": "50", "charge_amount": "0"}, Outcome.FAILED, None),
        ({"state": "9", "amount": "50"}, Outcome.UNKNOWN, None),
    ],
)
def test_v2_states(order, outcome, delivered):
    from supply.adapters.v2 import order_answer

    answer = order_answer(order)
    assert (answer.outcome, answer.delivered_value) == (outcome, delivered)


@pytest.mark.parametrize(
    "body,outcome",
    [
        ({"status": "paid", "topup_status": "success"}, Outcome.PROCESSING),  # the order is not delivered yet
        ({"status": "delivered"}, Outcome.SUCCESS),
        ({"status": "refunded"}, Outcome.FAILED),
        ({"status": "partially_refunded", "delivered_value": "20.00"}, Outcome.PARTIAL),
        ({"status": "on_hold"}, Outcome.PROCESSING),
        ({"status": "something new"}, Outcome.UNKNOWN),
    ],
)
def test_voucherhub_states(body, outcome):
    from supply.adapters.voucherhub import topup_answer

    assert topup_answer(body).outcome == outcome


@pytest.mark.parametrize(
    "status,body,outcome",
    [
        (402, {"error": {"code": "insufficient_funds", "message": "", "fields": {}}}, Outcome.NO_BALANCE),
        (409, {"error": {"code": "idempotency_conflict", "message": "", "fields": {}}}, Outcome.EXISTS),
        (400, {"error": {"code": "validation_error", "message": "", "fields": {"account": ["bad"]}}}, Outcome.FAILED),
        (404, {"error": {"code": "not_found", "message": "", "fields": {}}}, Outcome.NOT_FOUND),
        (429, {"error": {"code": "throttled", "message": "", "fields": {}}}, Outcome.UNKNOWN),
        (400, "<html>proxy</html>", Outcome.UNKNOWN),
        (503, {"error": {"code": "unavailable", "message": "", "fields": {}}}, Outcome.UNKNOWN),
    ],
)
def test_voucherhub_refusals(status, body, outcome):
    from supply.adapters.http import Reply
    from supply.adapters.voucherhub import refusal_answer

    raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
    assert refusal_answer(Reply(status=status, body=raw)).outcome == outcome


@pytest.mark.parametrize("state,outcome", [("untreated", Outcome.PROCESSING), ("未处理", Outcome.PROCESSING), ("failed", Outcome.FAILED)])
def test_gateway_states_in_either_language(state, outcome):
    from supply.adapters.gateway import GatewayAdapter

    assert GatewayAdapter()._order_answer({"order_state": state}).outcome == outcome


# --- one VoucherHub buying from another: the voucherhub adapter against this site's real API ---------------------------
@pytest.mark.postgres
@pytest.mark.slow
def test_the_voucherhub_adapter_tops_up_through_a_real_voucherhub(supply_site, simulator, topup_sku, upstream_for):
    from channels.models import DistributorLevel, PriceEntry
    from channels.services import api_key_issue, distributor_create
    from settlement.services.wallets import wallet_for, wallet_topup_record
    from tests.supply.conftest import topups_of

    # given: this site sells a phone top-up (its own supplier is the simulator) to a distributor with an API key,
    # and that distributor is another VoucherHub whose upstream is this site
    sku = topup_sku()
    upstream_for(sku, protocol="v2", faults=Faults(processing_seconds=0.2))
    level = DistributorLevel.objects.create(name="resellers", position=1)
    PriceEntry.objects.create(
        level=level, sku=sku, purchase_price=Decimal("49.00"), suggested_retail=Decimal("49.90"), price_floor=Decimal("49.00")
    )
    buyer = distributor_create(name="another VoucherHub", level=level)
    wallet_topup_record(wallet=wallet_for(buyer), amount=Decimal("1000.00"), actor=None, reference="T-1")
    key, secret = api_key_issue(distributor=buyer, label="supply link")
    conn = Connection(base_url=supply_site.url, app_key=key.key_id, secret=secret, callback_secret="unused", timeout=15)
    adapter = adapter_for("voucherhub")
    sent = SubmitRequest("BUY-7-A1", sku.code, "13800138000", "", Decimal("50.00"), Decimal("49.00"), "http://127.0.0.1:9/cb")

    # when: it submits, asks again under the same number, and queries by its own number
    first = adapter.submit(conn, sent)
    again = adapter.submit(conn, sent)
    final = until(lambda: (a := adapter.query(conn, "BUY-7-A1")).outcome == Outcome.SUCCESS and a, seconds=15)

    # then: one order at this site (the replay is the same one), topped up once, charged its price
    assert first.outcome in (Outcome.PROCESSING, Outcome.SUCCESS) and first.their_number
    assert again.their_number == first.their_number
    assert (final.outcome, final.delivered_value, final.cost, final.their_number) == (
        Outcome.SUCCESS, Decimal("50.00"), Decimal("49.00"), first.their_number,
    )  # fmt: skip
    assert topups_of(simulator, "13800138000") == 1
    assert adapter.balance(conn) == Decimal("951.00")
    assert adapter.query(conn, "BUY-8-A1").outcome == Outcome.NOT_FOUND
