"""The "V2" reseller protocol that many direct top-up resellers publish (form posts, upper-case MD5).

Calls (all `POST`, form, UTF-8, relative to `Connection.base_url`):

    index/recharge   userid, product_id, out_trade_num (our number), mobile (the account to top up), area
                     (game region, optional), notify_url, amount (face-value guard, optional), price (the most
                     we pay, optional) -> data {order_number, out_trade_num, state, ...}
    index/check      userid, out_trade_nums (comma separated) -> data [ {order_number, out_trade_num, state,
                     amount, charge_amount, cost, remark}, ... ]; an empty list: they do not have it
    index/user       userid -> data {balance}

`userid` is Connection.app_key. Signature: every parameter except `sign` whose value is not empty, sorted by
name, written `k1=v1&k2=v2&...` (values as sent, not URL-encoded), followed by `&apikey=SECRET`; the
upper-case hex MD5 of its UTF-8 bytes. Requests use the API secret, callbacks the callback secret.

Answer: `{"errno": 0, "errmsg": "...", "data": ...}`; `errno` other than 0 is a refusal (ERRORS below).

States and our mapping (`state`, with `charge_amount` the value they actually topped up):

    -1  order not submitted / cancelled           FAILED
     0  charging (accepted)                       PROCESSING
     1  charging (with the operator)              PROCESSING
     2  success                                   SUCCESS; PARTIAL when 0 < charge_amount < amount
     3  failed                                    FAILED;  PARTIAL when 0 < charge_amount < amount

Callback: `POST` form to notify_url with userid, order_number, out_trade_num, mobile, state, amount,
charge_amount, cost, remark, otime (order time) and timestamp (unix seconds, checked ±300 s), signed as
above with the callback secret. The supplier wants the body `success` back.
"""

import hashlib
import hmac
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from supply.adapters.base import (
    CALLBACK_WINDOW_SECONDS,
    Adapter,
    Answer,
    CallbackRejected,
    CallbackResult,
    Connection,
    NotSupported,
    Outcome,
    SubmitRequest,
    SupplierUnavailable,
)
from supply.adapters.http import Unreachable, http_call

# Their `state` -> ours (PARTIAL is read from charge_amount, see _state_outcome).
STATES = {
    "-1": Outcome.FAILED,
    "0": Outcome.PROCESSING,
    "1": Outcome.PROCESSING,
    "2": Outcome.SUCCESS,
    "3": Outcome.FAILED,
}
# Their non-zero `errno` -> ours. An errno not listed is UNKNOWN: the order may exist, query it.
ERRORS = {
    1: Outcome.FAILED,  # 下单失败 refused (generic)
    1001: Outcome.FAILED,  # 签名错误 bad signature
    1002: Outcome.FAILED,  # 用户不存在 unknown userid
    1003: Outcome.FAILED,  # 产品不存在或已下架 no such product
    1004: Outcome.NO_BALANCE,  # 余额不足 our balance ran out: fail over
    1005: Outcome.EXISTS,  # 订单号已存在 out_trade_num exists: query it
    1006: Outcome.FAILED,  # 面值不符 amount guard
    1007: Outcome.FAILED,  # 价格超过上限 price guard
    1008: Outcome.NOT_FOUND,  # 订单不存在 (query)
    5000: Outcome.UNKNOWN,  # 系统繁忙 busy
}


def v2_sign(params: dict, secret: str) -> str:
    """The module docstring's signature rule."""
    pairs = "&".join(f"{name}={value}" for name, value in sorted(params.items()) if name != "sign" and value not in ("", None))
    return hashlib.md5(f"{pairs}&apikey={secret}".encode()).hexdigest().upper()


def _money(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _state_outcome(state: str, *, amount: Decimal | None, charged: Decimal | None) -> Outcome:
    outcome = STATES.get(state, Outcome.UNKNOWN)
    if outcome in (Outcome.SUCCESS, Outcome.FAILED) and charged is not None and amount is not None and 0 < charged < amount:
        return Outcome.PARTIAL
    return outcome


def order_answer(order: dict) -> Answer:
    """An order as `index/check`, `index/recharge` or a callback describe it, as our Answer."""
    state = str(order.get("state", ""))
    amount, charged = _money(order.get("amount")), _money(order.get("charge_amount"))
    outcome = _state_outcome(state, amount=amount, charged=charged)
    delivered = charged if outcome == Outcome.PARTIAL else (charged or amount) if outcome == Outcome.SUCCESS else None
    return Answer(
        outcome=outcome,
        their_number=str(order.get("order_number", "")),
        their_status=state,
        message=str(order.get("remark", "")),
        delivered_value=delivered,
        cost=_money(order.get("cost")),
    )


class V2Adapter(Adapter):
    protocol = "v2"

    def _call(self, conn: Connection, path: str, params: dict) -> tuple[int | None, object, str]:
        """(errno, data, errmsg); errno None when the answer is unusable (network, 5xx, not JSON)."""
        params = {"userid": conn.app_key, **{k: v for k, v in params.items() if v not in ("", None)}}
        params["sign"] = v2_sign(params, conn.secret)
        try:
            reply = http_call("POST", f"{conn.base_url.rstrip('/')}/{path}", data=params, timeout=conn.timeout)
        except Unreachable as trouble:
            return None, None, str(trouble)
        data = reply.json()
        if reply.server_error or not isinstance(data, dict) or not isinstance(data.get("errno"), int):
            return None, None, f"HTTP {reply.status}"
        return data["errno"], data.get("data"), str(data.get("errmsg", ""))

    def submit(self, conn: Connection, request: SubmitRequest) -> Answer:
        errno, data, message = self._call(
            conn,
            "index/recharge",
            {
                "product_id": request.product_id,
                "out_trade_num": request.number,
                "mobile": request.account,
                "area": request.region,
                "notify_url": request.notify_url,
                "amount": str(request.face_value),
                "price": "" if request.max_price is None else str(request.max_price),
            },
        )
        if errno is None:
            return Answer(outcome=Outcome.UNKNOWN, message=message)
        if errno != 0:
            return Answer(outcome=ERRORS.get(errno, Outcome.UNKNOWN), their_status=f"errno {errno}", message=message)
        if not isinstance(data, dict):
            return Answer(outcome=Outcome.UNKNOWN, message="unreadable data")
        return order_answer(data)

    def query(self, conn: Connection, number: str) -> Answer:
        errno, data, message = self._call(conn, "index/check", {"out_trade_nums": number})
        if errno is None:
            return Answer(outcome=Outcome.UNKNOWN, message=message)
        if errno != 0:
            return Answer(outcome=ERRORS.get(errno, Outcome.UNKNOWN), their_status=f"errno {errno}", message=message)
        if not isinstance(data, list):
            return Answer(outcome=Outcome.UNKNOWN, message="unreadable data")
        for order in data:
            if isinstance(order, dict) and str(order.get("out_trade_num")) == number:
                return order_answer(order)
        return Answer(outcome=Outcome.NOT_FOUND, message=message)

    def balance(self, conn: Connection) -> Decimal:
        errno, data, message = self._call(conn, "index/user", {})
        balance = _money(data.get("balance")) if isinstance(data, dict) else None
        if errno != 0 or balance is None:
            raise SupplierUnavailable(message=message or None)
        return balance

    def buy_cards(self, conn: Connection, *, product_id: str, quantity: int, number: str) -> list[str]:
        raise NotSupported()

    def callback_parse(self, conn: Connection, *, body: bytes, content_type: str, query: dict, headers: dict) -> CallbackResult:
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise CallbackRejected("unreadable") from None
        given = fields.get("sign", "")
        if not given or not hmac.compare_digest(v2_sign(fields, conn.callback_secret), given.upper()):
            raise CallbackRejected("bad_signature")
        if fields.get("userid", "") != conn.app_key:
            raise CallbackRejected("bad_signature")
        try:
            sent_at = int(fields.get("timestamp", ""))
        except ValueError:
            raise CallbackRejected("stale_timestamp") from None
        if abs(time.time() - sent_at) > CALLBACK_WINDOW_SECONDS:
            raise CallbackRejected("stale_timestamp")
        number = fields.get("out_trade_num", "")
        if not number:
            raise CallbackRejected("unknown_number")
        return CallbackResult(number=number, answer=order_answer(fields))

    def callback_reply(self, *, accepted: bool) -> tuple[int, str, bytes]:
        return (200, "text/plain; charset=utf-8", b"success") if accepted else (400, "text/plain; charset=utf-8", b"fail")
