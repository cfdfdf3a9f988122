"""The supplier simulator: one real HTTP server speaking the three protocols, with faults, for tests and demos.

    sim = SupplierSimulator(port=0, seed=7)
    sim.start()
    sim.account("merchant-1", secret="s", callback_secret="cs", balance=Decimal("100"))
    sim.product("P10", face_value=Decimal("10"), cost=Decimal("9.80"), faults=Faults(failure_rate=0.05))
    Connection(base_url=sim.base_url("v2"), app_key="merchant-1", secret="s", callback_secret="cs")
    ...
    sim.orders_for("merchant-1"); sim.callbacks_for("R1-A1"); sim.summary(); sim.wait_idle()
    sim.stop()

Paths: /gateway (the gateway protocol's one endpoint), /v2/index/..., /vh/api/v1/..., and /_sim/... a small
JSON control API for another process (`make run`, the benchmark): GET health, summary, orders[?account=],
callbacks[?number=]; POST accounts {app_key, secret, callback_secret, balance}, products {product_id,
face_value, cost, faults: {...}}, reset. The control API has no authentication: bind it to 127.0.0.1 only.

An order's callbacks leave from worker threads once its submit was answered and it reached its final state;
a final callback that is not acknowledged is sent again (CALLBACK_RETRIES).
"""

import heapq
import itertools
import json
import logging
import queue
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from supply.simulator.faults import Faults
from supply.simulator.protocols import PROTOCOL_OF, PROTOCOLS, Request, Response, json_response
from supply.simulator.state import FINAL, Account, CallbackRecord, Order, Product, Refusal, SimState

logger = logging.getLogger("supply.simulator")
CALLBACK_RETRIES = (1.0, 3.0)  # seconds before sending an unacknowledged final callback again
# What each callback plan sends, in order, in one go (so "out of order" really comes after the final one).
CALLBACK_PLANS = {
    "normal": ("final",),
    "lost": (),
    "duplicate": ("final", "duplicate"),
    "out_of_order": ("final", "out_of_order"),
    "forged": ("forged", "final"),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    simulator: "SupplierSimulator"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def do_GET(self):  # noqa: N802 (the stdlib's naming)
        self._serve()

    def do_POST(self):  # noqa: N802
        self._serve()

    def log_message(self, format, *args):  # noqa: A002
        logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        prefix, _slash, rest = target.path.lstrip("/").partition("/")
        request = Request(
            method=self.command,
            path="/" + rest,
            target=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        simulator = self.server.simulator
        try:
            if prefix == "_sim":
                response = simulator.control(request, query=parse_qs(target.query))
            elif prefix in PROTOCOLS:
                response = PROTOCOLS[prefix][0](simulator.state, request)
            else:
                response = json_response(404, {"error": "no such protocol"})
        except Exception:  # a bug in the simulator answers 500, as a real supplier's would
            logger.exception("simulator failed on %s", self.path)
            response = json_response(500, {"error": "internal"})
        created = simulator.created_reserve()  # wait_idle counts them from now on, before the client has its answer
        if response.delay:
            time.sleep(response.delay)
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:  # the client gave up (it timed out): the order stands all the same
            pass
        finally:
            simulator.created_schedule(created)


class SupplierSimulator:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int = 0, callback_workers: int = 4, callback_timeout: float = 5.0):
        self.host, self.port = host, port
        self.state = SimState(seed)
        self.callback_workers = callback_workers
        self.callback_timeout = callback_timeout
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._timer: list = []  # heap of (when, seq, job)
        self._timer_wake = threading.Condition()
        self._seq = itertools.count()
        self._jobs: queue.Queue = queue.Queue()
        self._pending = 0  # timed jobs + queued callback jobs + callbacks being sent
        self._pending_lock = threading.Condition()
        self._stopping = threading.Event()

    # --- life --------------------------------------------------------------------------------------
    def start(self) -> "SupplierSimulator":
        self._server = _Server((self.host, self.port), _Handler)
        self._server.simulator = self
        self.port = self._server.server_address[1]
        self._spawn(lambda: self._server.serve_forever(poll_interval=0.05), "sim-http")
        self._spawn(self._timer_loop, "sim-timer")
        for index in range(self.callback_workers):
            self._spawn(self._callback_loop, f"sim-callback-{index}")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._timer_wake:
            self._timer_wake.notify_all()
        for _worker in range(self.callback_workers):
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, protocol: str) -> str:
        """The base URL of an Upstream of `protocol` (gateway, v2, voucherhub) pointing at this simulator."""
        return f"{self.url}/{PROTOCOL_OF[protocol]}"

    # --- setup and reads for tests ----------------------------------------------------------------
    def account(self, app_key: str, *, secret: str, callback_secret: str | None = None, balance: Decimal = Decimal("100000.00")) -> Account:
        return self.state.account_put(Account(app_key, secret, callback_secret or secret, Decimal(str(balance))))

    def product(self, product_id: str, *, face_value, cost, faults: Faults | None = None) -> Product:
        return self.state.product_put(Product(product_id, Decimal(str(face_value)), Decimal(str(cost)), faults or Faults()))

    def orders_for(self, app_key: str | None = None) -> list[Order]:
        return self.state.orders_list(app_key)

    def order(self, app_key: str, number: str) -> Order:
        return self.state.order_get(app_key, number)

    def callbacks_for(self, number: str | None = None) -> list[CallbackRecord]:
        with self.state.lock:
            return [record for record in self.state.callbacks if number in (None, record.number)]

    def balance(self, app_key: str) -> Decimal:
        return self.state.balance(app_key)

    def summary(self) -> dict:
        return self.state.summary()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every due order reached its final state and its callbacks went out; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._pending_lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._pending_lock.wait(left)
        return True

    # --- orders' final states and callbacks --------------------------------------------------------
    def _pending_add(self, count: int) -> None:
        with self._pending_lock:
            self._pending += count
            if self._pending <= 0:
                self._pending_lock.notify_all()

    def _at(self, when: float, job, *, reserved: bool = False) -> None:
        if not reserved:
            self._pending_add(1)
        with self._timer_wake:
            heapq.heappush(self._timer, (when, next(self._seq), job))
            self._timer_wake.notify()

    def created_reserve(self) -> list:
        """The top-ups the current request created, counted as pending work at once."""
        created = self.state.created_take()
        self._pending_add(len(created))
        return created

    def created_schedule(self, created: list) -> None:
        """After their request was answered: the top-ups reach their final state at their due time."""
        for app_key, number, due_at in created:
            self._at(max(due_at, time.time()), (app_key, number), reserved=True)

    def _timer_loop(self) -> None:
        while not self._stopping.is_set():
            with self._timer_wake:
                while not self._timer or self._timer[0][0] > time.time():
                    if self._stopping.is_set():
                        return
                    self._timer_wake.wait(min(0.5, self._timer[0][0] - time.time()) if self._timer else 0.5)
                _when, _seq, job = heapq.heappop(self._timer)
            try:
                self._timer_job(job)
            except Exception:
                logger.exception("simulator timer job failed")
            finally:
                self._pending_add(-1)

    def _timer_job(self, job) -> None:
        if isinstance(job, tuple) and len(job) == 2:  # an order reached its due time
            order = self.state.order_get(*job)
            if order.state in FINAL and order.notify_url:
                plan = CALLBACK_PLANS[order.fate.callback]
                if plan:
                    self._enqueue((order.app_key, order.number, plan, 0))
            return
        self._enqueue(job)  # a callback to send again

    def _enqueue(self, job) -> None:
        self._pending_add(1)
        self._jobs.put(job)

    def _callback_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._callbacks_send(*job)
            except Exception:
                logger.exception("simulator callback failed")
            finally:
                self._pending_add(-1)

    def _callbacks_send(self, app_key: str, number: str, plan: tuple, tries: int) -> None:
        order = self.state.order_get(app_key, number)
        account = self.state.accounts[app_key]
        prefix = PROTOCOL_OF[order.protocol]
        build, ack = PROTOCOLS[prefix][1], PROTOCOLS[prefix][2]
        for kind in plan:
            url, body, headers = build(order, account, kind)
            status, reply = None, ""
            try:
                answer = requests.post(url, data=body, headers=headers, timeout=self.callback_timeout)
                status, reply = answer.status_code, answer.text[:200]
            except requests.RequestException as trouble:
                reply = type(trouble).__name__
            claimed = {"out_of_order": "processing", "forged": "forged"}.get(kind, order.state)
            self.state.callback_record(CallbackRecord(number, kind, claimed, status, reply, time.time()))
            acknowledged = status is not None and 200 <= status < 300 and _acknowledges(reply, ack)
            if kind == "final" and not acknowledged and tries < len(CALLBACK_RETRIES):
                self._at(time.time() + CALLBACK_RETRIES[tries], (app_key, number, ("final",), tries + 1))

    # --- the control API -----------------------------------------------------------------------------
    def control(self, request: Request, *, query: dict) -> Response:
        action = request.path.strip("/")
        try:
            data = json.loads(request.body or b"{}") if request.method == "POST" else {}
        except ValueError:
            return json_response(400, {"error": "body is not JSON"})
        first = {key: values[0] for key, values in query.items()}
        if request.method == "GET":
            if action == "health":
                return json_response(200, {"ok": True})
            if action == "summary":
                return json_response(200, self.summary())
            if action == "orders":
                return json_response(200, [order.as_dict() for order in self.orders_for(first.get("account"))])
            if action == "callbacks":
                records = self.callbacks_for(first.get("number"))
                return json_response(200, [vars(record) for record in records])
        elif action == "accounts":
            account = self.account(data["app_key"], secret=data["secret"], callback_secret=data.get("callback_secret"),
                                   balance=Decimal(str(data.get("balance", "100000.00"))))  # fmt: skip
            return json_response(201, {"app_key": account.app_key, "balance": str(account.balance)})
        elif action == "products":
            product = self.product(
                data["product_id"], face_value=data["face_value"], cost=data["cost"], faults=Faults.from_dict(data.get("faults"))
            )
            return json_response(201, {"product_id": product.product_id, "faults": product.faults.as_dict()})
        elif action == "reset":
            self.state.reset()
            return json_response(200, {"ok": True})
        return json_response(404, {"error": "unknown control action"})


def _acknowledges(reply: str, ack: bytes) -> bool:
    """The receiver's body says it took the callback: the protocol's word (`success`), or the same JSON."""
    if reply.strip() == ack.decode():
        return True
    try:
        return json.loads(reply) == json.loads(ack)
    except ValueError:
        return False


__all__ = ["SupplierSimulator", "Faults", "Refusal"]
