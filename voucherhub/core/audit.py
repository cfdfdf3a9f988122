"""The audit log: one call for every app, and the tamper-evident hash chain over it.

Callers pass masked data only, never a plaintext code.

Writers (`audit_record`, `audit_record_many`) only INSERT plain rows: no writer waits on a shared
row. A sealer (`audit_chain_seal`) then takes the unsealed rows in id order, in one short
transaction under a lock on the single `AuditChainState` row, and gives each one its place in the
chain: `seq` (1, 2, 3 ...), `prev_hash` (the hash of seq-1) and `hash` =
HMAC-SHA256(key, prev_hash + canonical content). Editing a sealed row breaks its hash, deleting one
leaves a gap in `seq`, moving rows around breaks the links; `audit_chain_verify()` (and
`manage.py verify_audit_chain`) reports the first broken link.

The sealer runs a few seconds after writes (the first write after a quiet interval queues one
django-q2 task, at most one per AUDIT_SEAL_INTERVAL_SECONDS) and every minute from a schedule.

Action codes (`wallet.topup`, `codes.reveal` ...) stay as they are in the rows (ops search by them);
pages show a translated label beside them. Each app owns the labels of its codes and registers them
from its AppConfig.ready() with `audit_actions_register({code: gettext_lazy(label)})`; core never
imports the apps. `audit_action_label(code)` falls back to the code itself for an unknown one.
"""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voucherhub.core import prepared
from voucherhub.core.models import GENESIS_HASH, AuditChainState, AuditLog

SEAL_TASK = "voucherhub.core.audit.audit_chain_seal"
SEAL_SCHEDULE_NAME = "audit chain seal"
_HASHED_FIELDS = ("id", "created_at", "actor_repr", "action", "object_type", "object_id", "object_repr", "ip", "reason", "data")


# --- labels of the action codes -------------------------------------------------------------------

_ACTION_LABELS: dict[str, str] = {}


def audit_actions_register(labels: Mapping[str, str]) -> None:
    """Give action codes their readable (lazily translated) labels. Called from each app's ready().

    Registering the same label again is a no-op; a second, different label for a code is a mistake
    (two apps claiming one code), so it raises."""
    for code, label in labels.items():
        known = _ACTION_LABELS.get(code)
        if known is not None and known is not label:
            raise ValueError(f"audit action {code!r} already has a label; one app owns each code")
        _ACTION_LABELS[code] = label


def audit_action_label(action: str) -> str:
    """The label of an action code in the active language, or the code itself when it has none."""
    label = _ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def audit_action_labels() -> dict[str, str]:
    """Every registered code with its (lazy) label."""
    return dict(_ACTION_LABELS)


# --- writers -------------------------------------------------------------------------------------


def _object_fields(obj) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, models.Model):
        return {
            "object_type": obj._meta.label_lower,
            "object_id": str(obj.pk),
            "object_repr": str(obj)[:200],
        }
    return {"object_repr": str(obj)[:200]}


def audit_record(*, actor=None, action: str, obj=None, ip: str | None = None, reason: str = "", data: dict | None = None) -> AuditLog:
    """Write one audit entry. `actor` is a user or None (system); `obj` a model instance or a label."""
    entry = AuditLog.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_repr=getattr(actor, "get_username", lambda: "system")() if actor is not None else "system",
        action=action,
        ip=ip or None,
        reason=reason[:500],
        data=data or {},
        **_object_fields(obj),
    )
    _seal_soon()
    return entry


def audit_record_many(
    *, actor=None, action: str, objects: Iterable, ip: str | None = None, reason: str = "", data_for=None, actor_label: str = ""
) -> int:
    """One entry per object in a single INSERT (bulk reveals, batch voids). `actor_label` names an actor
    that is not a user (an API key, "api:<key id>") so the row says who, not "system"."""
    actor_user = actor if getattr(actor, "is_authenticated", False) else None
    actor_repr = actor.get_username() if actor_user else (actor_label[:150] or "system")
    if prepared.available():
        return _insert_many_prepared(actor_user, actor_repr, action, list(objects), ip, reason, data_for)
    rows = [
        AuditLog(
            actor=actor_user,
            actor_repr=actor_repr,
            action=action,
            ip=ip or None,
            reason=reason[:500],
            data=(data_for(obj) if data_for else {}),
            **_object_fields(obj),
        )
        for obj in objects
    ]
    AuditLog.objects.bulk_create(rows, batch_size=1000)
    if rows:
        _seal_soon()
    return len(rows)


_INSERT_MANY_SQL = """
INSERT INTO core_auditlog (created_at, actor_id, actor_repr, action, object_type, object_id, object_repr, ip, reason, data,
                           prev_hash, hash)
SELECT %s, %s, %s, %s, t.object_type, t.object_id, t.object_repr, CAST(%s AS inet), %s, CAST(t.data AS jsonb), '', ''
FROM unnest(CAST(%s AS text[]), CAST(%s AS text[]), CAST(%s AS text[]), CAST(%s AS text[])) AS t (object_type, object_id, object_repr, data)
"""


def _insert_many_prepared(actor_user, actor_repr, action, objects, ip, reason, data_for) -> int:
    """audit_record_many's INSERT as one prepared statement with array parameters (PostgreSQL): every API order
    audits the reveal of the codes it delivers, and the ORM's bulk_create compiled that INSERT anew each time."""
    if not objects:
        return 0
    encoder = AuditLog._meta.get_field("data").encoder
    fields = [_object_fields(obj) for obj in objects]
    prepared.run(
        _INSERT_MANY_SQL,
        [
            timezone.now(), actor_user.pk if actor_user else None, actor_repr, action, ip or None, reason[:500],
            [f.get("object_type", "") for f in fields], [f.get("object_id", "") for f in fields],
            [f.get("object_repr", "") for f in fields],
            [json.dumps(data_for(obj) if data_for else {}, cls=encoder) for obj in objects],
        ],
    )  # fmt: skip
    _seal_soon()
    return len(objects)


# --- admin changes ---------------------------------------------------------------------------------

_ADMIN_ACTIONS = {1: "admin.add", 2: "admin.change", 3: "admin.delete"}
AUDIT_ACTIONS = {
    "admin.add": _("Admin: added"),
    "admin.change": _("Admin: changed"),
    "admin.delete": _("Admin: deleted"),
    "admin.other": _("Admin: other change"),
}


def audit_admin_entries(entries) -> None:
    """Copy Django admin LogEntry rows (every add / change / delete made in the admin) into the audit log."""
    from django.contrib.contenttypes.models import ContentType

    rows = []
    for entry in entries:
        content_type = ContentType.objects.get_for_id(entry.content_type_id) if entry.content_type_id else None
        rows.append(
            AuditLog(
                actor_id=entry.user_id,
                actor_repr=entry.user.get_username() if entry.user_id else "system",
                action=_ADMIN_ACTIONS.get(entry.action_flag, "admin.other"),
                object_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
                object_id=str(entry.object_id or "")[:64],
                object_repr=(entry.object_repr or "")[:200],
                data={"change_message": entry.change_message or "", "admin_log_id": entry.pk},
            )
        )
    if rows:
        AuditLog.objects.bulk_create(rows)
        _seal_soon()


def install_admin_audit() -> None:
    """Route every admin log write into the audit log too.

    Since Django 5.1 every admin addition, change and deletion (single or bulk) goes through
    `LogEntryManager.log_actions`; bulk deletions use bulk_create, which sends no post_save signal,
    so the manager method itself is wrapped (once).
    """
    from django.contrib.admin.models import LogEntry, LogEntryManager

    if getattr(LogEntryManager.log_actions, "_vh_audited", False):
        return
    original = LogEntryManager.log_actions

    def log_actions(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        entries = [result] if isinstance(result, LogEntry) else list(result or [])
        audit_admin_entries([e for e in entries if isinstance(e, LogEntry)])
        return result

    log_actions._vh_audited = True
    LogEntryManager.log_actions = log_actions


# --- the chain ------------------------------------------------------------------------------------


def _chain_key() -> bytes:
    """HMAC key of the chain: AUDIT_CHAIN_KEY, or derived from the vault index key (both never rotated casually)."""
    explicit = getattr(settings, "AUDIT_CHAIN_KEY", "")
    base = explicit or settings.VAULT_INDEX_KEY
    return hmac.new(str(base).encode(), b"voucherhub audit chain v1", hashlib.sha256).digest()


def _canonical(row: dict, seq: int) -> bytes:
    created = row["created_at"]
    if timezone.is_naive(created):
        created = timezone.make_aware(created, UTC)
    payload = {name: row[name] for name in _HASHED_FIELDS}
    payload["created_at"] = created.astimezone(UTC).isoformat()
    payload["seq"] = seq
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def audit_entry_hash(*, row: dict, seq: int, prev_hash: str, key: bytes | None = None) -> str:
    return hmac.new(key or _chain_key(), prev_hash.encode() + b"\n" + _canonical(row, seq), hashlib.sha256).hexdigest()


def _locked_state(*, wait: bool) -> AuditChainState | None:
    AuditChainState.objects.get_or_create(pk=1)
    return AuditChainState.objects.select_for_update(skip_locked=not wait).filter(pk=1).first()


def _seal_batch(*, limit: int, wait: bool) -> int | None:
    with transaction.atomic():
        state = _locked_state(wait=wait)
        if state is None:  # another sealer holds the head right now
            return None
        rows = list(AuditLog.objects.filter(seq__isnull=True).order_by("id").values(*_HASHED_FIELDS)[:limit])
        if not rows:
            return 0
        key = _chain_key()
        now = timezone.now()
        seq, prev = state.last_seq, state.last_hash
        sealed = []
        for row in rows:
            seq += 1
            digest = audit_entry_hash(row=row, seq=seq, prev_hash=prev, key=key)
            sealed.append(AuditLog(id=row["id"], seq=seq, prev_hash=prev, hash=digest, sealed_at=now))
            prev = digest
        AuditLog.objects.bulk_update(sealed, ["seq", "prev_hash", "hash", "sealed_at"], batch_size=500)
        AuditChainState.objects.filter(pk=1).update(last_seq=seq, last_hash=prev, sealed_at=now)
        return len(rows)


def audit_chain_seal(*, batch_size: int = 2000, wait: bool = False) -> int:
    """Chain every unsealed audit row, in id order. Returns how many were sealed.

    Each batch is one short transaction holding the chain head. With wait=False a sealer that finds
    the head locked by another sealer returns at once (the other one does the work).
    """
    total = 0
    while True:
        count = _seal_batch(limit=batch_size, wait=wait)
        if count is None:
            return total
        total += count
        if count < batch_size:
            return total


_last_enqueue = 0.0
_enqueue_lock = threading.Lock()


def _enqueue_seal() -> None:
    """Queue one sealing task, at most once per interval across all processes (a cache token)."""
    global _last_enqueue
    interval = getattr(settings, "AUDIT_SEAL_INTERVAL_SECONDS", 5)
    now = time.monotonic()
    with _enqueue_lock:
        if now - _last_enqueue < interval:
            return
        _last_enqueue = now
    try:
        if not cache.add("vh:audit:seal-token", 1, timeout=interval):
            return
        from django_q.tasks import async_task

        async_task(SEAL_TASK, task_name="audit chain seal (soon)")
    except Exception:  # noqa: BLE001 - sealing is also scheduled every minute; never fail a writer for it
        import logging

        logging.getLogger(__name__).warning("could not queue the audit sealer", exc_info=True)


def _seal_soon() -> None:
    transaction.on_commit(_enqueue_seal)


def audit_seal_schedule_ensure() -> None:
    """Create (or fix) the every-minute django-q2 schedule of the sealer. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SEAL_SCHEDULE_NAME,
        defaults={"func": SEAL_TASK, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )


@dataclass
class ChainReport:
    ok: bool
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    unsealed: int = 0
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str = ""
    details: dict = field(default_factory=dict)


def audit_chain_verify(*, seal: bool = True, expect_head: tuple[int, str] | None = None) -> ChainReport:
    """Walk the chain in seq order and report the first broken link (seals pending rows first)."""
    if seal:
        audit_chain_seal(wait=True)
    key = _chain_key()
    expected_seq, prev = 1, GENESIS_HASH
    checked = 0
    rows = AuditLog.objects.filter(seq__isnull=False).order_by("seq").values(*_HASHED_FIELDS, "seq", "prev_hash", "hash")
    for row in rows.iterator(chunk_size=5000):
        if row["seq"] != expected_seq:
            return ChainReport(
                ok=False,
                checked=checked,
                broken_seq=expected_seq,
                broken_id=row["id"],
                problem=f"entry #{expected_seq} is missing (next entry is #{row['seq']}, id {row['id']}): rows were deleted",
            )
        if row["prev_hash"] != prev:
            return ChainReport(
                ok=False,
                checked=checked,
                broken_seq=row["seq"],
                broken_id=row["id"],
                problem=f"entry #{row['seq']} (id {row['id']}) does not link to entry #{row['seq'] - 1}: rows were moved or replaced",
            )
        if audit_entry_hash(row=row, seq=row["seq"], prev_hash=prev, key=key) != row["hash"]:
            return ChainReport(
                ok=False,
                checked=checked,
                broken_seq=row["seq"],
                broken_id=row["id"],
                problem=f"entry #{row['seq']} (id {row['id']}) was changed after it was sealed",
            )
        prev = row["hash"]
        expected_seq += 1
        checked += 1
    head_seq = expected_seq - 1
    state = AuditChainState.objects.filter(pk=1).first()
    unsealed = AuditLog.objects.filter(seq__isnull=True).count()
    report = ChainReport(ok=True, checked=checked, head_seq=head_seq, head_hash=prev, unsealed=unsealed)
    if state is not None and (state.last_seq != head_seq or state.last_hash != prev):
        report.ok = False
        report.broken_seq = head_seq + 1
        report.problem = f"the chain ends at #{head_seq} but its head says #{state.last_seq}: the newest rows were deleted"
    elif expect_head is not None:
        want_seq, want_hash = expect_head
        if want_seq > head_seq:
            report.ok, report.broken_seq = False, head_seq + 1
            report.problem = f"the chain ends at #{head_seq}, before the recorded head #{want_seq}: rows were deleted"
        else:
            at = AuditLog.objects.filter(seq=want_seq).values_list("hash", flat=True).first()
            if at != want_hash:
                report.ok, report.broken_seq = False, want_seq
                report.problem = f"entry #{want_seq} does not have the recorded hash: the chain was rewritten"
    return report
