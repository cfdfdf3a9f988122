"""Writes of redemption: merchants, terminals and clerks; verify, redeem and reverse.

Redeem and reverse hold under concurrency the same way (the check/do split): `redemption_check` /
`reverse_check` lock the card code row first (lock_objects.py owns the order), and the state is judged
on the locked copy; `redemption_do` / `reverse_do` then write, expecting that lock. Everything a request
writes commits in one transaction: the idempotency answer (voucherhub.core.idempotency), the code's
status and its event (catalog's code_status_change), the balance, the redemption and the attempt row.
Two terminals on one code queue on the row lock; the second one then reads `redeemed` and is told
where and when.
"""

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from catalog import codegen, vault
from catalog.codetext import text_code_guard
from catalog.models import CardCode, Sku
from redemption import conf, integrations, lock_objects, rules, selectors, tokens, writes
from redemption.models import (
    CodeBalance,
    CodeHolding,
    Merchant,
    MerchantClerk,
    MerchantSkuPrice,
    Redemption,
    RedemptionAttempt,
    RefusalReason,
    Store,
    Terminal,
)
from voucherhub.core import sealing
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError, NotFound
from voucherhub.core.idempotency import idempotency_key_checked, idempotent_answer, request_fingerprint
from voucherhub.core.money import ZERO, money

TERMINAL_SECRET_PURPOSE = "terminal-secret"
REDEEM_ROUNDS = 5  # reads after losing a race on a code before giving up (each loss means someone else won)
MIN_CODE_LENGTH = 4
MAX_CODE_LENGTH = 64


class RedemptionRefused(DomainError):
    """A verify/redeem/reverse that a rule refused. `code` is the public reason (never more than the caller may know)."""

    def __init__(self, refusal: rules.Refusal):
        self.refusal = refusal
        self.code = refusal.public_reason
        self.status = refusal.status
        super().__init__(refusal.message)


class InvalidTerminal(DomainError):
    code = "invalid_terminal"


# --- Merchants, stores, terminals, clerks ---------------------------------------------------------


def merchant_create(*, name: str, code: str, actor=None, **fields) -> Merchant:
    merchant = Merchant.objects.create(name=name, code=code, **fields)
    audit_record(actor=actor, action="merchant.create", obj=merchant)
    return merchant


def store_create(*, merchant: Merchant, name: str, code: str, actor=None, **fields) -> Store:
    store = Store.objects.create(merchant=merchant, name=name, code=code, **fields)
    audit_record(actor=actor, action="store.create", obj=store)
    return store


def _terminal_secret_purpose(key_id: str) -> str:
    # The key id is bound into the sealing, so a sealed secret moved to another terminal does not open.
    return f"{TERMINAL_SECRET_PURPOSE}:{key_id}"


@transaction.atomic
def terminal_create(*, store: Store, name: str, ip_allowlist=None, actor=None) -> tuple[Terminal, str]:
    """A new terminal and its secret. The secret is returned once and kept only sealed."""
    key_id = Terminal.new_key_id()
    secret = secrets.token_urlsafe(32)
    terminal = Terminal.objects.create(
        store=store,
        name=name,
        key_id=key_id,
        secret_sealed=sealing.seal_text(secret, purpose=_terminal_secret_purpose(key_id)),
        ip_allowlist=list(ip_allowlist or []),
    )
    audit_record(actor=actor, action="terminal.create", obj=terminal, data={"store": store.pk})
    return terminal, secret


@transaction.atomic
def terminal_secret_rotate(*, terminal: Terminal, actor=None) -> str:
    secret = secrets.token_urlsafe(32)
    terminal.secret_sealed = sealing.seal_text(secret, purpose=_terminal_secret_purpose(terminal.key_id))
    terminal.save(update_fields=["secret_sealed"])
    _credentials.pop(terminal.key_id, None)
    audit_record(actor=actor, action="terminal.rotate_secret", obj=terminal)
    return secret


def terminal_revoke(*, terminal: Terminal, actor=None) -> None:
    Terminal.objects.filter(pk=terminal.pk).update(active=False, revoked_at=timezone.now())
    terminal.active = False
    _credentials.pop(terminal.key_id, None)
    audit_record(actor=actor, action="terminal.revoke", obj=terminal)


def terminal_secret(terminal: Terminal) -> str:
    """The plaintext secret, for signature checks only (never shown after creation)."""
    return sealing.open_text(terminal.secret_sealed, purpose=_terminal_secret_purpose(terminal.key_id))


# key id -> (good until, terminal with store and merchant, secret). Every signed request needs its terminal;
# keeping it a few seconds in the process saves a query and a decryption per request. Revoking or rotating
# here forgets it at once; in other processes the change applies within REDEMPTION_TERMINAL_CACHE_SECONDS.
_credentials: dict[str, tuple[float, Terminal, str]] = {}


def terminal_credential(key_id: str) -> tuple[Terminal, str] | None:
    """The terminal (with store and merchant) and its secret for a key id, or None."""
    now = time.monotonic()
    hit = _credentials.get(key_id)
    if hit is not None and hit[0] > now:
        return hit[1], hit[2]
    terminal = Terminal.objects.select_related("store__merchant").filter(key_id=key_id).first()
    if terminal is None:
        _credentials.pop(key_id, None)
        return None
    secret = terminal_secret(terminal)
    ttl = conf.terminal_cache_seconds()
    if ttl > 0:
        _credentials[key_id] = (now + ttl, terminal, secret)
    return terminal, secret


def terminal_credentials_forget() -> None:
    _credentials.clear()


@transaction.atomic
def clerk_link(*, user, merchant: Merchant, stores=(), actor=None) -> MerchantClerk:
    """Make `user` a clerk of `merchant` (every store, or only `stores`) and give them the merchant role."""
    from django.contrib.auth.models import Group

    from voucherhub.core import roles

    stores = list(stores)
    if any(store.merchant_id != merchant.pk for store in stores):
        raise InvalidTerminal(_("A clerk can only be linked to the merchant's own stores."), field="stores")
    clerk, _created = MerchantClerk.objects.update_or_create(user=user, defaults={"merchant": merchant})
    clerk.stores.set(stores)
    group, _created = Group.objects.get_or_create(name=roles.MERCHANT)
    user.groups.add(group)
    audit_record(actor=actor, action="merchant.clerk_link", obj=clerk, data={"merchant": merchant.pk, "stores": [s.pk for s in stores]})
    return clerk


def sku_price_set(*, merchant: Merchant, sku: Sku, settlement_price: Decimal, actor=None) -> MerchantSkuPrice:
    price, _created = MerchantSkuPrice.objects.update_or_create(
        merchant=merchant, sku=sku, defaults={"settlement_price": money(settlement_price)}
    )
    audit_record(actor=actor, action="merchant.sku_price", obj=price, data={"price": str(price.settlement_price)})
    return price


# --- Who is asking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The terminal (API) or the clerk at a store (console) behind a request."""

    merchant: Merchant
    store: Store
    channel: str
    terminal: Terminal | None = None
    clerk: object = None
    ip: str | None = None
    store_ids: frozenset[int] | None = field(default=None)  # stores this caller may see; None: every store of the merchant

    @classmethod
    def for_terminal(cls, terminal: Terminal, *, ip: str | None = None) -> "Caller":
        return cls(merchant=terminal.store.merchant, store=terminal.store, channel=Redemption.Channel.API, terminal=terminal, ip=ip or None)

    @classmethod
    def for_clerk(cls, clerk: MerchantClerk, *, store: Store, ip: str | None = None) -> "Caller":
        store_ids = frozenset(clerk.stores.values_list("pk", flat=True)) or None
        if store.merchant_id != clerk.merchant_id or (store_ids is not None and store.pk not in store_ids):
            raise NotFound(_("Unknown store."), field="store")
        return cls(
            merchant=clerk.merchant, store=store, channel=Redemption.Channel.CONSOLE, clerk=clerk.user, ip=ip or None, store_ids=store_ids
        )

    @property
    def scope(self) -> str:
        return f"terminal:{self.terminal.pk}" if self.terminal else f"user:{self.clerk.pk}"

    @property
    def actor(self):
        return self.clerk

    @property
    def source(self) -> str:
        """Who is trying codes, for the brute-force lockout: the terminal's key, or the clerk at the console."""
        return self.terminal.key_id if self.terminal else f"clerk:{self.clerk.pk}"

    def may_see(self, redemption: Redemption) -> bool:
        return redemption.merchant_id == self.merchant.pk and (self.store_ids is None or redemption.store_id in self.store_ids)


@dataclass(frozen=True)
class CodeEntry:
    """What the caller typed or scanned: a code (optionally with its serial), or a QR token.

    The code and the token stay out of its repr: a traceback that lists local variables (Django's
    error page and error mail, a debugger, a log line) shows the serial at most."""

    code: str = field(default="", repr=False)
    serial: str = ""
    qr_token: str = field(default="", repr=False)

    @property
    def text(self) -> str:
        return (self.qr_token or self.code or "").strip()


@dataclass
class Outcome:
    """The answer to a redeem or reverse: what the API returns and what the console shows."""

    status_code: int
    body: dict
    redemption: Redemption | None = None
    refusal: rules.Refusal | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.refusal is None and self.status_code < 400

    @property
    def message(self) -> str:
        return self.body.get("error", {}).get("message", "") if not self.ok else ""


# --- Finding a code ----------------------------------------------------------------------------------


@dataclass
class Found:
    code: CardCode | None = None
    refusal: rules.Refusal | None = None
    via_qr: bool = False


def code_find(*, entry: CodeEntry, merchant: Merchant, lock: bool = False) -> Found:
    """Resolve typed or scanned input to a card code, without judging it yet. `lock`: the code is locked for
    the caller's transaction (lock_objects.code_locked), as redeem needs it.

    The code comes with `.sku`, `.settlement_price` (this merchant's) and `.reminded` (selectors.codes_for_merchant)."""

    def fetch(**lookup) -> CardCode | None:
        if lock:
            return lock_objects.code_locked(merchant_id=merchant.pk, **lookup)
        return selectors.code_of_merchant(merchant_id=merchant.pk, **lookup)

    text = entry.text
    if tokens.is_qr_token(text):
        try:
            claim = tokens.qr_claim(text)
            expired = False
        except tokens.QrTokenExpired:
            claim, expired = tokens.qr_claim(text, max_age=10**10), True
        if claim is None:
            return Found(refusal=rules.Refusal(RefusalReason.BAD_TOKEN), via_qr=True)
        code = fetch(code_id=claim.code_id)
        # The holding is checked after the code row is locked: a gift (which locks the code) cannot slip between.
        if code is None or not CodeHolding.objects.filter(pk=claim.holding_id, code_id=claim.code_id, active=True).exists():
            return Found(refusal=rules.Refusal(RefusalReason.BAD_TOKEN), via_qr=True)
        if expired:
            return Found(code=code, refusal=rules.Refusal(RefusalReason.TOKEN_EXPIRED), via_qr=True)
        return Found(code=code, via_qr=True)

    normalized = vault.normalize(text)
    if not (MIN_CODE_LENGTH <= len(normalized) <= MAX_CODE_LENGTH) or not normalized.isprintable():
        return Found(refusal=rules.Refusal(RefusalReason.MALFORMED))
    code = fetch(blind_index=vault.blind_index_of(normalized))
    if code is None:
        canonical = codegen.canonical(normalized)  # a generated code typed with I/L/O for 1/0
        if canonical != normalized:
            code = fetch(blind_index=vault.blind_index_of(canonical))
    if code is None:
        looks_generated = len(codegen.canonical(normalized)) == codegen.RANDOM_SYMBOLS + 1
        reason = RefusalReason.MALFORMED if looks_generated and not codegen.is_valid(normalized) else RefusalReason.UNKNOWN_CODE
        return Found(refusal=rules.Refusal(reason))
    if entry.serial and entry.serial.strip() != code.serial:
        return Found(refusal=rules.Refusal(RefusalReason.SERIAL_MISMATCH))
    return Found(code=code)


def _redeemed_where(code: CardCode) -> tuple[str, datetime] | None:
    last = (
        Redemption.objects.filter(code=code, status=Redemption.Status.COMPLETED).select_related("store__merchant").order_by("-id").first()
    )
    return (str(last.store), last.created_at) if last else None


def _judge(*, found: Found, caller: Caller, now, amount=None, spend=None, check_amount=True) -> tuple[rules.Refusal | None, Decimal | None]:
    """(refusal or None, balance for stored value). A QR expiry is told only to the code's own merchant."""
    code = found.code
    if code is None:
        return found.refusal, None
    sku = code.sku
    if not rules.merchant_accepts(sku=sku, merchant=caller.merchant, store=caller.store):
        return rules.Refusal(RefusalReason.OTHER_MERCHANT), None
    if found.refusal:
        return found.refusal, None
    balance = selectors.code_balance(code) if sku.is_stored_value and code.status == CardCode.Status.SOLD else None
    redeemed_where = _redeemed_where(code) if code.status == CardCode.Status.REDEEMED else None
    refusal = rules.code_refusal(
        code=code,
        sku=sku,
        merchant=caller.merchant,
        store=caller.store,
        now=now,
        balance=balance,
        amount=amount,
        spend=spend,
        redeemed_where=redeemed_where,
        check_amount=check_amount,
    )
    return refusal, balance


def _attempt(*, kind: str, caller: Caller, refusal=None, code=None, redemption=None, via_qr=False, now=None) -> RedemptionAttempt:
    attempt = _attempt_row(kind=kind, caller=caller, refusal=refusal, code=code, redemption=redemption, via_qr=via_qr, now=now)
    attempt.save(force_insert=True)
    return attempt


def _attempt_row(*, kind: str, caller: Caller, refusal=None, code=None, redemption=None, via_qr=False, now=None) -> RedemptionAttempt:
    """An attempt's row, not written yet."""
    return RedemptionAttempt(
        created_at=now or timezone.now(),
        kind=kind,
        outcome=RedemptionAttempt.Outcome.REFUSED if refusal else RedemptionAttempt.Outcome.OK,
        reason=refusal.reason if refusal else "",
        channel=caller.channel,
        merchant=caller.merchant,
        store=caller.store,
        terminal=caller.terminal,
        clerk=caller.clerk,
        ip=caller.ip,
        # A code the caller may not see is not linked either: the attempt row names only what it resolved to.
        code=code,
        redemption=redemption,
        via_qr=via_qr,
    )


def _lockout_or_raise(*, caller: Caller, kind: str) -> None:
    """Refuse a locked-out terminal, address or store before any lookup (the refusal is recorded too)."""
    try:
        integrations.lockout_check(terminal=caller.source, ip=caller.ip, store=caller.store)
    except integrations.LockedOut:
        _attempt(kind=kind, caller=caller, refusal=rules.Refusal(RefusalReason.LOCKED_OUT))
        raise


def _risk_screen(*, caller: Caller, key: str, amount: Decimal | None) -> None:
    """Risk control's rules for redemptions (RiskBlocked, 403, when one blocks): the address, the terminal (as
    the device), the clerk (as the account), the merchant and store for a reviewer."""
    integrations.redeem_screen(
        reference=f"{caller.scope}:{key}",
        ip=caller.ip,
        device=caller.terminal.key_id if caller.terminal else "",
        account_id=caller.clerk.pk if caller.clerk else None,
        amount=amount or ZERO,
        extra={"merchant": caller.merchant.code, "store": caller.store.code, "channel": caller.channel},
    )


def _risk_feedback(*, caller: Caller, refusal: rules.Refusal | None) -> None:
    """Probing refusals (unknown, foreign, malformed, bad token) count towards the brute-force lockout."""
    if refusal is None:
        integrations.success_record(terminal=caller.source, ip=caller.ip, store=caller.store)
    elif refusal.is_probe:
        integrations.failure_record(terminal=caller.source, ip=caller.ip, store=caller.store)


def refusal_body(refusal: rules.Refusal) -> dict:
    from voucherhub.core.api import error_body

    return error_body(refusal.public_reason, refusal.message)


# --- Verify ------------------------------------------------------------------------------------------------


@dataclass
class Verification:
    valid: bool
    refusal: rules.Refusal | None
    code: CardCode | None  # None whenever the caller may not learn about the code
    balance: Decimal | None = None
    redeemed_where: tuple[str, datetime] | None = None

    @property
    def reason(self) -> str:
        return self.refusal.public_reason if self.refusal else ""

    @property
    def message(self) -> str:
        return self.refusal.message if self.refusal else ""


def redemption_verify(
    *, caller: Caller, entry: CodeEntry, amount: Decimal | None = None, spend: Decimal | None = None, now=None
) -> Verification:
    """Read-only: would this code be accepted here and now? Records the attempt; changes nothing else."""
    _lockout_or_raise(caller=caller, kind=RedemptionAttempt.Kind.VERIFY)
    now = now or timezone.now()
    found = code_find(entry=entry, merchant=caller.merchant)
    refusal, balance = _judge(found=found, caller=caller, now=now, amount=amount, spend=spend, check_amount=amount is not None)
    visible = found.code is not None and not (refusal and refusal.public_reason == RefusalReason.NOT_VALID_HERE)
    code = found.code if visible else None
    _attempt(kind=RedemptionAttempt.Kind.VERIFY, caller=caller, refusal=refusal, code=code, via_qr=found.via_qr, now=now)
    _risk_feedback(caller=caller, refusal=refusal)
    if code is not None and balance is None and code.sku.is_stored_value:
        balance = ZERO if code.status == CardCode.Status.REDEEMED else selectors.code_balance(code)
    return Verification(
        valid=refusal is None,
        refusal=refusal,
        code=code,
        balance=balance,
        redeemed_where=_redeemed_where(code) if code is not None and code.status == CardCode.Status.REDEEMED else None,
    )


# --- Idempotency: voucherhub.core.idempotency, one record per (caller, key) ------------------------------


def _fingerprint(action: str, data: dict) -> str:
    """The keyed HMAC of a redeem's or reverse's canonical request (core's one scheme). The action is part of
    it: redeem and reverse share a caller's keys, and one key names one request."""
    return request_fingerprint(scope=f"redemption.{action}", body=json.dumps(data, cls=DjangoJSONEncoder).encode())


def _legacy_fingerprint(action: str, data: dict) -> str:
    """How redemption hashed a request before its records moved to core (migration 0002 copied them with
    this hash and `fingerprint_legacy` set): core asks for it only when it meets such a record, so a retry of
    a request answered before the move still gets its first answer. Those records age out after
    REDEMPTION_IDEMPOTENCY_DAYS (tasks.idempotency_records_prune); then this function can go."""
    canonical = json.dumps({"action": action, **data}, sort_keys=True, default=str, ensure_ascii=False)
    return salted_hmac("redemption.idempotency", canonical, algorithm="sha256").hexdigest()


def _answered(*, caller: Caller, key: str, action: str, data: dict, work: Callable[[], Outcome]) -> Outcome:
    """Run `work()` once per (caller, key) in one transaction with its answer kept (core's idempotent_answer);
    a replay gets the first answer, another request under the key IdempotencyConflict (409)."""
    ran: list[Outcome] = []

    def run() -> tuple[int, dict, int | None]:
        outcome = work()
        ran.append(outcome)
        return outcome.status_code, outcome.body, outcome.redemption.pk if outcome.redemption else None

    answer = idempotent_answer(
        scope=f"redemption:{caller.scope}",
        key=key,
        fingerprint=_fingerprint(action, data),
        work=run,
        legacy_fingerprint=lambda: _legacy_fingerprint(action, data),
    )
    if not answer.replayed:
        return ran[0]
    redemption = None
    if answer.reference_id is not None:
        redemption = Redemption.objects.select_related("code", "sku", "store__merchant", "terminal").filter(pk=answer.reference_id).first()
    return Outcome(status_code=answer.status_code, body=answer.body, redemption=redemption, replayed=True)


# --- Redeem ------------------------------------------------------------------------------------------------


def amount_owed(*, sku: Sku, amount: Decimal, settlement_price: Decimal | None) -> Decimal:
    """What the platform owes the merchant: its settlement price (pro rata for a part of a balance), else the value used."""
    if settlement_price is None:
        return money(amount)
    if sku.is_stored_value:
        return money(settlement_price * amount / sku.face_value) if sku.face_value else ZERO
    return money(settlement_price)


def redemption_payload(redemption: Redemption) -> dict:
    """The JSON shape of a redemption (the API's output and the idempotency answer)."""

    def dec(value):
        return None if value is None else str(value)

    store = redemption.store
    code = redemption.code
    return {
        "id": redemption.pk,
        "status": redemption.status,
        "code": {"hint": code.hint, "serial": code.serial},
        "sku": {"code": redemption.sku.code, "name": redemption.sku.name},
        "merchant": {"id": redemption.merchant_id, "name": store.merchant.name},
        "store": {"id": store.pk, "code": store.code, "name": store.name},
        "terminal": redemption.terminal.key_id if redemption.terminal_id else None,
        "channel": redemption.channel,
        "amount": dec(redemption.amount),
        "spend": dec(redemption.spend),
        "balance_after": dec(redemption.balance_after),
        "amount_owed": dec(redemption.amount_owed),
        "currency": redemption.sku.currency,
        "reference": redemption.reference,
        "redeemed_at": redemption.created_at.isoformat(),
        "reversed_at": redemption.reversed_at.isoformat() if redemption.reversed_at else None,
    }


def redemption_redeem(
    *,
    caller: Caller,
    entry: CodeEntry,
    idempotency_key: str,
    amount: Decimal | None = None,
    spend: Decimal | None = None,
    reference: str = "",
) -> Outcome:
    """Use a code at the caller's store: single-use codes whole, stored-value codes by `amount` of their balance.

    A refusal by the code's rules is an answer (4xx, kept under the key like a success); a lockout, a risk
    block or a bad key raise and keep nothing."""
    key = idempotency_key_checked(idempotency_key)
    # A scanner aimed at the wrong field puts the code into the receipt number. Short references cost nothing here.
    text_code_guard(text=reference, field="reference")
    amount = money(amount) if amount is not None else None
    spend = money(spend) if spend is not None else None
    _lockout_or_raise(caller=caller, kind=RedemptionAttempt.Kind.REDEEM)
    _risk_screen(caller=caller, key=key, amount=amount)
    request = {"store": caller.store.pk, "code": entry.code, "serial": entry.serial, "qr": entry.qr_token}
    request |= {"amount": amount, "spend": spend, "ref": reference}

    def work() -> Outcome:
        checked = redemption_check(caller=caller, entry=entry, amount=amount, spend=spend)
        if checked.refusal:
            return _refused(caller=caller, checked=checked)
        return redemption_do(caller=caller, checked=checked, amount=amount, spend=spend, reference=reference)

    outcome = _answered(caller=caller, key=key, action="redeem", data=request, work=work)
    if not outcome.replayed:
        _risk_feedback(caller=caller, refusal=outcome.refusal)
    return outcome


@dataclass
class Checked:
    """A code found (locked) and judged for a redemption at the caller's store, at `now`."""

    found: Found
    refusal: rules.Refusal | None
    balance: Decimal | None
    now: datetime

    @property
    def code(self) -> CardCode | None:
        return self.found.code


def redemption_check(*, caller: Caller, entry: CodeEntry, amount: Decimal | None, spend: Decimal | None) -> Checked:
    """Find the code with its row locked for the caller's transaction and judge it: redemption_do may write
    only while that lock is held. Two terminals on one code queue on the lock; the second one reads the code
    as the first left it (used up: refused with where and when)."""
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("redemption_check locks the code: call it in a transaction")
    now = timezone.now()
    found = code_find(entry=entry, merchant=caller.merchant, lock=True)
    refusal, balance = _judge(found=found, caller=caller, now=now, amount=amount, spend=spend)
    return Checked(found=found, refusal=refusal, balance=balance, now=now)


def _refused(*, caller: Caller, checked: Checked) -> Outcome:
    refusal = checked.refusal
    visible = refusal.public_reason != RefusalReason.NOT_VALID_HERE
    code = checked.code if visible else None
    _attempt(kind=RedemptionAttempt.Kind.REDEEM, caller=caller, refusal=refusal, code=code, via_qr=checked.found.via_qr, now=checked.now)
    return Outcome(status_code=refusal.status, body=refusal_body(refusal), refusal=refusal)


def redemption_do(*, caller: Caller, checked: Checked, amount: Decimal | None, spend: Decimal | None, reference: str) -> Outcome:
    """Write the redemption of a code that redemption_check locked and accepted, in the same transaction: the
    balance taken (stored value), the code moved to `redeemed` through catalog when used up, the redemption
    and its attempt row."""
    code, now = checked.code, checked.now
    sku = code.sku
    used = amount if sku.is_stored_value else sku.face_value
    balance_after = _balance_take(code=code, amount=used, now=now) if sku.is_stored_value else None
    if balance_after is None or balance_after == ZERO:
        where = f"{caller.merchant.code}/{caller.store.code}"
        integrations.code_status_set(
            code=code, to_status=CardCode.Status.REDEEMED, actor=caller.actor, reference="redemption", reason=where
        )
    redemption = Redemption(
        code=code,
        sku=sku,
        merchant=caller.merchant,
        store=caller.store,
        terminal=caller.terminal,
        clerk=caller.clerk,
        channel=caller.channel,
        amount=used,
        spend=spend,
        balance_after=balance_after,
        amount_owed=amount_owed(sku=sku, amount=used, settlement_price=code.settlement_price),
        reference=(reference or "")[:64],
        after_reminder=bool(code.reminded),
        created_at=now,
    )
    attempt = _attempt_row(
        kind=RedemptionAttempt.Kind.REDEEM, caller=caller, code=code, redemption=redemption, via_qr=checked.found.via_qr, now=now
    )
    writes.redemption_with_attempt_insert(redemption=redemption, attempt=attempt)
    return Outcome(status_code=201, body=redemption_payload(redemption), redemption=redemption)


def _balance_take(*, code: CardCode, amount: Decimal, now) -> Decimal:
    """Take `amount` off a stored-value code's balance (its face value until first used); the new balance.
    The caller holds the code's lock (lock_objects), so the balance read here is the one written."""
    balance = CodeBalance.objects.filter(code_id=code.pk).first()
    if balance is None:
        balance = CodeBalance(code_id=code.pk, initial=code.sku.face_value, remaining=code.sku.face_value)
    balance.remaining = money(balance.remaining - amount)
    balance.updated_at = now
    balance.save()
    return balance.remaining


# --- Reverse -------------------------------------------------------------------------------------------------


def reversal_window(merchant: Merchant) -> timedelta:
    hours = merchant.reversal_window_hours if merchant.reversal_window_hours is not None else conf.reversal_window_hours()
    return timedelta(hours=hours)


def redemption_reverse(*, caller: Caller, redemption_id: int, idempotency_key: str, reason: str = "") -> Outcome:
    """Undo a redemption of the caller's own merchant within its window; reversing twice changes nothing."""
    key = idempotency_key_checked(idempotency_key)
    text_code_guard(text=reason, field="reason")  # a clerk typing the code into the reason would store it
    target = Redemption.objects.filter(pk=redemption_id).only("pk", "merchant_id", "store_id", "code_id").first()
    if target is None or not caller.may_see(target):
        raise NotFound(_("No such redemption."))

    def work() -> Outcome:
        return reverse_do(caller=caller, redemption=reverse_check(redemption=target), reason=reason)

    return _answered(caller=caller, key=key, action="reverse", data={"redemption": target.pk, "reason": reason or ""}, work=work)


def reverse_check(*, redemption: Redemption) -> Redemption:
    """Lock the code of `redemption`, then the redemption (lock_objects' order, as redeem), for reverse_do;
    returns the locked redemption with its locked code."""
    code = lock_objects.code_locked(merchant_id=redemption.merchant_id, code_id=redemption.code_id)
    locked = lock_objects.redemption_locked(redemption_id=redemption.pk)
    locked.code = code
    return locked


def reverse_do(*, caller: Caller, redemption: Redemption, reason: str) -> Outcome:
    """Reverse `redemption`, which reverse_check locked with its code in the caller's transaction."""
    now = timezone.now()
    code = redemption.code
    if redemption.status == Redemption.Status.REVERSED:
        return Outcome(status_code=200, body=redemption_payload(redemption), redemption=redemption)
    window = reversal_window(redemption.store.merchant)  # read now, not from a cached caller
    if now - redemption.created_at > window:
        refusal = rules.Refusal(RefusalReason.REVERSAL_WINDOW_CLOSED, {"hours": int(window.total_seconds() // 3600)})
        _attempt(kind=RedemptionAttempt.Kind.REVERSE, caller=caller, refusal=refusal, code=code, redemption=redemption, now=now)
        return Outcome(status_code=refusal.status, body=refusal_body(refusal), refusal=refusal)

    if code.sku.is_stored_value:
        CodeBalance.objects.filter(code_id=code.pk).update(remaining=F("remaining") + redemption.amount, updated_at=now)
    if code.status == CardCode.Status.REDEEMED:
        integrations.code_status_set(
            code=code, to_status=CardCode.Status.SOLD, actor=caller.actor, reference="reversal", reason=f"redemption #{redemption.pk}"
        )
    redemption.status = Redemption.Status.REVERSED
    redemption.reversed_at = now
    redemption.reversed_by_terminal = caller.terminal
    redemption.reversed_by = caller.clerk
    redemption.reverse_reason = (reason or "")[:200]
    redemption.save(update_fields=["status", "reversed_at", "reversed_by_terminal", "reversed_by", "reverse_reason"])
    _attempt(kind=RedemptionAttempt.Kind.REVERSE, caller=caller, code=code, redemption=redemption, now=now)
    audit_record(
        actor=caller.actor,
        action="redemption.reverse",
        obj=redemption,
        ip=caller.ip,
        reason=reason or "",
        data={"terminal": caller.terminal.key_id if caller.terminal else None, "amount": str(redemption.amount)},
    )
    return Outcome(status_code=200, body=redemption_payload(redemption), redemption=redemption)
