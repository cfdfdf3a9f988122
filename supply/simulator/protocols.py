"""The three protocols as the simulated supplier speaks them: requests in, answers and callbacks out.

Each protocol has `handle(sim_state, request) -> Response` and `callback(order, account) -> (url, body,
headers)`. The wire formats are the ones the adapters' module docstrings describe (supply/adapters/*.py);
the signatures come from the same functions, and tests/supply/test_adapters.py pins each one to a worked
example computed by hand.
"""

import hmac
import json
import time
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

from supply.adapters.gateway import CALLBACK_WINDOW_SECONDS, CHINA, TIME_FORMAT, china_now, china_time_age, gateway_sign
from supply.adapters.http import json_dumps
from supply.adapters.v2 import v2_sign
from supply.simulator.state import FAILED, PARTIAL, PROCESSING, SUCCESS, Order, Refusal, SimState
from voucherhub.core import apisign


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below the protocol's prefix, without the query
    target: str  # the request target as sent (path and query), for signatures over it
    headers: dict  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    delay: float = 0.0  # seconds the server waits before answering (latency, timeouts)
    headers: tuple = ()


def json_response(status: int, data, *, delay: float = 0.0, headers: tuple = ()) -> Response:
    return Response(status, "application/json; charset=utf-8", json_dumps(data).encode(), delay, headers)


def _delay(sim: SimState, product_id: str, *, fresh: Order | None = None) -> float:
    faults = sim.faults_for(product_id)
    return faults.latency + (faults.timeout_sleep if fresh is not None and fresh.fate.timeout else 0.0)


def _submitted(sim: SimState, **kwargs) -> tuple[Order | None, Refusal | None, float]:
    """Submit a top-up: (order, refusal, delay). A fresh order whose fate says so is answered as "exists"."""
    try:
        order = sim.topup_submit(**kwargs)
    except Refusal as refusal:
        return None, refusal, _delay(sim, kwargs["product_id"])
    if order.fate.exists_answer:
        return order, Refusal("exists", order), _delay(sim, order.product_id, fresh=order)
    return order, None, _delay(sim, order.product_id, fresh=order)


def _claimed(order: Order, kind: str) -> Order:
    """The order as a callback of `kind` describes it: out_of_order says processing, forged the opposite."""
    if kind == "out_of_order":
        return replace(order, state=PROCESSING, delivered_value=Decimal("0.00"))
    if kind == "forged":
        flipped = FAILED if order.state != FAILED else SUCCESS
        return replace(order, state=flipped, delivered_value=order.face_value if flipped == SUCCESS else Decimal("0.00"))
    return order


# --- gateway -------------------------------------------------------------------------------------------
GATEWAY_CODES = {
    "unknown_account": (1003, "app_key 无效"),
    "bad_request": (1004, "参数错误"),
    "no_product": (2001, "商品不存在或已下架"),
    "no_balance": (2002, "余额不足"),
    "exists": (2003, "订单号重复"),
    "not_found": (2004, "订单不存在"),
    "face_mismatch": (2005, "面值不符"),
    "price_above": (2006, "价格超过上限"),
}
GATEWAY_STATES = {PROCESSING: "处理中", SUCCESS: "成功", FAILED: "失败", PARTIAL: "部分成功"}


def _gateway_answer(code: int, message: str, result: dict | None = None, *, delay: float = 0.0, secret: str = "") -> Response:
    answer = {"code": code, "message": message, "result": json_dumps(result) if result is not None else ""}
    answer["sign"] = gateway_sign(answer, secret)
    return json_response(200, answer, delay=delay)


def _china_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, CHINA).strftime(TIME_FORMAT)


def _gateway_order(order: Order) -> dict:
    result = {
        "order_id": order.their_number,
        "customer_order_no": order.number,
        "product_id": order.product_id,
        "charge_account": order.target,
        "order_state": GATEWAY_STATES[order.state],
        "charge_value": str(order.face_value),
        "real_charge_value": str(order.delivered_value) if order.state in (SUCCESS, PARTIAL) else "",
        "order_price": str(order.cost),
        "create_time": _china_time(order.created_at),
        "finish_time": _china_time(order.finished_at) if order.finished_at else "",
        "recharge_description": GATEWAY_STATES[order.state],
    }
    if order.cards:
        result["cards"] = [{"card_number": f"NO{index:04d}", "card_pwd": code} for index, code in enumerate(order.cards, 1)]
    return result


def gateway_handle(sim: SimState, request: Request) -> Response:
    params = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    account = sim.accounts.get(params.get("app_key", ""))
    if account is None:
        return _gateway_answer(*GATEWAY_CODES["unknown_account"])
    if not hmac.compare_digest(gateway_sign(params, account.secret), params.get("sign", "").lower()):
        return _gateway_answer(1001, "签名错误", secret=account.secret)
    try:
        stale = abs(china_time_age(params.get("timestamp", ""))) > CALLBACK_WINDOW_SECONDS
        biz = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        return _gateway_answer(*GATEWAY_CODES["bad_request"], secret=account.secret)
    if stale:
        return _gateway_answer(1002, "时间戳过期", secret=account.secret)
    handler = GATEWAY_METHODS.get(params.get("method", ""))
    if handler is None or not isinstance(biz, dict):
        return _gateway_answer(*GATEWAY_CODES["bad_request"], secret=account.secret)
    return handler(sim, account, biz)


def _gateway_refusal(refusal: Refusal, account, delay: float = 0.0) -> Response:
    return _gateway_answer(*GATEWAY_CODES[refusal.reason], delay=delay, secret=account.secret)


def _gateway_topup(sim, account, biz) -> Response:
    order, refusal, delay = _submitted(
        sim,
        protocol="gateway",
        app_key=account.app_key,
        number=str(biz.get("customer_order_no", "")),
        product_id=str(biz.get("product_id", "")),
        target=str(biz.get("charge_account", "")),
        region=str(biz.get("charge_game_region", "")),
        face_guard=biz.get("charge_value") or None,
        price_guard=biz.get("max_price") or None,
        notify_url=str(biz.get("notify_url", "")),
    )
    if refusal is not None:
        return _gateway_refusal(refusal, account, delay)
    return _gateway_answer(0, "接口调用成功", _gateway_order(order), delay=delay, secret=account.secret)


def _gateway_cards(sim, account, biz) -> Response:
    try:
        quantity = int(biz.get("buy_num", 1))
        order = sim.cards_buy(
            protocol="gateway", app_key=account.app_key, number=str(biz.get("customer_order_no", "")),
            product_id=str(biz.get("product_id", "")), quantity=quantity,
        )  # fmt: skip
    except ValueError:
        return _gateway_answer(*GATEWAY_CODES["bad_request"], secret=account.secret)
    except Refusal as refusal:
        return _gateway_refusal(refusal, account)
    return _gateway_answer(0, "接口调用成功", _gateway_order(order), secret=account.secret)


def _gateway_query(sim, account, biz) -> Response:
    try:
        order = sim.order_get(account.app_key, str(biz.get("customer_order_no", "")))
    except Refusal as refusal:
        return _gateway_refusal(refusal, account)
    return _gateway_answer(0, "接口调用成功", _gateway_order(order), delay=_delay(sim, order.product_id), secret=account.secret)


def _gateway_balance(sim, account, biz) -> Response:
    return _gateway_answer(
        0, "接口调用成功", {"user_id": account.app_key, "balance": str(sim.balance(account.app_key))}, secret=account.secret
    )


GATEWAY_METHODS = {
    "fulu.order.direct.add": _gateway_topup,
    "fulu.order.mobile.add": _gateway_topup,
    "fulu.order.card.add": _gateway_cards,
    "fulu.order.info.get": _gateway_query,
    "fulu.user.info.get": _gateway_balance,
}


def gateway_callback(order: Order, account, kind: str) -> tuple[str, bytes, dict]:
    claimed = _claimed(order, kind)
    fields = {key: value for key, value in _gateway_order(claimed).items() if key != "cards"}
    fields["timestamp"] = china_now()
    fields["sign"] = gateway_sign(fields, account.callback_secret if kind != "forged" else "forged-" + account.callback_secret)
    return order.notify_url, json_dumps(fields).encode(), {"Content-Type": "application/json; charset=utf-8"}


# --- V2 --------------------------------------------------------------------------------------------------
V2_ERRNOS = {
    "bad_request": (1, "下单失败"),
    "unknown_account": (1002, "用户不存在"),
    "no_product": (1003, "产品不存在或已下架"),
    "no_balance": (1004, "余额不足"),
    "exists": (1005, "订单号已存在"),
    "face_mismatch": (1006, "面值不符"),
    "price_above": (1007, "价格超过上限"),
    "not_found": (1008, "订单不存在"),
}
V2_STATES = {PROCESSING: "1", SUCCESS: "2", FAILED: "3", PARTIAL: "2"}


def _v2_answer(errno: int, errmsg: str, data=None, *, delay: float = 0.0) -> Response:
    return json_response(200, {"errno": errno, "errmsg": errmsg, "data": data if data is not None else {}}, delay=delay)


def _v2_order(order: Order, *, fresh: bool = False) -> dict:
    return {
        "order_number": order.their_number,
        "out_trade_num": order.number,
        "mobile": order.target,
        "product_id": order.product_id,
        "state": "0" if fresh and order.state == PROCESSING else V2_STATES[order.state],
        "amount": str(order.face_value),
        "charge_amount": str(order.delivered_value),
        "cost": str(order.cost),
        "remark": {PROCESSING: "充值中", SUCCESS: "充值成功", FAILED: "充值失败", PARTIAL: "部分充值"}[order.state],
        "otime": str(int(order.created_at)),
    }


def v2_handle(sim: SimState, request: Request) -> Response:
    params = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    account = sim.accounts.get(params.get("userid", ""))
    if account is None:
        return _v2_answer(*V2_ERRNOS["unknown_account"])
    if not hmac.compare_digest(v2_sign(params, account.secret), params.get("sign", "").upper()):
        return _v2_answer(1001, "签名错误")
    path = request.path.strip("/")
    if path == "index/recharge":
        return _v2_recharge(sim, account, params)
    if path == "index/check":
        numbers = [number for number in params.get("out_trade_nums", "").split(",") if number]
        found = []
        for number in numbers:
            try:
                found.append(sim.order_get(account.app_key, number))
            except Refusal:
                continue
        delay = max((_delay(sim, order.product_id) for order in found), default=0.0)
        return _v2_answer(0, "OK", [_v2_order(order) for order in found], delay=delay)
    if path == "index/user":
        return _v2_answer(0, "OK", {"id": account.app_key, "username": account.app_key, "balance": str(sim.balance(account.app_key))})
    return json_response(404, {"errno": 404, "errmsg": "not found", "data": {}})


def _v2_recharge(sim, account, params) -> Response:
    order, refusal, delay = _submitted(
        sim,
        protocol="v2",
        app_key=account.app_key,
        number=params.get("out_trade_num", ""),
        product_id=params.get("product_id", ""),
        target=params.get("mobile", ""),
        region=params.get("area", ""),
        face_guard=params.get("amount") or None,
        price_guard=params.get("price") or None,
        notify_url=params.get("notify_url", ""),
    )
    if refusal is not None:
        return _v2_answer(*V2_ERRNOS[refusal.reason], delay=delay)
    return _v2_answer(0, "OK", _v2_order(order, fresh=True), delay=delay)


def v2_callback(order: Order, account, kind: str) -> tuple[str, bytes, dict]:
    fields = {"userid": account.app_key, **_v2_order(_claimed(order, kind)), "timestamp": str(int(time.time()))}
    fields["sign"] = v2_sign(fields, account.callback_secret if kind != "forged" else "forged-" + account.callback_secret)
    return order.notify_url, urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


# --- voucherhub ------------------------------------------------------------------------------------------
VH_ERRORS = {
    "unknown_account": (401, "unknown_key", "Unknown API key.", None),
    "bad_request": (400, "validation_error", "The request is not valid.", None),
    "no_product": (400, "validation_error", "Unknown SKU.", "sku"),
    "no_balance": (402, "insufficient_funds", "The wallet does not cover the order.", None),
    "exists": (409, "idempotency_conflict", "This Idempotency-Key was already used with a different request body.", None),
    "not_found": (404, "not_found", "Not found.", None),
    "face_mismatch": (400, "validation_error", "The face value does not match the SKU.", "face_value"),
    "price_above": (400, "price_above_max", "The price is above max_price.", "max_price"),
}


def _vh_error(reason: str, *, delay: float = 0.0) -> Response:
    status, code, message, field = VH_ERRORS[reason]
    return json_response(status, {"error": {"code": code, "message": message, "fields": {field: [message]} if field else {}}}, delay=delay)


def _vh_topup(order: Order) -> dict:
    return {
        "number": order.their_number,
        "status": order.state,
        "customer_ref": order.number,
        "sku": order.product_id,
        "account": order.target,
        "region": order.region,
        "face_value": str(order.face_value),
        "delivered_value": str(order.delivered_value) if order.state in (SUCCESS, PARTIAL) else None,
        "price": str(order.cost),
    }


def _vh_account(sim: SimState, request: Request):
    """The signing account of a request, or None when the signature is missing, stale or wrong."""
    headers = request.headers
    account = sim.accounts.get(headers.get("x-vh-key", ""))
    timestamp, nonce, given = headers.get("x-vh-timestamp", ""), headers.get("x-vh-nonce", ""), headers.get("x-vh-signature", "")
    if account is None or not (timestamp and nonce and given) or not timestamp.isdigit():
        return None
    if abs(time.time() - int(timestamp)) > apisign.WINDOW_SECONDS:
        return None
    expected = apisign.signature(
        secret=account.secret, method=request.method, path=request.target, timestamp=timestamp, nonce=nonce, body=request.body
    )
    return account if hmac.compare_digest(expected, given.lower()) else None


def vh_handle(sim: SimState, request: Request) -> Response:
    account = _vh_account(sim, request)
    if account is None:
        return json_response(
            401, {"error": {"code": "bad_signature", "message": "The signature does not match the request.", "fields": {}}}
        )
    parts = [part for part in request.path.split("/") if part]  # api v1 topups <n>
    if parts[:2] != ["api", "v1"] or len(parts) < 3:
        return _vh_error("not_found")
    resource, rest = parts[2], parts[3:]
    try:
        payload = json.loads(request.body or b"{}") if request.method == "POST" else {}
    except ValueError:
        return _vh_error("bad_request")
    if resource == "topups" and request.method == "POST" and not rest:
        return _vh_topup_create(sim, account, request, payload)
    if resource == "topups" and request.method == "GET" and len(rest) == 1:
        try:
            order = sim.order_get(account.app_key, rest[0])
        except Refusal as refusal:
            return _vh_error(refusal.reason)
        return json_response(200, _vh_topup(order), delay=_delay(sim, order.product_id))
    if resource == "wallet" and request.method == "GET":
        balance = str(sim.balance(account.app_key))
        return json_response(200, {"currency": "CNY", "balance": balance, "spendable": balance})
    if resource == "orders":
        return _vh_orders(sim, account, request, payload, rest)
    return _vh_error("not_found")


def _vh_topup_create(sim, account, request: Request, payload: dict) -> Response:
    key = request.headers.get("idempotency-key", "")
    if not key or not isinstance(payload, dict):
        return _vh_error("bad_request")
    order, refusal, delay = _submitted(
        sim,
        protocol="voucherhub",
        app_key=account.app_key,
        number=str(payload.get("customer_ref") or key),
        product_id=str(payload.get("sku", "")),
        target=str(payload.get("account", "")),
        region=str(payload.get("region", "") or ""),
        face_guard=payload.get("face_value") or None,
        price_guard=payload.get("max_price") or None,
        notify_url=str(payload.get("notify_url", "") or ""),
    )
    if order is None and refusal is not None and refusal.reason == "exists" and refusal.order is not None:
        return json_response(200, _vh_topup(refusal.order), delay=delay, headers=(("Idempotent-Replayed", "true"),))  # a replay
    if refusal is not None:
        return _vh_error(refusal.reason, delay=delay)
    return json_response(201, _vh_topup(order), delay=delay)


def _vh_orders(sim, account, request: Request, payload: dict, rest: list[str]) -> Response:
    if request.method == "POST" and not rest:
        try:
            order = sim.cards_buy(
                protocol="voucherhub", app_key=account.app_key,
                number=str(payload.get("customer_ref") or request.headers.get("idempotency-key", "")),
                product_id=str(payload.get("sku", "")), quantity=int(payload.get("quantity", 1)),
            )  # fmt: skip
        except (TypeError, ValueError):
            return _vh_error("bad_request")
        except Refusal as refusal:
            if refusal.reason != "exists" or refusal.order is None:
                return _vh_error(refusal.reason)
            order = refusal.order
        body = {"number": order.their_number, "status": "delivered", "sku": order.product_id, "quantity": len(order.cards),
                "customer_ref": order.number, "codes": [{"code": code} for code in order.cards]}  # fmt: skip
        return json_response(201, body)
    if request.method == "GET" and len(rest) == 2 and rest[1] == "codes":
        for order in sim.orders_list(account.app_key):
            if order.their_number == rest[0] and order.cards:
                return json_response(200, [{"code": code, "serial": "", "hint": code[-4:], "status": "sold"} for code in order.cards])
    return _vh_error("not_found")


def vh_callback(order: Order, account, kind: str) -> tuple[str, bytes, dict]:
    claimed = _claimed(order, kind)
    event = {SUCCESS: "topup.succeeded", FAILED: "topup.failed", PARTIAL: "topup.partial", PROCESSING: "topup.processing"}[claimed.state]
    body = json_dumps({"event": event, **_vh_topup(claimed), "notify_url": order.notify_url}).encode()
    target = urlsplit(order.notify_url)
    path = target.path + (f"?{target.query}" if target.query else "")
    secret = account.callback_secret if kind != "forged" else "forged-" + account.callback_secret
    headers = apisign.signed_headers(key_id=account.app_key, secret=secret, method="POST", path=path, body=body)
    return order.notify_url, body, {**headers, "Content-Type": "application/json"}


PROTOCOLS = {
    "gateway": (gateway_handle, gateway_callback, b"success"),
    "v2": (v2_handle, v2_callback, b"success"),
    "vh": (vh_handle, vh_callback, b'{"ok": true}'),
}
PROTOCOL_OF = {"gateway": "gateway", "v2": "v2", "voucherhub": "vh"}  # Upstream.Protocol value -> path prefix
