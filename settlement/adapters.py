"""Payment-provider adapters. An adapter starts a payment, verifies a provider's callback, and refunds.

* `sandbox`: a built-in provider for demos and tests. Its checkout page (/pay/sandbox/<number>/) posts a
  callback signed with HMAC-SHA256 under `conf.sandbox_secret()`, exactly like a real provider would.
* `manual`: bank transfer. The buyer sees the account and the reference; finance confirms the payment
  when the money arrives (finance pages / admin action), which applies the same callback path.

The sandbox moves no money, so it is offered only while `settings.PAYMENT_SANDBOX` is on (development's
default; production only when set explicitly, which `check --deploy` reports as an error). `adapter_get`
and `adapters_enabled` are the only way to an adapter at run time: a switched-off adapter is unknown there.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from settlement import conf
from settlement.errors import PaymentAdapterUnavailable


@dataclass(frozen=True)
class CallbackData:
    """A provider callback, parsed and with its signature checked."""

    event_id: str
    event_type: str  # "payment.succeeded" / "payment.failed" / "refund.succeeded"
    payment_number: str
    amount: Decimal | None
    provider_ref: str
    signature_ok: bool
    payload: dict


class PaymentAdapter:
    name = ""
    label = ""
    refunds_instantly = False
    # False for an adapter that only pretends (the sandbox): its "payments" are never money received.
    moves_money = True

    def start_url(self, payment) -> str:
        raise NotImplementedError

    def parse_callback(self, *, body: bytes, headers) -> CallbackData:
        raise NotImplementedError

    def refund(self, *, payment, amount: Decimal, reference: str) -> bool:
        """Ask the provider to pay `amount` back. True when it is done, False when a person must do it."""
        raise NotImplementedError


def _amount(value) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return None


class SandboxAdapter(PaymentAdapter):
    name = "sandbox"
    label = _("Sandbox payment (demo)")
    refunds_instantly = True
    moves_money = False
    SIGNATURE_HEADER = "X-Sandbox-Signature"

    @staticmethod
    def sign(body: bytes) -> str:
        return hmac.new(conf.sandbox_secret().encode(), body, hashlib.sha256).hexdigest()

    def start_url(self, payment) -> str:
        return reverse("settlement:sandbox-pay", kwargs={"number": payment.number})

    def callback_body(self, *, event_id: str, event_type: str, payment_number: str, amount, provider_ref: str = "") -> bytes:
        return json.dumps(
            {
                "id": event_id,
                "type": event_type,
                "payment": payment_number,
                "amount": str(amount),
                "provider_ref": provider_ref or f"SBX-{event_id}",
            },
            sort_keys=True,
        ).encode()

    def parse_callback(self, *, body: bytes, headers) -> CallbackData:
        given = headers.get(self.SIGNATURE_HEADER, "")
        ok = bool(given) and hmac.compare_digest(self.sign(body), given)
        try:
            data = json.loads(body.decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        return CallbackData(
            event_id=str(data.get("id", ""))[:100],
            event_type=str(data.get("type", ""))[:30],
            payment_number=str(data.get("payment", ""))[:32],
            amount=_amount(data.get("amount")),
            provider_ref=str(data.get("provider_ref", ""))[:100],
            signature_ok=ok,
            payload=data,
        )

    def refund(self, *, payment, amount: Decimal, reference: str) -> bool:
        return True


class ManualAdapter(PaymentAdapter):
    name = "manual"
    label = _("Bank transfer (confirmed by finance)")
    refunds_instantly = False

    def start_url(self, payment) -> str:
        return reverse("settlement:manual-pay", kwargs={"number": payment.number})

    def parse_callback(self, *, body: bytes, headers) -> CallbackData:  # finance confirms in the app, there is no external caller
        raise NotImplementedError

    def refund(self, *, payment, amount: Decimal, reference: str) -> bool:
        return False  # finance pays it back by bank transfer


# Every adapter the code knows; what may be used at run time is `adapters_enabled()`.
ADAPTERS: dict[str, PaymentAdapter] = {a.name: a for a in (SandboxAdapter(), ManualAdapter())}


def sandbox_enabled() -> bool:
    return conf.payment_sandbox()


def adapters_enabled() -> dict[str, PaymentAdapter]:
    """The adapters payments may use now: every adapter, less the sandbox unless PAYMENT_SANDBOX is on."""
    return {name: a for name, a in ADAPTERS.items() if a.name != SandboxAdapter.name or sandbox_enabled()}


def adapter_get(name: str, *, field: str = "adapter") -> PaymentAdapter:
    """The enabled adapter `name`, or PaymentAdapterUnavailable (naming `field`) for an unknown or switched-off one."""
    adapter = adapters_enabled().get(name)
    if adapter is None:
        raise PaymentAdapterUnavailable(field=field, adapter=name)
    return adapter
