"""The gateway protocol, in the style of the large Chinese top-up platforms' open APIs (one endpoint, methods).

Every call is one `POST` (form, UTF-8) to the supplier's endpoint (`Connection.base_url` as is) with:

    app_key      our merchant key (Connection.app_key)
    method       fulu.order.direct.add   direct top-up (phone / QQ / game account)
                 fulu.order.card.add     card purchase (codes come back in the order)
                 fulu.order.info.get     order query by our number (customer_order_no)
                 fulu.user.info.get      our balance
    timestamp    "YYYY-MM-DD HH:MM:SS", China time (UTC+8); refused outside ±300 s
    version      "2.0"      format "json"      charset "utf-8"      sign_type "md5"
    biz_content  the method's parameters as a JSON string
    sign         see below

Signature (requests, answers' `sign` and callbacks alike): take every parameter except `sign` whose value is
not empty, sort them by name (byte order), concatenate name and value of each with nothing between
(`app_keyK1biz_content{...}charsetutf-8...`), append the secret, and take the lower-case hex MD5 of the
UTF-8 bytes. Requests are signed with the API secret, callbacks with the callback secret.

Answer: `{"code": 0, "message": "...", "result": "<JSON string>", "sign": "..."}`; `code` other than 0 is
a refusal (ERRORS below). An order's `order_state` is 成功 / 处理中 / 失败 / 未处理 (the English
success / processing / failed / untreated are read too) or 部分成功 with `real_charge_value` (what was
topped up) below `charge_value` (what was ordered).

Callback: `POST` JSON to the notify URL with customer_order_no, order_id, order_state, product_id,
charge_value, real_charge_value, order_price, finish_time, timestamp and sign (callback secret). The
supplier wants the body `success` back; anything else makes it send again.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from supply.adapters.base import (
    CALLBACK_WINDOW_SECONDS,
    Adapter,
    Answer,
    CallbackRejected,
    CallbackResult,
    Connection,
    Outcome,
    SubmitRequest,
    SupplierUnavailable,
)
from supply.adapters.http import Unreachable, http_call, json_dumps

CHINA = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
METHOD_TOPUP = "fulu.order.direct.add"
METHOD_CARDS = "fulu.order.card.add"
METHOD_QUERY = "fulu.order.info.get"
METHOD_BALANCE = "fulu.user.info.get"

# Their `order_state` -> ours.
STATES = {
    "成功": Outcome.SUCCESS,
    "success": Outcome.SUCCESS,
    "处理中": Outcome.PROCESSING,
    "processing": Outcome.PROCESSING,
    "未处理": Outcome.PROCESSING,  # accepted, not yet started: still theirs to do
    "untreated": Outcome.PROCESSING,
    "失败": Outcome.FAILED,
    "failed": Outcome.FAILED,
    "部分成功": Outcome.PARTIAL,
    "partial": Outcome.PARTIAL,
}
# Their non-zero `code` -> ours. A code not listed is UNKNOWN: the order may exist, query it.
ERRORS = {
    1001: Outcome.FAILED,  # 签名错误 bad signature (nothing was created)
    1002: Outcome.FAILED,  # 时间戳过期 timestamp outside the window
    1003: Outcome.FAILED,  # app_key 无效 unknown merchant
    1004: Outcome.FAILED,  # 参数错误 a parameter is missing or malformed
    2001: Outcome.FAILED,  # 商品不存在或已下架 no such product
    2002: Outcome.NO_BALANCE,  # 余额不足 our balance ran out: fail over
    2003: Outcome.EXISTS,  # 订单号重复 customer_order_no already exists: query it
    2004: Outcome.NOT_FOUND,  # 订单不存在 (query) they never received it
    2005: Outcome.FAILED,  # 面值不符 face-value guard
    2006: Outcome.FAILED,  # 价格超过上限 price above our max_price
    5000: Outcome.UNKNOWN,  # 系统繁忙 busy: the order may or may not exist
}


def gateway_sign(params: dict, secret: str) -> str:
    """The module docstring's signature rule."""
    pieces = "".join(f"{name}{value}" for name, value in sorted(params.items()) if name != "sign" and value not in ("", None))
    return hashlib.md5((pieces + secret).encode("utf-8")).hexdigest()


def china_now() -> str:
    return datetime.now(CHINA).strftime(TIME_FORMAT)


def china_time_age(text: str) -> float:
    """Seconds between a China-time stamp and now (positive: in the past). Raises ValueError."""
    sent = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=CHINA)
    return (datetime.now(UTC) - sent).total_seconds()


def _money(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


class GatewayAdapter(Adapter):
    protocol = "gateway"

    def _call(self, conn: Connection, method: str, biz: dict) -> tuple[int | None, dict | None, str]:
        """(code, result, message); code None when the answer is unusable (network, 5xx, not JSON)."""
        params = {
            "app_key": conn.app_key,
            "method": method,
            "timestamp": china_now(),
            "version": "2.0",
            "format": "json",
            "charset": "utf-8",
            "sign_type": "md5",
            "biz_content": json_dumps(biz),
        }
        params["sign"] = gateway_sign(params, conn.secret)
        try:
            reply = http_call("POST", conn.base_url, data=params, timeout=conn.timeout)
        except Unreachable as trouble:
            return None, None, str(trouble)
        data = reply.json()
        if reply.server_error or not isinstance(data, dict) or not isinstance(data.get("code"), int):
            return None, None, f"HTTP {reply.status}"
        message = str(data.get("message", ""))
        if data["code"] != 0:
            return data["code"], None, message
        try:
            result = json.loads(data.get("result") or "{}")
        except ValueError:
            return None, None, "unreadable result"
        return 0, result if isinstance(result, dict) else None, message

    def _answer(self, code, result, message) -> Answer:
        if code is None or (code == 0 and result is None):
            return Answer(outcome=Outcome.UNKNOWN, message=message)
        if code != 0:
            return Answer(outcome=ERRORS.get(code, Outcome.UNKNOWN), their_status=str(code), message=message)
        return self._order_answer(result, message=message)

    def _order_answer(self, result: dict, *, message: str = "") -> Answer:
        state = str(result.get("order_state", ""))
        outcome = STATES.get(state, Outcome.UNKNOWN)
        delivered = _money(result.get("real_charge_value"))
        if outcome == Outcome.SUCCESS and delivered is None:
            delivered = _money(result.get("charge_value"))
        return Answer(
            outcome=outcome,
            their_number=str(result.get("order_id", "")),
            their_status=state,
            message=str(result.get("recharge_description", "") or message),
            delivered_value=delivered if outcome in (Outcome.SUCCESS, Outcome.PARTIAL) else None,
            cost=_money(result.get("order_price")),
        )

    def submit(self, conn: Connection, request: SubmitRequest) -> Answer:
        biz = {
            "product_id": request.product_id,
            "customer_order_no": request.number,
            "charge_account": request.account,
            "buy_num": 1,
            "charge_value": str(request.face_value),
            "notify_url": request.notify_url,
        }
        if request.region:
            biz["charge_game_region"] = request.region
        if request.max_price is not None:
            biz["max_price"] = str(request.max_price)
        return self._answer(*self._call(conn, METHOD_TOPUP, biz))

    def query(self, conn: Connection, number: str) -> Answer:
        return self._answer(*self._call(conn, METHOD_QUERY, {"customer_order_no": number}))

    def balance(self, conn: Connection) -> Decimal:
        code, result, message = self._call(conn, METHOD_BALANCE, {})
        balance = _money((result or {}).get("balance"))
        if code != 0 or balance is None:
            raise SupplierUnavailable(message=message or None)
        return balance

    def buy_cards(self, conn: Connection, *, product_id: str, quantity: int, number: str) -> list[str]:
        code, result, message = self._call(conn, METHOD_CARDS, {"product_id": product_id, "customer_order_no": number, "buy_num": quantity})
        if code in (None, 2003) or (code == 0 and not (result or {}).get("cards")):
            code, result, message = self._call(conn, METHOD_QUERY, {"customer_order_no": number})  # placed before: read it
        if code != 0 or STATES.get(str((result or {}).get("order_state"))) != Outcome.SUCCESS:
            raise SupplierUnavailable(message=message or None)
        cards = [str(card.get("card_pwd") or card.get("card_number") or "") for card in result.get("cards") or []]
        if len(cards) != quantity or not all(cards):
            raise SupplierUnavailable(message="The supplier answered a card order without its cards.")
        return cards

    def callback_parse(self, conn: Connection, *, body: bytes, content_type: str, query: dict, headers: dict) -> CallbackResult:
        fields = _callback_fields(body, content_type)
        given = str(fields.get("sign", ""))
        if not given or not hmac.compare_digest(gateway_sign(fields, conn.callback_secret), given.lower()):
            raise CallbackRejected("bad_signature")
        try:
            age = china_time_age(str(fields.get("timestamp", "")))
        except ValueError:
            raise CallbackRejected("stale_timestamp") from None
        if abs(age) > CALLBACK_WINDOW_SECONDS:
            raise CallbackRejected("stale_timestamp")
        number = str(fields.get("customer_order_no", ""))
        if not number:
            raise CallbackRejected("unknown_number")
        return CallbackResult(number=number, answer=self._order_answer(fields))

    def callback_reply(self, *, accepted: bool) -> tuple[int, str, bytes]:
        return (200, "text/plain; charset=utf-8", b"success") if accepted else (400, "text/plain; charset=utf-8", b"fail")


def _callback_fields(body: bytes, content_type: str) -> dict:
    """A callback's fields as text (JSON object, or a form when the supplier sends one). Raises CallbackRejected."""
    try:
        text = body.decode("utf-8")
        if "json" in (content_type or "") or text.lstrip().startswith("{"):
            data = json.loads(text)
        else:
            data = dict(parse_qsl(text, keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise CallbackRejected("unreadable") from None
    if not isinstance(data, dict):
        raise CallbackRejected("unreadable")
    return {str(key): "" if value is None else str(value) for key, value in data.items()}
