"""Our own signed JSON protocol: one VoucherHub buys top-ups and cards from another through its distributor API.

Requests are signed exactly as the distributor API wants (voucherhub.core.apisign: X-VH-Key = app_key,
X-VH-Timestamp, X-VH-Nonce, X-VH-Signature = HMAC-SHA256 with the API secret over method, path with query,
timestamp, nonce and the body's SHA-256). `Connection.base_url` is the other VoucherHub's root
(`https://supplier.example`), the paths below are appended to it:

    POST {base}/api/v1/topups/          Idempotency-Key: our number; JSON {sku (their product id), account,
                                        region, customer_ref (our number), face_value, max_price}
                                        -> 201 {number, status, customer_ref, face_value, delivered_value, price}
    GET  {base}/api/v1/topups/<our number>/   the same answer (looked up by customer_ref); 404 not known
    GET  {base}/api/v1/wallet/          {balance, spendable, ...}
    POST {base}/api/v1/orders/          card purchase: {sku, quantity, customer_ref}, Idempotency-Key; the codes
    GET  {base}/api/v1/orders/<their number>/codes/   come in the answer or from here

Errors are `{"error": {"code", "message", "fields"}}` with an HTTP status (ERRORS below); a 5xx, a timeout or
an answer that is not JSON is UNKNOWN.

A real VoucherHub answers `status` with its order's status (paid while topping up, delivered, refunded,
partially_refunded) and `total` as the price; both spellings are read (STATES).

Callback (the top-up reached a final state): `POST` JSON {event, number, customer_ref, status, face_value,
delivered_value, price, notify_url} signed with the same header scheme and the callback secret; the path in the
string to sign is the path (with query) of `notify_url`, which the body repeats. A VoucherHub's own distributor
webhook ({id, type: topup.succeeded | topup.failed | topup.partial, data: {order, status, customer_ref, ...}},
X-VH-Webhook-Timestamp, X-VH-Webhook-Signature = HMAC-SHA256(secret, timestamp "." body)) is accepted too, with
the webhook secret as the callback secret. Either way the timestamp must be within ±300 s. The reply
is `{"ok": true}`.
"""

import hmac
import json
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

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
from supply.adapters.http import Reply, Unreachable, http_call, json_dumps
from voucherhub.core import apisign

# Their top-up status (or order status) -> ours.
STATES = {
    "pending": Outcome.PROCESSING,
    "submitted": Outcome.PROCESSING,
    "processing": Outcome.PROCESSING,
    "unknown": Outcome.PROCESSING,  # theirs to find out: keep asking
    "on_hold": Outcome.PROCESSING,  # their ops decide: keep asking
    "paid": Outcome.PROCESSING,
    "success": Outcome.SUCCESS,
    "delivered": Outcome.SUCCESS,
    "failed": Outcome.FAILED,
    "refunded": Outcome.FAILED,
    "partial": Outcome.PARTIAL,
    "partially_refunded": Outcome.PARTIAL,
}
# Webhook events (when the body has no status we know).
EVENTS = {"topup.succeeded": Outcome.SUCCESS, "topup.failed": Outcome.FAILED, "topup.partial": Outcome.PARTIAL}
# HTTP status of a refusal -> ours (error codes first, then the status). Not listed: 4xx FAILED, 5xx UNKNOWN.
ERROR_CODES = {
    "insufficient_funds": Outcome.NO_BALANCE,
    "idempotency_conflict": Outcome.EXISTS,
    "exists": Outcome.EXISTS,
    "not_found": Outcome.NOT_FOUND,
}
ERRORS = {402: Outcome.NO_BALANCE, 404: Outcome.NOT_FOUND, 409: Outcome.EXISTS, 429: Outcome.UNKNOWN}


def _money(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _header(headers, name: str) -> str:
    """A header from a dict or Django's HttpHeaders, whatever the case of its name."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def topup_answer(body: dict) -> Answer:
    """A top-up as their API answers it or a callback tells it (`status` is their order's; `event` a webhook's)."""
    status = str(body.get("status", ""))
    outcome = STATES.get(status) or EVENTS.get(str(body.get("event", "")), Outcome.UNKNOWN)
    delivered = _money(body.get("delivered_value"))
    if outcome == Outcome.SUCCESS and delivered is None:
        delivered = _money(body.get("face_value"))
    return Answer(
        outcome=outcome,
        their_number=str(body.get("number") or body.get("order") or ""),
        their_status=status,
        message=str(body.get("message", "")),
        delivered_value=delivered if outcome in (Outcome.SUCCESS, Outcome.PARTIAL) else None,
        cost=_money(body.get("price", body.get("total"))),
    )


def refusal_answer(reply: Reply) -> Answer:
    """A non-2xx answer as ours."""
    body = reply.json()
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    if reply.server_error or (not error and reply.status not in ERRORS):  # not an answer of theirs (a proxy's page)
        return Answer(outcome=Outcome.UNKNOWN, their_status=f"HTTP {reply.status}", message=message)
    outcome = ERROR_CODES.get(code) or ERRORS.get(reply.status, Outcome.FAILED)
    return Answer(outcome=outcome, their_status=code or f"HTTP {reply.status}", message=message)


class VoucherHubAdapter(Adapter):
    protocol = "voucherhub"

    def _call(self, conn: Connection, method: str, path: str, payload: dict | None = None, idempotency_key: str = "") -> Reply:
        """A signed request to {base}{path}. Raises Unreachable."""
        url = conn.base_url.rstrip("/") + path
        target = urlsplit(url)
        signed_path = target.path + (f"?{target.query}" if target.query else "")
        body = json_dumps(payload).encode() if payload is not None else b""
        headers = apisign.signed_headers(key_id=conn.app_key, secret=conn.secret, method=method, path=signed_path, body=body)
        headers["Accept"] = "application/json"
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return http_call(method, url, body=body if payload is not None else None, headers=headers, timeout=conn.timeout)

    def _topup(self, conn: Connection, method: str, path: str, payload=None, idempotency_key="") -> Answer:
        try:
            reply = self._call(conn, method, path, payload, idempotency_key)
        except Unreachable as trouble:
            return Answer(outcome=Outcome.UNKNOWN, message=str(trouble))
        if not 200 <= reply.status < 300:
            return refusal_answer(reply)
        body = reply.json()
        return topup_answer(body) if isinstance(body, dict) else Answer(outcome=Outcome.UNKNOWN, message="unreadable answer")

    def submit(self, conn: Connection, request: SubmitRequest) -> Answer:
        payload = {
            "sku": request.product_id,
            "account": request.account,
            "region": request.region,
            "customer_ref": request.number,
            "face_value": str(request.face_value),
            "max_price": None if request.max_price is None else str(request.max_price),
            "notify_url": request.notify_url,
        }
        return self._topup(conn, "POST", "/api/v1/topups/", payload, idempotency_key=request.number)

    def query(self, conn: Connection, number: str) -> Answer:
        return self._topup(conn, "GET", f"/api/v1/topups/{number}/")

    def balance(self, conn: Connection) -> Decimal:
        try:
            reply = self._call(conn, "GET", "/api/v1/wallet/")
        except Unreachable as trouble:
            raise SupplierUnavailable(message=str(trouble)) from None
        body = reply.json() if reply.status == 200 else None
        balance = _money(body.get("spendable", body.get("balance"))) if isinstance(body, dict) else None
        if balance is None:
            raise SupplierUnavailable()
        return balance

    def buy_cards(self, conn: Connection, *, product_id: str, quantity: int, number: str) -> list[str]:
        payload = {"sku": product_id, "quantity": quantity, "customer_ref": number}
        try:
            reply = self._call(conn, "POST", "/api/v1/orders/", payload, idempotency_key=number)
            order = reply.json() if 200 <= reply.status < 300 else None
            if not isinstance(order, dict):
                raise SupplierUnavailable(message=refusal_answer(reply).message or None)
            codes = order.get("codes")
            if not codes:  # withheld by their reveal limit, or not delivered yet: ask for them
                reply = self._call(conn, "GET", f"/api/v1/orders/{order.get('number', '')}/codes/")
                codes = reply.json() if reply.status == 200 else None
        except Unreachable as trouble:
            raise SupplierUnavailable(message=str(trouble)) from None
        cards = [str(code.get("code", "")) for code in codes or [] if isinstance(code, dict)]
        if len(cards) != quantity or not all(cards):
            raise SupplierUnavailable(message="The supplier answered a card order without its cards.")
        return cards

    def callback_parse(self, conn: Connection, *, body: bytes, content_type: str, query: dict, headers: dict) -> CallbackResult:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CallbackRejected("unreadable") from None
        if not isinstance(data, dict):
            raise CallbackRejected("unreadable")
        timestamp = _callback_verified(conn, body=body, data=data, headers=headers)
        if isinstance(data.get("data"), dict):  # a distributor webhook: {"id", "type": "topup.succeeded", "data": {...}}
            data = {**data["data"], "event": data.get("type", "")}
        try:
            stale = abs(time.time() - int(timestamp)) > CALLBACK_WINDOW_SECONDS
        except ValueError:
            stale = True
        if stale:
            raise CallbackRejected("stale_timestamp")
        number = str(data.get("customer_ref", ""))
        if not number:
            raise CallbackRejected("unknown_number")
        return CallbackResult(number=number, answer=topup_answer(data))

    def callback_reply(self, *, accepted: bool) -> tuple[int, str, bytes]:
        if accepted:
            return 200, "application/json", b'{"ok": true}'
        return 400, "application/json", b'{"ok": false}'


def _callback_verified(conn: Connection, *, body: bytes, data: dict, headers) -> str:
    """Check a callback's signature (either scheme of the module docstring); its timestamp. Raises CallbackRejected."""
    webhook_signature = _header(headers, "X-VH-Webhook-Signature")
    if webhook_signature:
        timestamp = _header(headers, "X-VH-Webhook-Timestamp")
        expected = hmac.new(conn.callback_secret.encode(), timestamp.encode() + b"." + body, "sha256").hexdigest()
        if not hmac.compare_digest(expected, webhook_signature.lower()):
            raise CallbackRejected("bad_signature")
        return timestamp
    names = (apisign.HEADER_TIMESTAMP, apisign.HEADER_NONCE, apisign.HEADER_SIGNATURE)
    timestamp, nonce, given = (_header(headers, name) for name in names)
    if not (timestamp and nonce and given) or _header(headers, apisign.HEADER_KEY) != conn.app_key:
        raise CallbackRejected("bad_signature")
    target = urlsplit(str(data.get("notify_url", "")))
    path = target.path + (f"?{target.query}" if target.query else "")
    expected = apisign.signature(secret=conn.callback_secret, method="POST", path=path, timestamp=timestamp, nonce=nonce, body=body)
    if not hmac.compare_digest(expected, given.lower()):
        raise CallbackRejected("bad_signature")
    return timestamp
