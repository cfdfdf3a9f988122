"""Code protection: redemption brute force lockouts, reveal limits and the second verification.

Redemption calls, around every code verification:

    lockout_check(terminal=t, ip=ip, store=s)      # raises LockedOut (429, retry_after seconds)
    ... verify ...
    failure_record(terminal=t, ip=ip, store=s)     # on a wrong or unknown code
    success_record(terminal=t, ip=ip, store=s)     # on success: the terminal's and IP's counts restart

Thresholds and periods live in RiskSettings (admin: risk settings), read through the rule snapshot.

A caller that reads the cache anyway before the check (the signed API spends its nonce there) can read the
lockout keys in the same round trip: `lockout_keys(...)` names them and `lockout_check(..., read=snapshot.get_many)`
takes their values from that read instead of asking the cache again.
"""

import math

from django.core.cache import cache

from riskcontrol import counters, engine
from riskcontrol.db import insert_quickly
from riskcontrol.decision import Reason
from riskcontrol.errors import LockedOut, RevealLimitExceeded
from riskcontrol.models import Action, Outcome, RiskAlert, RiskEvent, VerificationFailure

SOURCE_KINDS = ("terminal", "ip", "store")


def _sources(terminal, ip, store) -> list[tuple[str, str]]:
    pairs = [("terminal", terminal), ("ip", ip), ("store", store)]
    return [(kind, str(value).strip()) for kind, value in pairs if value not in (None, "") and str(value).strip()]


def _lock_key(kind: str, value: str) -> str:
    return f"risk:lock:{kind}:{counters.digest(value)}"


def _failure_hit(kind: str, value: str, window: int) -> counters.Hit:
    return counters.Hit(base=f"bf:{kind}:{counters.digest(value)}", window=window, amount=1)


def _check_locks(pairs: list[tuple[str, str]], read=None) -> None:
    if not pairs:
        return
    keys = [_lock_key(kind, value) for kind, value in pairs]
    found = (read or cache.get_many)(keys)
    now = counters.clock()
    remaining = max((float(until) - now for until in found.values() if until), default=0)
    if remaining > 0:
        raise LockedOut(retry_after=math.ceil(remaining))


def lockout_keys(*, terminal=None, ip=None, store=None) -> list[str]:
    """The cache keys lockout_check(terminal=, ip=, store=) reads."""
    return [_lock_key(kind, value) for kind, value in _sources(terminal, ip, store)]


def lockout_check(*, terminal=None, ip=None, store=None, read=None) -> None:
    """Raise LockedOut when any of the given sources is locked out (retry_after: seconds left).

    `read(keys) -> {key: value}` reads the lockout keys (default: cache.get_many), for a caller that read them
    already in another round trip (see the module's docstring)."""
    _check_locks(_sources(terminal, ip, store), read=read)


def failure_record(*, terminal=None, ip=None, store=None) -> list[str]:
    """Count a failed verification. Sources past their threshold are locked out and an alert is raised.

    Returns the kinds of source ("terminal", "ip", "store") this failure locked out.
    """
    from riskcontrol.alerts import alert_raise

    pairs = _sources(terminal, ip, store)
    config = engine.rules_snapshot().settings
    source_ip = dict(pairs).get("ip")
    insert_quickly(VerificationFailure(terminal=str(terminal or "")[:64], ip=_valid_ip(source_ip), store=str(store or "")[:64]))
    if not pairs:
        return []
    window = max(60, config.bf_window_minutes * 60)
    thresholds = {"terminal": config.bf_terminal_failures, "ip": config.bf_ip_failures, "store": config.bf_store_failures}
    period = max(60, config.bf_lockout_minutes * 60)
    hits = [_failure_hit(kind, value, window) for kind, value in pairs]
    results = counters.hit_many(hits)
    now = counters.clock()
    locked = []
    for (kind, value), hit, result in zip(pairs, hits, results, strict=True):
        threshold = thresholds[kind]
        if not threshold or result.estimate < threshold:
            continue
        cache.set(_lock_key(kind, value), now + period, timeout=period)
        counters.reset(hit)  # after the lockout the source starts a fresh count
        locked.append(kind)
        alert_raise(
            kind=RiskAlert.Kind.LOCKOUT,
            severity=RiskAlert.Severity.CRITICAL,
            source=f"{kind}:{value}"[:120],
            params={"source_kind": kind, "source_value": value, "failures": threshold, "period": period},
            cooldown_minutes=max(1, period // 60),
        )
    return locked


def success_record(*, terminal=None, ip=None, store=None) -> None:
    """A verification succeeded: the terminal's and the IP's failure counts start over (the store's do not)."""
    config = engine.rules_snapshot().settings
    window = max(60, config.bf_window_minutes * 60)
    for kind, value in _sources(terminal, ip, None):
        counters.reset(_failure_hit(kind, value, window))


def lockout_clear(*, terminal=None, ip=None, store=None) -> None:
    """Lift a lockout early (ops)."""
    cache.delete_many([_lock_key(kind, value) for kind, value in _sources(terminal, ip, store)])


def _valid_ip(value):
    import ipaddress

    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


# --- reveal control ---------------------------------------------------------------------------------


def reveal_guard(*, actor, count: int, ip=None) -> None:
    """Refuse a reveal of `count` codes that a risk rule for reveals blocks (RiskBlocked, 403) or that would
    take `actor` past the hourly reveal limit (RevealLimitExceeded, 429).

    Registered in catalog.services.REVEAL_GUARDS (when catalog offers it); catalog calls every
    guard before it decrypts anything. The allowance is reserved by this call.
    """
    from riskcontrol.alerts import alert_raise
    from riskcontrol.services import reveal_screen

    count = int(count or 0)
    if count <= 0:
        return
    reveal_screen(actor=actor, count=count, ip=ip)  # the rules ops scope to reveals: RiskBlocked (403) on block
    limit = engine.rules_snapshot().settings.reveal_limit_per_hour
    user_key = getattr(actor, "pk", None) or "anonymous"
    [result] = counters.hit_many([counters.Hit(base=f"reveal:{user_key}", window=3600, amount=count)])
    if result.estimate <= limit:
        return
    counters.release([(result.key, result.amount)])
    username = actor.get_username() if getattr(actor, "is_authenticated", False) else "anonymous"
    RiskEvent.objects.create(
        action=Action.REVEAL,
        outcome=Outcome.BLOCK,
        reasons=[Reason(code="reveal_limit", params={"limit": limit}, action=Outcome.BLOCK).to_json()],
        quantity=count,
        ip=_valid_ip(ip),
        account_id=str(user_key)[:64],
        extra={"user": username},
    )
    alert_raise(kind=RiskAlert.Kind.REVEAL_LIMIT, source=f"user:{user_key}", params={"user": username, "limit": limit})
    raise RevealLimitExceeded(limit=limit, retry_after=3600)


def register_reveal_guard() -> bool:
    """Add reveal_guard to catalog.services.REVEAL_GUARDS when catalog has that registry. Idempotent."""
    try:
        from catalog import services as catalog_services
    except ImportError:  # pragma: no cover - catalog is always installed
        return False
    guards = getattr(catalog_services, "REVEAL_GUARDS", None)
    if guards is None:
        return False
    if reveal_guard not in guards:
        guards.append(reveal_guard)
    return True


# --- second verification --------------------------------------------------------------------------


def user_has_totp(user) -> bool:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return bool(getattr(user, "pk", None)) and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def second_factor_verify(*, user, password: str | None = None, otp_token: str | None = None) -> bool:
    """Check the second verification for a bulk reveal or a code download.

    A user with a confirmed TOTP device must give a current TOTP code; any other user gives the
    password again. Repeated failures lock the user's second verification (LockedOut).
    """
    from django_otp import match_token

    from voucherhub.core.audit import audit_record

    if not getattr(user, "is_authenticated", False):
        return False
    key = f"2fa:user:{user.pk}"
    _check_locks([("2fa", key)])
    if user_has_totp(user):
        ok = bool(otp_token) and match_token(user, str(otp_token).strip()) is not None
        method = "totp"
    else:
        ok = bool(password) and user.check_password(password)
        method = "password"
    config = engine.rules_snapshot().settings
    hit = counters.Hit(base=f"bf:{key}", window=900, amount=1)
    if ok:
        counters.reset(hit)
    else:
        [result] = counters.hit_many([hit])
        if config.second_factor_failures and result.estimate >= config.second_factor_failures:
            period = max(60, config.bf_lockout_minutes * 60)
            cache.set(_lock_key("2fa", key), counters.clock() + period, timeout=period)
            counters.reset(hit)
    audit_record(actor=user, action="auth.second_factor.ok" if ok else "auth.second_factor.failed", data={"method": method})
    return ok


def reveal_second_factor(*, user, secret: str) -> bool:
    """The catalog's bulk-reveal check: a TOTP code for users with an authenticator, else the password."""
    return second_factor_verify(user=user, password=secret, otp_token=secret)


def register_second_factor() -> None:
    """Hand reveal_second_factor to the catalog, which checks only the password without it."""
    from catalog.services import second_factor_register

    second_factor_register(reveal_second_factor)
