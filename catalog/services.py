"""Writes to the catalog and the vault. Every function takes keyword arguments and raises a domain error.

* Status changes of card codes go through `code_status_change` (locks in primary-key order, checks
  `CardCode.TRANSITIONS`, writes `CodeEvent` rows).
* `codes_reveal` is the only way a plaintext leaves the vault for a person: permission, reason,
  second verification for more than one code, the `REVEAL_GUARDS`, one audit entry per code.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from django.db import connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from catalog import codegen, lock_objects, vault
from catalog.models import CardCode, CodeBatch, CodeEvent, Sku
from voucherhub.core.audit import audit_record, audit_record_many
from voucherhub.core.errors import Conflict, DomainError, NotFound, PermissionDenied

INSERT_CHUNK = 2000
LOCK_CHUNK = 1000

REVEAL_PERMISSION = "catalog.reveal_cardcode"
VOID_PERMISSION = "catalog.void_cardcode"
GENERATE_PERMISSION = "catalog.generate_cardcode"

# How many codes one reveal may open: on a page, and in one download.
REVEAL_SCREEN_MAX = 500
REVEAL_DOWNLOAD_MAX = 200_000


class CatalogError(DomainError):
    code = "catalog_error"


class InvalidQuantity(CatalogError):
    code = "invalid_quantity"
    default_message = _("Quantity must be between 1 and 1,000,000.")


class NoCodesForSku(CatalogError):
    code = "sku_has_no_codes"
    default_message = _("Direct top-up SKUs have no card codes.")


class ReasonRequired(CatalogError):
    code = "reason_required"
    default_message = _("Give a reason; it is written to the audit log.")


class NothingSelected(CatalogError):
    code = "nothing_selected"
    default_message = _("No card codes were selected.")


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = _("These card codes cannot change to that status.")


class NotVoidable(InvalidTransition):
    code = "not_voidable"


class BatchAlreadyVoided(Conflict):
    code = "batch_already_voided"
    default_message = _("This batch was voided already.")


class RevealRefused(PermissionDenied):
    code = "reveal_refused"
    default_message = _("You do not have permission to reveal card codes.")


class PasswordRequired(RevealRefused):
    code = "password_required"
    status = 400
    default_message = _("Enter your password again to reveal more than one code or to download codes.")


class WrongPassword(RevealRefused):
    code = "wrong_password"
    default_message = _("The password is not correct.")


class TooManyCodes(CatalogError):
    code = "too_many_codes"


class CodeUnreadable(CatalogError):
    code = "code_unreadable"
    status = 500
    default_message = _("A code could not be opened: its vault key is not configured or the row was tampered with.")


# --- Generation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCode:
    """A code about to enter the vault, already sealed: nothing here is plaintext."""

    sealed: vault.SealedCode
    serial: str = ""
    expires_at: datetime | None = None


def batch_create(*, sku: Sku, source: str, label: str = "", actor=None, file_sha256: str = "") -> CodeBatch:
    return CodeBatch.objects.create(sku=sku, source=source, label=label[:200], created_by=actor, file_sha256=file_sha256)


def existing_indexes(indexes: Sequence[str]) -> set[str]:
    """Which of these blind indexes are in the vault already (chunked IN lookups on the unique index)."""
    found: set[str] = set()
    if connection.vendor == "postgresql":
        # One array parameter instead of thousands of placeholders.
        table = connection.ops.quote_name(CardCode._meta.db_table)
        with connection.cursor() as cursor:
            for start in range(0, len(indexes), 20000):
                cursor.execute(f"SELECT blind_index FROM {table} WHERE blind_index = ANY(%s)", [list(indexes[start : start + 20000])])
                found.update(row[0] for row in cursor.fetchall())
        return found
    for start in range(0, len(indexes), 5000):
        chunk = indexes[start : start + 5000]
        found.update(CardCode.objects.filter(blind_index__in=chunk).values_list("blind_index", flat=True))
    return found


_COPY_COLUMNS = [
    "sku_id",
    "batch_id",
    "ciphertext",
    "key_id",
    "blind_index",
    "hint",
    "serial",
    "expires_at",
    "status",
    "order_ref",
    "created_at",
    "status_changed_at",
]


def codes_insert(*, batch: CodeBatch, codes: Sequence[NewCode]) -> int:
    """Insert sealed codes into `batch` (the caller has removed duplicates). Returns how many were stored.

    On PostgreSQL the rows go in through COPY (about ten times faster than INSERT for big batches);
    a duplicate blind index still fails on the unique index, as django.db.IntegrityError.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        _codes_copy(batch=batch, codes=codes, now=now)
    else:
        rows = [
            CardCode(
                sku_id=batch.sku_id,
                batch=batch,
                ciphertext=code.sealed.ciphertext,
                key_id=code.sealed.key_id,
                blind_index=code.sealed.blind_index,
                hint=code.sealed.hint,
                serial=code.serial,
                expires_at=_aware(code.expires_at),
                created_at=now,
                status_changed_at=now,
            )
            for code in codes
        ]
        CardCode.objects.bulk_create(rows, batch_size=INSERT_CHUNK)
    CodeBatch.objects.filter(pk=batch.pk).update(code_count=batch.codes.count())
    return len(codes)


def _aware(moment: datetime | None) -> datetime | None:
    """A naive expiry is read in the site's time zone (TIME_ZONE), on every database alike."""
    return timezone.make_aware(moment) if moment is not None and timezone.is_naive(moment) else moment


def _codes_copy(*, batch: CodeBatch, codes: Sequence[NewCode], now: datetime) -> None:
    table = connection.ops.quote_name(CardCode._meta.db_table)
    column_of = {field.attname: field.column for field in CardCode._meta.concrete_fields}
    columns = ", ".join(connection.ops.quote_name(column_of[name]) for name in _COPY_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for code in codes:
                sealed = code.sealed
                copy.write_row(
                    (
                        batch.sku_id,
                        batch.pk,
                        sealed.ciphertext,
                        sealed.key_id,
                        sealed.blind_index,
                        sealed.hint,
                        code.serial,
                        _aware(code.expires_at),
                        CardCode.Status.AVAILABLE.value,
                        "",
                        now,
                        now,
                    )
                )


@transaction.atomic
def codes_generate(*, sku: Sku, count: int, actor=None, label: str = "", ip: str | None = None) -> CodeBatch:
    """Create `count` new random codes for `sku` in a new batch; unique against the whole vault.

    Each code is 80 bits from the OS CSPRNG in Crockford base32 plus a check symbol (catalog/codegen.py).
    A code whose blind index is in the vault already (an imported code, astronomically rarely another
    generated one) is drawn again, so the batch always holds exactly `count` codes. Only sealed codes
    leave this function's memory.
    """
    if not isinstance(count, int) or not 1 <= count <= 1_000_000:
        raise InvalidQuantity(field="count")
    if sku.fulfilment == Sku.Fulfilment.TOPUP:
        raise NoCodesForSku(field="sku")
    batch = batch_create(sku=sku, source=CodeBatch.Source.GENERATED, label=label or f"generated {count}", actor=actor)
    ring = vault.keyring()
    stored = 0
    while stored < count:
        want = min(INSERT_CHUNK * 5, count - stored)
        fresh: dict[str, vault.SealedCode] = {}
        while len(fresh) < want:
            sealed = ring.seal(codegen.new_code())
            fresh[sealed.blind_index] = sealed
        taken = existing_indexes(list(fresh))
        new = [NewCode(sealed=s) for index, s in fresh.items() if index not in taken]
        codes_insert(batch=batch, codes=new)
        stored += len(new)
    batch.refresh_from_db(fields=["code_count"])
    audit_record(actor=actor, action="codes.generate", obj=batch, ip=ip, data={"sku": sku.code, "count": count})
    return batch


# --- Status changes -----------------------------------------------------------------------------


def _codes_queryset(codes) -> QuerySet:
    """Card codes given as a queryset, model instances or primary keys, as one queryset."""
    if isinstance(codes, QuerySet):
        return codes
    ids = [c.pk if isinstance(c, CardCode) else int(c) for c in codes]
    return CardCode.objects.filter(pk__in=ids)


def _status_label(status: str) -> str:
    return str(CardCode.Status(status).label)


def code_status_change(
    *,
    codes,
    to_status: str,
    actor=None,
    reason: str = "",
    reference: str = "",
    from_statuses: Iterable[str] | None = None,
    order_ref: str | None = None,
    locked: bool = False,
    also: dict | None = None,
    through: Sequence[str] = (),
) -> list[CardCode]:
    """Move card codes to `to_status`: the one writer of a code's status and its `CodeEvent` rows.

    `codes`: a queryset, CardCode rows or primary keys, one or many. The rows are locked in primary-key
    order (two callers never wait on each other crosswise) and each is checked against
    `CardCode.TRANSITIONS` (and `from_statuses`, a caller's narrower rule for where codes may come from).
    All or nothing: if any code may not move, `InvalidTransition` names how many and from which statuses
    (`details["refused"]`), and nothing changes; a primary key that does not exist is `NotFound`.
    `order_ref`, when given, is stored too, and so is every column in `also` (e.g. the expiry a sale
    starts). `through`: statuses the codes pass on the way, in order (an order's codes go available ->
    reserved -> sold in one call), each step checked and written as its own event. Returns the moved
    codes (the caller's rows updated in place, or rows read with id, SKU, batch, hint and serial), with
    their status before the call in `code.previous_status`.

    `locked=True`: the caller claimed these rows (select_for_update) in its open transaction; the call
    then refuses to run outside one. Locking them again here costs nothing more.

    PostgreSQL: one statement (lock, check, `UPDATE … RETURNING`, `INSERT … SELECT` of the events),
    whatever the number of codes: an order's delivery costs one round trip instead of four (lock, update,
    events, and the savepoint around them); a 10,000-code void one instead of about thirty. Other
    databases: the same rows through the ORM, in a savepoint.
    """
    to_status = CardCode.Status(to_status)
    steps = [CardCode.Status(s) for s in (*through, to_status)]
    for before, after in pairwise(steps):
        if after not in CardCode.TRANSITIONS[before]:
            raise ValueError(f"code_status_change: {before} -> {after} is not in CardCode.TRANSITIONS")
    allowed = {s for s in CardCode.Status if steps[0] in CardCode.TRANSITIONS[s]}
    if from_statuses is not None:
        allowed &= {CardCode.Status(s) for s in from_statuses}
    if locked and not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("code_status_change(locked=True) needs the caller's transaction")
    if not isinstance(codes, QuerySet):
        codes = list(codes)
    # The caller's own rows are updated in place and returned.
    given = codes if not isinstance(codes, QuerySet) and codes and all(isinstance(c, CardCode) for c in codes) else []
    change = _StatusChange(
        steps=steps,
        allowed=allowed,
        actor_id=actor.pk if getattr(actor, "is_authenticated", False) else None,
        reference=reference[:64],
        reason=reason[:300],
        now=timezone.now(),
        columns={**({"order_ref": order_ref} if order_ref is not None else {}), **(also or {})},
    )
    if connection.vendor == "postgresql":
        return _status_change_postgresql(codes, change, given)
    return _status_change_orm(codes, change, given)


def _status_change_postgresql(codes, change: "_StatusChange", given: list[CardCode]) -> list[CardCode]:
    """code_status_change on PostgreSQL: lock, check, update and the events in one statement."""
    if isinstance(codes, QuerySet):
        ids = lock_objects.codes_lock(codes)
    else:
        ids = sorted({c.pk if isinstance(c, CardCode) else int(c) for c in codes})
    rows = _status_change_sql(ids, change) if ids else []
    found = {row[0]: row for row in rows}
    if not isinstance(codes, QuerySet) and len(found) != len(ids):
        raise NotFound(_("Some of the selected card codes do not exist."))
    _refusal_raise(change, Counter(row[1] for row in rows if row[1] not in change.allowed))
    if given:
        return _moved_in_place(given, {pk: row[1] for pk, row in found.items()}, change)
    return [
        _loaded(id=pk, sku_id=sku_id, batch_id=batch_id, hint=hint, serial=serial, before=before, change=change)
        for pk, before, sku_id, batch_id, hint, serial in rows
    ]


def _status_change_orm(codes, change: "_StatusChange", given: list[CardCode]) -> list[CardCode]:
    """code_status_change elsewhere (SQLite, `make run`): lock, check, update, then the events in one batch."""
    with transaction.atomic():
        locked_rows = list(
            _codes_queryset(codes).select_for_update().order_by("pk").only("id", "sku_id", "batch_id", "hint", "status", "serial")
        )
        if not isinstance(codes, QuerySet):
            if len(locked_rows) != len({c.pk if isinstance(c, CardCode) else int(c) for c in codes}):
                raise NotFound(_("Some of the selected card codes do not exist."))
        _refusal_raise(change, Counter(code.status for code in locked_rows if code.status not in change.allowed))
        ids = [code.pk for code in locked_rows]
        for start in range(0, len(ids), LOCK_CHUNK):
            CardCode.objects.filter(pk__in=ids[start : start + LOCK_CHUNK]).update(
                status=change.steps[-1], status_changed_at=change.now, **change.columns
            )
        events = []
        for code in locked_rows:
            for before, after in pairwise([code.status, *change.steps]):
                events.append(
                    CodeEvent(
                        code_id=code.pk,
                        from_status=before,
                        to_status=after,
                        actor_id=change.actor_id,
                        reference=change.reference,
                        reason=change.reason,
                        created_at=change.now,
                    )
                )
        CodeEvent.objects.bulk_create(events, batch_size=LOCK_CHUNK)
    before = {code.pk: code.status for code in locked_rows}
    return _moved_in_place(given or locked_rows, before, change)


@dataclass(frozen=True)
class _StatusChange:
    steps: list[str]  # the statuses the codes go through, the last one where they end
    allowed: set[str]  # the statuses a code may start from
    actor_id: int | None
    reference: str
    reason: str
    now: datetime
    columns: dict  # other columns written with the status (order_ref, `also`)


def _refusal_raise(change: _StatusChange, refused: Counter) -> None:
    if refused:
        raise InvalidTransition(
            ngettext(
                "%(count)d card code cannot change to %(to)s (%(from)s).",
                "%(count)d card codes cannot change to %(to)s (%(from)s).",
                refused.total(),
            )
            % {
                "count": refused.total(),
                "to": _status_label(change.steps[0]),
                "from": ", ".join(f"{_status_label(s)}: {n}" for s, n in sorted(refused.items())),
            },
            refused=dict(refused),
        )


def _moved_in_place(codes: list[CardCode], before: dict[int, str], change: _StatusChange) -> list[CardCode]:
    for code in codes:
        code.previous_status = before[code.pk]
        code.status = change.steps[-1]
        code.status_changed_at = change.now
        for name, value in change.columns.items():
            setattr(code, name, value)
    return sorted(codes, key=lambda c: c.pk)


def _loaded(*, before: str, change: _StatusChange, **values) -> CardCode:
    """A moved code as the ORM would load it with only these fields (the others deferred)."""
    values.update(status=change.steps[-1], status_changed_at=change.now)
    names = [f.attname for f in CardCode._meta.concrete_fields if f.attname in values]
    code = CardCode.from_db(connection.alias, names, [values[name] for name in names])
    code.previous_status = before
    return code


def _status_change_sql(ids: list[int], change: _StatusChange) -> list[tuple]:
    """The PostgreSQL statement of `code_status_change`: (id, status before, sku_id, batch_id, hint, serial)
    of every code found, locked in primary-key order; the update and the events are written only when every
    one of them may move (and all `ids` exist)."""
    quote = connection.ops.quote_name
    code_table, event_table = quote(CardCode._meta.db_table), quote(CodeEvent._meta.db_table)
    sets, set_params = [], []
    for name, value in change.columns.items():
        field = CardCode._meta.get_field(name)
        sets.append(f", {quote(field.column)} = %s")
        set_params.append(field.get_db_prep_save(value, connection))
    sql = f"""
WITH prev AS MATERIALIZED (
    SELECT id, status, sku_id, batch_id, hint, serial FROM {code_table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE
),
verdict AS (
    SELECT count(*) = %s AND COALESCE(bool_and(status = ANY(%s)), TRUE) AS ok FROM prev
),
moved AS (
    UPDATE {code_table} c SET status = %s, status_changed_at = %s{"".join(sets)}
    FROM prev, verdict WHERE verdict.ok AND c.id = prev.id
    RETURNING c.id, prev.status AS before
),
events AS (
    INSERT INTO {event_table} (code_id, from_status, to_status, actor_id, reference, reason, created_at)
    SELECT m.id, COALESCE(t.from_status, m.before), t.to_status, %s, %s, %s, %s
    FROM moved m, unnest(%s::varchar[], %s::varchar[]) WITH ORDINALITY AS t (from_status, to_status, k)
    ORDER BY m.id, t.k
)
SELECT id, status, sku_id, batch_id, hint, serial FROM prev ORDER BY id
"""
    steps = [str(s) for s in change.steps]
    params = [
        ids,
        len(ids),
        sorted(str(s) for s in change.allowed),
        steps[-1],
        change.now,
        *set_params,
        change.actor_id,
        change.reference,
        change.reason,
        change.now,
        [None, *steps[:-1]],
        steps,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(field="reason")
    return reason


def _require_void_permission(actor) -> None:
    # actor None is the system (a task, another app's service); people need the permission.
    if actor is not None and not actor.has_perm(VOID_PERMISSION):
        raise PermissionDenied(_("You do not have permission to void card codes."))


@transaction.atomic
def codes_void(*, codes, actor, reason: str, ip: str | None = None) -> int:
    """Void the selected codes (all available or reserved, or none of them). Audited per code."""
    reason = _require_reason(reason)
    _require_void_permission(actor)
    try:
        changed = code_status_change(
            codes=codes, to_status=CardCode.Status.VOID, actor=actor, reason=reason, from_statuses=CardCode.VOIDABLE
        )
    except InvalidTransition as exc:
        refused = exc.details.get("refused", {})
        raise NotVoidable(
            ngettext(
                "%(count)d of the selected codes cannot be voided (%(statuses)s): only available or reserved codes can. "
                "Nothing was voided.",
                "%(count)d of the selected codes cannot be voided (%(statuses)s): only available or reserved codes can. "
                "Nothing was voided.",
                sum(refused.values()),
            )
            % {"count": sum(refused.values()), "statuses": ", ".join(f"{_status_label(s)}: {n}" for s, n in sorted(refused.items()))},
            refused=refused,
        )
    if not changed:
        raise NothingSelected()
    audit_record_many(
        actor=actor,
        action="codes.void",
        objects=changed,
        ip=ip,
        reason=reason,
        data_for=lambda code: {"hint": code.hint, "from": code.previous_status, "batch": code.batch_id},
    )
    return len(changed)


@dataclass(frozen=True)
class BatchVoidResult:
    voided: int
    untouched: dict[str, int]


@transaction.atomic
def batch_void(*, batch: CodeBatch, actor, reason: str, ip: str | None = None) -> BatchVoidResult:
    """Void every available or reserved code of a batch and mark the batch voided.

    Sold and redeemed codes are in customers' hands: they are left as they are and counted in the result.
    """
    reason = _require_reason(reason)
    _require_void_permission(actor)
    batch = lock_objects.batch_lock(batch)
    if batch.voided_at is not None:
        raise BatchAlreadyVoided()
    changed = code_status_change(
        codes=CardCode.objects.filter(batch=batch, status__in=CardCode.VOIDABLE),
        to_status=CardCode.Status.VOID,
        actor=actor,
        reason=reason,
        reference=f"batch:{batch.pk}",
    )
    batch.voided_at = timezone.now()
    batch.void_reason = reason[:300]
    batch.save(update_fields=["voided_at", "void_reason"])
    untouched = dict(
        CardCode.objects.filter(batch=batch).exclude(status=CardCode.Status.VOID).values_list("status").annotate(n=Count("id")).order_by()
    )
    audit_record(
        actor=actor,
        action="batch.void",
        obj=batch,
        ip=ip,
        reason=reason,
        data={"sku": batch.sku.code, "voided": len(changed), "untouched": untouched},
    )
    return BatchVoidResult(voided=len(changed), untouched=untouched)


# --- Reveal -------------------------------------------------------------------------------------

RevealGuard = Callable[..., None]

# Checks run before any code is opened, after permission, reason and password have passed.
# Each is called as guard(actor=user, count=number_of_codes, ip=address) and stops the reveal by
# raising a DomainError (its message is shown to the user and the refusal is audited).
# The risk-control app registers its per-hour reveal limits here with reveal_guard_register().
REVEAL_GUARDS: list[RevealGuard] = []


def reveal_guard_register(guard: RevealGuard) -> RevealGuard:
    """Add a guard to REVEAL_GUARDS once (usable as a decorator); returns it unchanged."""
    if guard not in REVEAL_GUARDS:
        REVEAL_GUARDS.append(guard)
    return guard


# How the second verification of a bulk reveal or download is checked. By default: the actor's
# password again. The risk-control app hands over its own check with second_factor_register()
# (a TOTP code for users who have an authenticator, lockout after repeated failures).
SecondFactorCheck = Callable[..., bool]
_second_factor_check: list[SecondFactorCheck] = []


def second_factor_register(check: SecondFactorCheck) -> SecondFactorCheck:
    """Replace the default password check: check(user=..., secret=...) -> bool (may raise a DomainError)."""
    _second_factor_check[:] = [check]
    return check


def _second_factor_ok(*, actor, secret: str) -> bool:
    if _second_factor_check:
        return _second_factor_check[0](user=actor, secret=secret)
    return actor.check_password(secret)


@dataclass(frozen=True, repr=False, eq=False)
class RevealedCode:
    """A code with its plaintext, held in memory for one response; its repr never shows the plaintext."""

    code: CardCode
    plaintext: str

    @property
    def display(self) -> str:
        """Generated codes in groups of four (as printed), others as stored."""
        if self.code.batch.source == CodeBatch.Source.GENERATED and codegen.is_valid(self.plaintext):
            return codegen.pretty(self.plaintext)
        return self.plaintext

    def __repr__(self) -> str:
        return f"<RevealedCode #{self.code.pk} {self.code.hint}>"


def _reveal_refusal(*, actor, ip, reason: str, count: int, error: DomainError) -> None:
    audit_record(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action="codes.reveal_refused",
        obj="card codes",
        ip=ip,
        reason=reason,
        data={"count": count, "error": error.code},
    )


@sensitive_variables("password", "revealed", "plaintext")
def codes_reveal(*, codes, actor, reason: str, ip: str | None, password: str | None = None, download: bool = False) -> list[RevealedCode]:
    """Open card codes for a person, in memory only. Every reveal is audited per code, masked.

    Refused (and the refusal audited) unless: the actor has `catalog.reveal_cardcode`; a reason is
    given; for more than one code or a download, `password` is the actor's password (second
    verification); and every guard in `REVEAL_GUARDS` lets it pass. At most REVEAL_SCREEN_MAX codes
    on a page, REVEAL_DOWNLOAD_MAX in one download.
    """
    reason = (reason or "").strip()
    queryset = _codes_queryset(codes)
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.has_perm(REVEAL_PERMISSION):
        error = RevealRefused()
        _reveal_refusal(actor=actor, ip=ip, reason=reason, count=0, error=error)
        raise error
    if not reason:
        raise ReasonRequired(field="reason")
    limit = REVEAL_DOWNLOAD_MAX if download else REVEAL_SCREEN_MAX
    # defer(None): an admin queryset leaves the ciphertext out; load it with the rows, not one query each.
    rows = list(queryset.defer(None).select_related("sku", "batch").order_by("pk")[: limit + 1])
    if not rows:
        raise NothingSelected()
    if len(rows) > limit:
        raise TooManyCodes(
            _("At most %(limit)s codes can be revealed at once; select fewer or download a batch.") % {"limit": f"{limit:,}"}
        )
    if len(rows) > 1 or download:
        error = None
        if not password:
            error = PasswordRequired(field="password")
        elif not _second_factor_ok(actor=actor, secret=password):
            error = WrongPassword(field="password")
        if error is not None:
            _reveal_refusal(actor=actor, ip=ip, reason=reason, count=len(rows), error=error)
            raise error
    for guard in list(REVEAL_GUARDS):
        try:
            guard(actor=actor, count=len(rows), ip=ip)
        except DomainError as error:
            _reveal_refusal(actor=actor, ip=ip, reason=reason, count=len(rows), error=error)
            raise
    ring = vault.keyring()
    revealed = []
    for row in rows:
        try:
            plaintext = ring.open(ciphertext=row.ciphertext, key_id=row.key_id, blind_index=row.blind_index)
        except vault.VaultError:
            raise CodeUnreadable(code_id=row.pk) from None
        revealed.append(RevealedCode(code=row, plaintext=plaintext))
    mode = "download" if download else "screen"
    audit_record_many(
        actor=actor,
        action="codes.reveal",
        objects=rows,
        ip=ip,
        reason=reason,
        data_for=lambda code: {"hint": code.hint, "sku": code.sku.code, "batch": code.batch_id, "mode": mode, "count": len(rows)},
    )
    return revealed


def batches_reveal(*, batches, actor, reason: str, ip: str | None, password: str | None) -> list[RevealedCode]:
    """Every code of these batches, for a download (always needs the password again)."""
    batch_ids = [b.pk if isinstance(b, CodeBatch) else int(b) for b in batches]
    return codes_reveal(
        codes=CardCode.objects.filter(batch_id__in=batch_ids), actor=actor, reason=reason, ip=ip, password=password, download=True
    )


@sensitive_variables("code")
def code_lookup(*, code: str, actor, ip: str | None = None) -> CardCode:
    """Find a card code by its plaintext (blind index), without decrypting anything. Audited, masked."""
    # As stored (vault.normalize), and as a generated code is read (I/L as 1, O as 0).
    candidates = {form for form in (vault.normalize(code or ""), codegen.canonical(code or "")) if form}
    indexes = [vault.blind_index_of(form) for form in candidates]
    found = CardCode.objects.filter(blind_index__in=indexes).select_related("sku").first() if indexes else None
    audit_record(actor=actor, action="codes.lookup", obj=found or "card codes", ip=ip, data={"found": found is not None})
    if found is None:
        raise NotFound(_("No card code matches."), field="code")
    return found
