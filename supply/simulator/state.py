"""What the simulated supplier keeps: accounts, products, orders, the callbacks it sent. Thread-safe (one lock).

An order is keyed by (account, our number). Its fate is rolled when it is created; it stays "processing"
until `due_at`, then reaches its final state (lazily, whenever anyone looks, and in the scheduler). A number
submitted again is never topped up again: `submits` counts how often it came, `topups` how often the
supplier topped it up (at most once, by construction).
"""

import itertools
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from supply.simulator.faults import Dice, Fate, Faults

CENT = Decimal("0.01")
PROCESSING, SUCCESS, FAILED, PARTIAL = "processing", "success", "failed", "partial"
FINAL = (SUCCESS, FAILED, PARTIAL)


@dataclass
class Account:
    app_key: str
    secret: str
    callback_secret: str
    balance: Decimal = Decimal("100000.00")


@dataclass
class Product:
    product_id: str
    face_value: Decimal
    cost: Decimal
    faults: Faults = field(default_factory=Faults)


@dataclass
class Order:
    number: str  # ours (the client's)
    their_number: str
    app_key: str
    protocol: str
    product_id: str
    target: str  # the account topped up (phone, QQ, game account)
    region: str
    face_value: Decimal
    cost: Decimal  # what the account was charged (0 once failed; the delivered share when partial)
    fate: Fate
    notify_url: str = ""
    state: str = PROCESSING
    delivered_value: Decimal = Decimal("0.00")
    created_at: float = 0.0  # time.time()
    due_at: float = 0.0
    finished_at: float | None = None
    submits: int = 1
    topups: int = 0  # 1 once the supplier topped the account up (success or partial)
    cards: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["fate"] = asdict(self.fate)
        return {key: str(value) if isinstance(value, Decimal) else value for key, value in data.items() if key != "cards"}


@dataclass
class CallbackRecord:
    number: str
    kind: str  # "final" | "duplicate" | "out_of_order" | "forged"
    state: str  # the state the callback claimed
    status: int | None  # the receiver's HTTP status (None: not reachable)
    reply: str
    at: float


class Refusal(Exception):
    """A request the supplier refuses; `reason` is one of REASONS (each protocol has its own code for it)."""

    REASONS = ("unknown_account", "no_product", "no_balance", "exists", "face_mismatch", "price_above", "not_found", "bad_request")

    def __init__(self, reason: str, order: Order | None = None):
        assert reason in self.REASONS, reason
        self.reason = reason
        self.order = order
        super().__init__(reason)


class SimState:
    def __init__(self, seed: int = 0):
        self.lock = threading.RLock()
        self.dice = Dice(seed)
        self.accounts: dict[str, Account] = {}
        self.products: dict[str, Product] = {}
        self.orders: dict[tuple[str, str], Order] = {}
        self.callbacks: list[CallbackRecord] = []
        self._serial = itertools.count(1)
        self._created = threading.local()  # orders created by this thread's request, scheduled once it is answered

    # --- setup ---------------------------------------------------------------------------------
    def account_put(self, account: Account) -> Account:
        with self.lock:
            self.accounts[account.app_key] = account
        return account

    def product_put(self, product: Product) -> Product:
        with self.lock:
            self.products[product.product_id] = product
        return product

    def account_get(self, app_key: str) -> Account:
        account = self.accounts.get(app_key)
        if account is None:
            raise Refusal("unknown_account")
        return account

    def faults_for(self, product_id: str) -> Faults:
        product = self.products.get(product_id)
        return product.faults if product else Faults()

    # --- orders ----------------------------------------------------------------------------------
    def topup_submit(self, *, protocol, app_key, number, product_id, target, region="", face_guard=None, price_guard=None, notify_url=""):
        """Create the order (charging the account) or raise Refusal. A number seen before: Refusal("exists")."""
        with self.lock:
            account = self.account_get(app_key)
            known = self.orders.get((app_key, number))
            if known is not None:
                known.submits += 1
                raise Refusal("exists", self._advanced(known))
            product = self.products.get(product_id)
            if product is None:
                raise Refusal("no_product")
            if face_guard is not None and Decimal(str(face_guard)) != product.face_value:
                raise Refusal("face_mismatch")
            if price_guard is not None and product.cost > Decimal(str(price_guard)):
                raise Refusal("price_above")
            if account.balance < product.cost:
                raise Refusal("no_balance")
            account.balance -= product.cost
            now = time.time()
            order = Order(
                number=number,
                their_number=f"S{next(self._serial):09d}",
                app_key=app_key,
                protocol=protocol,
                product_id=product_id,
                target=target,
                region=region,
                face_value=product.face_value,
                cost=product.cost,
                fate=self.dice.fate(product.faults),
                notify_url=notify_url,
                created_at=now,
                due_at=now + product.faults.processing_seconds,
            )
            self.orders[(app_key, number)] = order
        self._created.__dict__.setdefault("orders", []).append((app_key, number, order.due_at))
        return replace(order)

    def created_take(self) -> list[tuple[str, str, float]]:
        """(account, number, due_at) of the top-ups the calling thread created since it last asked."""
        taken = self._created.__dict__.get("orders", [])
        self._created.orders = []
        return taken

    def cards_buy(self, *, protocol, app_key, number, product_id, quantity: int) -> Order:
        """A card order, delivered at once: `quantity` fresh codes. Refusal as for top-ups."""
        with self.lock:
            account = self.account_get(app_key)
            known = self.orders.get((app_key, number))
            if known is not None:
                known.submits += 1
                raise Refusal("exists", replace(known))
            product = self.products.get(product_id)
            if product is None or quantity < 1:
                raise Refusal("no_product" if product is None else "bad_request")
            cost = product.cost * quantity
            if account.balance < cost:
                raise Refusal("no_balance")
            account.balance -= cost
            now = time.time()
            order = Order(
                number=number,
                their_number=f"S{next(self._serial):09d}",
                app_key=app_key,
                protocol=protocol,
                product_id=product_id,
                target="",
                region="",
                face_value=product.face_value * quantity,
                cost=cost,
                fate=Fate(final=SUCCESS),
                state=SUCCESS,
                delivered_value=product.face_value * quantity,
                created_at=now,
                due_at=now,
                finished_at=now,
                cards=[f"SIM{self.dice.token(16)}" for _ in range(quantity)],
            )
            self.orders[(app_key, number)] = order
            return replace(order, cards=list(order.cards))

    def order_get(self, app_key: str, number: str) -> Order:
        """The order as it is now (reaching its final state if due); Refusal("not_found")."""
        with self.lock:
            order = self.orders.get((app_key, number))
            if order is None:
                raise Refusal("not_found")
            return self._advanced(order)

    def reset(self) -> None:
        """Forget every order and callback (accounts and products stay)."""
        with self.lock:
            self.orders.clear()
            self.callbacks.clear()

    def _advanced(self, order: Order) -> Order:
        """Move a due order to its final state (caller holds the lock); a copy of it."""
        if order.state == PROCESSING and time.time() >= order.due_at:
            order.state = order.fate.final
            order.finished_at = time.time()
            account = self.accounts[order.app_key]
            if order.state == FAILED:
                account.balance += order.cost
                order.cost = Decimal("0.00")
            elif order.state == PARTIAL:
                ratio = self.products[order.product_id].faults.partial_ratio
                order.delivered_value = (order.face_value * ratio).quantize(CENT, ROUND_HALF_UP)
                charged = (order.cost * ratio).quantize(CENT, ROUND_HALF_UP)
                account.balance += order.cost - charged
                order.cost = charged
                order.topups += 1
            else:
                order.delivered_value = order.face_value
                order.topups += 1
        return replace(order)

    def balance(self, app_key: str) -> Decimal:
        with self.lock:
            return self.account_get(app_key).balance

    # --- what tests and benchmarks read ---------------------------------------------------------
    def callback_record(self, record: CallbackRecord) -> None:
        with self.lock:
            self.callbacks.append(record)

    def orders_list(self, app_key: str | None = None) -> list[Order]:
        with self.lock:
            return [self._advanced(order) for (key, _number), order in self.orders.items() if app_key in (None, key)]

    def summary(self) -> dict:
        """Counts over every order: by state, numbers submitted more than once, references topped up twice."""
        orders = self.orders_list()
        by_state: dict[str, int] = {}
        topped: dict[str, int] = {}
        for order in orders:
            by_state[order.state] = by_state.get(order.state, 0) + 1
            if order.topups and not order.cards:
                reference = order.number.rsplit("-A", 1)[0]
                topped[reference] = topped.get(reference, 0) + order.topups
        return {
            "orders": len(orders),
            "by_state": by_state,
            "resubmitted_numbers": sum(1 for order in orders if order.submits > 1),
            "double_topups": sum(1 for count in topped.values() if count > 1),
            "callbacks": len(self.callbacks),
        }
