"""The one interface every supplier protocol adapter implements (supply's contract with its suppliers).

An adapter turns our request into a supplier's wire format and the supplier's answer into an `Answer` whose
`outcome` is one of ours (`Outcome`). It never decides what to do next: the top-up services do (query after
UNKNOWN / EXISTS, fail over after FAILED / NO_BALANCE, ...). Rules every adapter keeps:

- `submit` and `query` never raise on network trouble: a timeout, a refused connection, a 5xx or an answer
  that cannot be read is `Outcome.UNKNOWN` (the order may exist at the supplier: query it before anything
  else, never call it FAILED);
- a supplier's "this order number already exists" is `Outcome.EXISTS` (query it), never a failure;
- `callback_parse` verifies the signature and the timestamp window (±CALLBACK_WINDOW_SECONDS) and raises
  `CallbackRejected` when either is wrong or the body cannot be read;
- nothing here logs or keeps a secret or a card code.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from voucherhub.core.errors import DomainError

CALLBACK_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class Connection:
    """Where and as whom we talk to one supplier (Upstream.connection() builds it with the secrets opened)."""

    base_url: str
    app_key: str
    secret: str
    callback_secret: str
    timeout: float = 8.0

    def __repr__(self) -> str:  # never show the secrets in a traceback or a log line
        return f"Connection(base_url={self.base_url!r}, app_key={self.app_key!r}, timeout={self.timeout!r})"


class Outcome(StrEnum):
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    PARTIAL = "partial"
    UNKNOWN = "unknown"  # timeout, 5xx, unreadable answer: query before anything else
    EXISTS = "exists"  # "order number already exists": query it, never a failure
    NOT_FOUND = "not_found"  # query: they never received it (safe to treat as failed only after submit window)
    NO_BALANCE = "no_balance"  # refused because our balance at the supplier ran out: fail over


@dataclass(frozen=True)
class SubmitRequest:
    number: str  # our attempt number, f"{reference}-A{n}"
    product_id: str  # their product id
    account: str  # phone number, QQ number, game account
    region: str  # game region/server, "" otherwise
    face_value: Decimal  # face-value guard: the supplier refuses when its product is worth something else
    max_price: Decimal | None  # price guard: the supplier refuses when it would charge us more
    notify_url: str  # where the supplier posts its callback


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    their_number: str = ""
    their_status: str = ""  # their raw status / error code, as text, for the attempt row and ops
    message: str = ""
    delivered_value: Decimal | None = None  # PARTIAL (and SUCCESS when they say): the value actually topped up
    cost: Decimal | None = None  # what they charged us, when they say


@dataclass(frozen=True)
class CallbackResult:
    number: str  # our attempt number the callback is about
    answer: Answer


class CallbackRejected(Exception):
    """A callback we must not believe: bad signature, stale timestamp, unreadable body, unknown number format."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class SupplierUnavailable(DomainError):
    """The supplier could not be asked or gave no usable answer (a read such as balance; never a submit)."""

    code = "supplier_unavailable"
    status = 502
    default_message = _("The supplier did not answer; try again later.")


class NotSupported(DomainError):
    """The supplier's protocol has no such method (for example card purchase)."""

    code = "supplier_not_supported"
    status = 400
    default_message = _("This supplier's protocol does not offer this.")


class Adapter(ABC):
    protocol: str

    @abstractmethod
    def submit(self, conn: Connection, request: SubmitRequest) -> Answer:
        """Place the top-up. Never raises on network trouble: Outcome.UNKNOWN."""

    @abstractmethod
    def query(self, conn: Connection, number: str) -> Answer:
        """The state of our order `number` at the supplier. Never raises on network trouble: Outcome.UNKNOWN."""

    @abstractmethod
    def balance(self, conn: Connection) -> Decimal:
        """Our balance at the supplier; raises SupplierUnavailable."""

    @abstractmethod
    def buy_cards(self, conn: Connection, *, product_id: str, quantity: int, number: str) -> list[str]:
        """Buy `quantity` card codes; the codes come back in clear and the caller seals them at once.
        Raises NotSupported when the protocol has no card purchase, SupplierUnavailable on trouble."""

    @abstractmethod
    def callback_parse(self, conn: Connection, *, body: bytes, content_type: str, query: dict, headers: dict) -> CallbackResult:
        """Verify and read a supplier's callback; raises CallbackRejected."""

    @abstractmethod
    def callback_reply(self, *, accepted: bool) -> tuple[int, str, bytes]:
        """The HTTP answer the supplier expects to a callback: (status, content type, body)."""


ADAPTERS = {
    "gateway": "supply.adapters.gateway.GatewayAdapter",
    "v2": "supply.adapters.v2.V2Adapter",
    "voucherhub": "supply.adapters.voucherhub.VoucherHubAdapter",
}
_instances: dict[str, Adapter] = {}


def adapter_for(protocol: str) -> Adapter:
    """The adapter of a protocol (Upstream.Protocol value); adapters keep no state, so one instance each."""
    adapter = _instances.get(protocol)
    if adapter is None:
        try:
            path = ADAPTERS[str(protocol)]
        except KeyError:
            raise NotSupported(_("Unknown supplier protocol."), field="protocol") from None
        adapter = _instances[protocol] = import_string(path)()
    return adapter
