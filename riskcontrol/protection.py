"""Code protection: redemption brute force lockouts, reveal limits and the second verification.

Redemption calls, around every code verification:

    lockout_check(terminal=t, ip=ip, store=s)      # raises LockedOut (429, retry_after seconds)
    ... verify ...
    failure_record(terminal=t, ip=ip, store=s)     # on a wrong or unknown code
    success_record(terminal=t, ip=ip, store=s)     # on success: nothing is forgotten (failures decay with the window)

Thresholds and periods live in RiskSettings (admin: risk settings), read through the rule snapshot.

Where the state lives. PostgreSQL is the record: every failed verification is a VerificationFailure row
(written only on failures), every lockout a SourceLock row. The cache (Redis) is the fast path: the check on
every request reads the lockout keys there, with one more key, LOADED, that says the cache holds every
lockout. A Redis restart or flush loses that key with the others, and the next check reloads the lockouts
that are still running from PostgreSQL (one query) before it answers; the key also expires every minute. A failure counts its sources'
failures of the window in PostgreSQL, so a flush loses no failure either.
"""

import math
from datetime import UTC, datetime

from django.core.cache import cache
from django.db.models import Count, Max

from riskcontrol import counters, engine
from riskcontrol.db import insert_quickly
from riskcontrol.decision import Reason
from riskcontrol.errors import LockedOut, RevealLimitExceeded
from riskcontrol.models import Action, FailedCheck, Outcome, RiskAlert, RiskEvent, SourceLock, VerificationFailure

SOURCE_KINDS = ("terminal", "ip", "store")
# Sources shared by several terminals: locked only on failures from two terminals or more (see failure_record).
SHARED_KINDS = ("ip", "store")
# Present while the cache holds every running lockout; lost with them on a Redis restart or flush. It also
# expires after LOADED_SECONDS, so a cache that came back from an old snapshot, or a process-local cache,
# holds every lockout again within that time (one query a minute).
LOADED = "risk:lock:loaded"
LOADED_SECONDS = 60


def _sources(terminal, ip, store) -> list[tuple[str, str]]:
    pairs = [("terminal", terminal), ("ip", ip), ("store", store)]
    return [(kind, str(value).strip()) for kind, value in pairs if value not in (None, "") and str(value).strip()]


def _lock_key(kind: str, value: str) -> str:
    return f"risk:lock:{kind}:{counters.digest(value)}"


def _at(timestamp: float) -> datetime:
    """The risk clock's time (counters.clock) as a datetime, for the rows the lockouts count."""
    return datetime.fromtimestamp(timestamp, tz=UTC)


def locks_reload(*, now: float | None = None) -> dict[str, float]:
    """Copy every running lockout from the database into the cache and mark the cache loaded.

    Returns {cache key: locked until (timestamp)}. The mark goes first: a flush in between loses it again,
    so the next check reloads (a mark written last could survive a flush that took the lockouts)."""
    now = counters.clock() if now is None else now
    locks = {
        _lock_key(kind, source): until.timestamp()
        for kind, source, until in SourceLock.objects.filter(until__gt=_at(now)).values_list("kind", "source", "until")
    }
    cache.set(LOADED, 1, timeout=LOADED_SECONDS)
    if locks:
        cache.set_many(locks, timeout=max(1, math.ceil(max(locks.values()) - now)))
    return locks


def _lock_set(kind: str, value: str, *, now: float, period: int) -> None:
    """Lock one source out for `period` seconds: the database row first (the record), then the cache."""
    until = now + period
    SourceLock.objects.bulk_create(
        [SourceLock(kind=kind, source=value[:120], locked_at=_at(now), until=_at(until))],
        update_conflicts=True,
        unique_fields=["kind", "source"],
        update_fields=["locked_at", "until"],
    )
    cache.set(_lock_key(kind, value), until, timeout=period)


def _check_locks(pairs: list[tuple[str, str]]) -> None:
    if not pairs:
        return
    keys = [_lock_key(kind, value) for kind, value in pairs]
    found = cache.get_many([*keys, LOADED])
    now = counters.clock()
    if not found.get(LOADED):  # the cache lost its lockouts (restart, flush): reload them from the database
        reloaded = locks_reload(now=now)
        found = {key: reloaded[key] for key in keys if key in reloaded}
    remaining = max((float(until) - now for key, until in found.items() if key != LOADED and until), default=0)
    if remaining > 0:
        raise LockedOut(retry_after=math.ceil(remaining))


def lockout_check(*, terminal=None, ip=None, store=None) -> None:
    """Raise LockedOut when any of the given sources is locked out (retry_after: seconds left)."""
    _check_locks(_sources(terminal, ip, store))


def _stored(kind: str, value: str) -> str | None:
    """A source as VerificationFailure stores it (None: not stored, so not counted)."""
    return _valid_ip(value) if kind == "ip" else value[:64]


def _counts_since(pairs: list[tuple[str, str]], *, window_start: datetime) -> dict[str, datetime]:
    """Per source kind, the time its failures count from: the window's start, or its last lockout when later
    (a source starts a fresh count after a lockout)."""
    since = dict.fromkeys((kind for kind, _value in pairs), window_start)
    last = (
        SourceLock.objects.filter(kind__in=[kind for kind, _value in pairs], source__in=[value[:120] for _kind, value in pairs])
        .values("kind", "source")
        .annotate(last=Max("locked_at"))
    )
    wanted = {(kind, value[:120]) for kind, value in pairs}
    for row in last:
        if (row["kind"], row["source"]) in wanted and row["last"] > since[row["kind"]]:
            since[row["kind"]] = row["last"]
    return since


def _failures_by_terminal(kind: str, value: str, since: datetime) -> dict[str, int]:
    """{terminal: failures} of one source since `since`, from the database."""
    rows = (
        VerificationFailure.objects.filter(**{kind: value, "created_at__gt": since})
        .values_list("terminal")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def _weight(by_terminal: dict[str, int], *, cap: int) -> int:
    """A shared source's failures, each terminal counting at most `cap` (its own threshold; 0: no cap)."""
    return sum(min(n, cap) if cap else n for n in by_terminal.values())


def failure_record(*, terminal=None, ip=None, store=None) -> list[str]:
    """Count a failed verification. Sources past their threshold are locked out and an alert is raised.

    A terminal is locked after its threshold of failures within the window. An address or a store is shared
    by terminals, so one terminal must not lock it for everyone: it is locked only when failures from at
    least two terminals reach its threshold, each terminal counting at most the terminal threshold; its
    alert names the terminals and their failures. Returns the kinds of source this failure locked out.
    """
    pairs = _sources(terminal, ip, store)
    config = engine.rules_snapshot().settings
    now = counters.clock()
    stored = {kind: _stored(kind, value) for kind, value in pairs}
    insert_quickly(
        VerificationFailure(created_at=_at(now), terminal=str(terminal or "")[:64], ip=stored.get("ip"), store=str(store or "")[:64])
    )
    pairs = [(kind, value) for kind, value in pairs if stored[kind]]
    if not pairs:
        return []
    window = max(60, config.bf_window_minutes * 60)
    thresholds = {"terminal": config.bf_terminal_failures, "ip": config.bf_ip_failures, "store": config.bf_store_failures}
    period = max(60, config.bf_lockout_minutes * 60)
    since = _counts_since(pairs, window_start=_at(now - window))
    locked = []
    for kind, value in pairs:
        threshold = thresholds[kind]
        if not threshold:
            continue
        by_terminal = _failures_by_terminal(kind, stored[kind], since[kind])
        if kind in SHARED_KINDS:
            failures = _weight(by_terminal, cap=config.bf_terminal_failures)
            if len(by_terminal) < 2:
                continue
        else:
            failures = sum(by_terminal.values())
        if failures < threshold:
            continue
        _lock_set(kind, value, now=now, period=period)
        locked.append(kind)
        _lockout_alert(kind, value, threshold=threshold, period=period, by_terminal=by_terminal if kind in SHARED_KINDS else None)
    return locked


def _lockout_alert(kind: str, value: str, *, threshold: int, period: int, by_terminal: dict[str, int] | None) -> None:
    from riskcontrol.alerts import alert_raise

    params = {"source_kind": kind, "source_value": value, "failures": threshold, "period": period}
    if by_terminal:
        worst = sorted(by_terminal.items(), key=lambda item: (-item[1], item[0]))[:10]
        params["terminals"] = [[name or "-", n] for name, n in worst]
    alert_raise(
        kind=RiskAlert.Kind.LOCKOUT,
        severity=RiskAlert.Severity.CRITICAL,
        source=f"{kind}:{value}"[:120],
        params=params,
        cooldown_minutes=max(1, period // 60),
    )


def success_record(*, terminal=None, ip=None, store=None) -> None:
    """A verification succeeded. Nothing is forgotten: failures leave the count only as the window passes.

    (A success used to restart the terminal's and the address's counts, so one known-good code after every
    few wrong ones gave an attacker endless guesses.) Kept so callers need not change; it costs nothing."""


def lockout_clear(*, terminal=None, ip=None, store=None) -> None:
    """Lift a lockout early (ops)."""
    pairs = _sources(terminal, ip, store)
    for kind, value in pairs:
        SourceLock.objects.filter(kind=kind, source=value[:120]).update(until=_at(counters.clock()))
    cache.delete_many([_lock_key(kind, value) for kind, value in pairs])


def lockouts_lift(*, locks, actor=None) -> int:
    """Lift lockouts early (ops, from the admin): each row ends now, its cache copy goes, the lift is audited."""
    from voucherhub.core.audit import audit_record

    locks = list(locks)
    now = _at(counters.clock())
    for lock in locks:
        SourceLock.objects.filter(pk=lock.pk, until__gt=now).update(until=now)
        audit_record(actor=actor, action="risk.lockout.lift", obj=lock, data={"kind": lock.kind, "source": lock.source})
    cache.delete_many([_lock_key(lock.kind, lock.source) for lock in locks])
    return len(locks)


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

    Registered in catalog.services.REVEAL_GUARDS (register_reveal_guard); catalog calls every
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
    hit = counters.Hit(base=f"reveal:{user_key}", window=3600, amount=count)
    if user_key != "anonymous":
        counters.rebuild_if_missing(hit, count_between=lambda start, end: _reveals_between(actor, start, end))
    [result] = counters.hit_many([hit])
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


def _reveals_between(actor, start: float, end: float) -> int:
    """Codes `actor` revealed in [start, end), from the audit log: one row per code, `codes.reveal` from the vault
    (ops) and `code.reveal` from an order (the portal, the API). A user's rows carry its id; a principal that is
    no user (an API caller) names itself in the rows' data (`by`), one name per key (`audit_names()`)."""
    from voucherhub.core.models import AuditLog

    rows = AuditLog.objects.filter(action__in=("codes.reveal", "code.reveal"), created_at__gte=_at(start), created_at__lt=_at(end))
    audit_names = getattr(actor, "audit_names", None)
    if audit_names is not None:
        return rows.filter(actor__isnull=True, data__by__in=audit_names()).count()
    return rows.filter(actor_id=actor.pk).count()


def register_reveal_guard() -> None:
    """Hand reveal_guard to the catalog, which runs it before it decrypts anything. Idempotent."""
    from catalog.services import reveal_guard_register

    reveal_guard_register(reveal_guard)


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
    if ok:
        FailedCheck.objects.filter(kind="2fa", source=key).delete()  # the user proved the secret: a fresh count
    else:
        _second_factor_failed(key)
    audit_record(actor=user, action="auth.second_factor.ok" if ok else "auth.second_factor.failed", data={"method": method})
    return ok


def _second_factor_failed(key: str) -> None:
    """Record a failed second verification in the database and lock the user's second verification once the
    failures of the last 15 minutes reach the threshold (the history survives a Redis flush)."""
    config = engine.rules_snapshot().settings
    now = counters.clock()
    FailedCheck.objects.create(kind="2fa", source=key, created_at=_at(now))
    since = _counts_since([("2fa", key)], window_start=_at(now - 900))["2fa"]
    failures = FailedCheck.objects.filter(kind="2fa", source=key, created_at__gt=since).count()
    if config.second_factor_failures and failures >= config.second_factor_failures:
        _lock_set("2fa", key, now=now, period=max(60, config.bf_lockout_minutes * 60))


def reveal_second_factor(*, user, secret: str) -> bool:
    """The catalog's bulk-reveal check: a TOTP code for users with an authenticator, else the password."""
    return second_factor_verify(user=user, password=secret, otp_token=secret)


def register_second_factor() -> None:
    """Hand reveal_second_factor to the catalog, which checks only the password without it."""
    from catalog.services import second_factor_register

    second_factor_register(reveal_second_factor)
