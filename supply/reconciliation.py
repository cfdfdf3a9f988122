"""Reconciliation (对账): a supplier's statement file compared with our attempts at that supplier.

    statement_import(*, upstream, data, filename, actor, mode, period_start, period_end) -> StatementImport
    statement_difference_resolve(*, difference, actor, note) -> StatementDifference

A statement row is matched to our attempt by our number (the `<order>-A<n>` we sent), or else by their
number. The differences, most costly first:

* SUCCESS_REFUNDED: they say success (they charged us) but we refunded the buyer: the top-up ended failed, or
  the attempt is failed while the top-up succeeded elsewhere (topped up twice). Money lost unless ops act:
  ask the supplier to reverse it, or deliver to the buyer.
* AMOUNT: they charged another amount than the cost we recorded (the attempt's cost, or the product's).
* STATUS: any other disagreement on the outcome (they say failed, we say success ...).
* MISSING_OURS: a row whose number we never sent to them (failed rows are left out: they cost nothing).
* MISSING_THEIRS: an attempt we count as succeeded at that supplier within the statement's period (the
  operator's, or the first and last time in the file) that the file does not list.

A file with bad rows is refused as a whole in mode ALL (the report lists every bad row, nothing is compared),
or compared on its good rows in mode VALID. An unreadable file is recorded as rejected with the reason.
Every import and every resolution writes an audit row; costly differences raise a RECONCILIATION alert.
"""

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from supply import statement_files as files
from supply.models import StatementDifference, StatementImport, SupplyAlert, TopupAttempt, Upstream
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import Conflict, DomainError

Kind = StatementDifference.Kind
A = TopupAttempt.Status
# The attempt states a statement's outcome is compared with (their "processing" matches any working state).
OURS = {A.SUCCESS: files.SUCCESS, A.PARTIAL: files.PARTIAL, A.FAILED: files.FAILED}
CHARGED = {files.SUCCESS, files.PARTIAL}


class DifferenceResolved(Conflict):
    code = "difference_resolved"
    default_message = gettext_lazy("This difference was resolved already.")


class NoteRequired(DomainError):
    code = "note_required"
    default_message = gettext_lazy("Say what was done (a note is required).")


@dataclass
class _Compared:
    differences: list[StatementDifference]
    matched: int


def _attempts_for(upstream: Upstream, rows: list[files.StatementRow]) -> tuple[dict, dict]:
    ours = [r.our_number for r in rows if r.our_number]
    theirs = [r.their_number for r in rows if r.their_number]
    found = TopupAttempt.objects.filter(upstream=upstream).select_related("topup", "product")
    by_ours = {a.number: a for a in found.filter(number__in=ours)} if ours else {}
    by_theirs = {a.their_number: a for a in found.filter(their_number__in=theirs)} if theirs else {}
    return by_ours, by_theirs


def _our_amount(attempt: TopupAttempt) -> Decimal | None:
    if attempt.status not in (A.SUCCESS, A.PARTIAL):
        return None
    return attempt.cost if attempt.cost is not None else attempt.product.cost


def _difference(kind: str, row: files.StatementRow | None = None, attempt: TopupAttempt | None = None) -> StatementDifference:
    return StatementDifference(
        kind=kind,
        rank=StatementDifference.RANK[kind],
        row=row.row if row else None,
        attempt=attempt,
        topup=attempt.topup if attempt else None,
        our_number=attempt.number if attempt else (row.our_number if row else ""),
        their_number=(row.their_number if row and row.their_number else (attempt.their_number if attempt else "")),
        our_amount=_our_amount(attempt) if attempt else None,
        their_amount=row.amount if row else None,
        our_status=attempt.status if attempt else "",
        their_status=row.status if row else "",
    )


def _row_kind(row: files.StatementRow, attempt: TopupAttempt) -> str | None:
    """The difference a matched row makes, or None when we agree."""
    ours = OURS.get(attempt.status, files.PROCESSING)
    if row.status in CHARGED and ours == files.FAILED:
        return Kind.SUCCESS_REFUNDED
    if row.status != ours:
        return Kind.STATUS
    our_amount = _our_amount(attempt)
    if row.status in CHARGED and our_amount is not None and our_amount != row.amount:
        return Kind.AMOUNT
    return None


def _missing_theirs(upstream: Upstream, seen: set[int], start, end) -> list[StatementDifference]:
    if start is None or end is None:
        return []
    succeeded = (
        TopupAttempt.objects.filter(upstream=upstream, status__in=[A.SUCCESS, A.PARTIAL], submitted_at__gte=start, submitted_at__lte=end)
        .exclude(pk__in=seen)
        .select_related("topup", "product")
        .order_by("pk")
    )
    return [_difference(Kind.MISSING_THEIRS, attempt=a) for a in succeeded]


def _compare(upstream: Upstream, rows: list[files.StatementRow], start, end) -> _Compared:
    by_ours, by_theirs = _attempts_for(upstream, rows)
    differences, seen = [], set()
    for row in rows:
        attempt = by_ours.get(row.our_number) if row.our_number else None
        attempt = attempt or (by_theirs.get(row.their_number) if row.their_number else None)
        if attempt is None:
            if row.status != files.FAILED:
                differences.append(_difference(Kind.MISSING_OURS, row))
            continue
        seen.add(attempt.pk)
        kind = _row_kind(row, attempt)
        if kind is not None:
            differences.append(_difference(kind, row, attempt))
    differences += _missing_theirs(upstream, seen, start, end)
    return _Compared(differences=differences, matched=len(seen))


def _rejected(upstream, filename, sha256, *, mode, actor, message) -> StatementImport:
    return StatementImport.objects.create(
        upstream=upstream,
        filename=filename[:200],
        file_sha256=sha256,
        mode=mode,
        status=StatementImport.Status.REJECTED,
        message=str(message)[:300],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def statement_import(
    *, upstream: Upstream, data: bytes, filename: str, actor, mode: str = StatementImport.Mode.ALL, period_start=None, period_end=None
) -> StatementImport:
    """Read a supplier's statement and record its differences with our attempts (see the module's docstring).
    Returns the import, also when the file was refused (its status and `errors` say why)."""
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        statement = files.statement_read(data, filename=filename, protocol=upstream.protocol)
    except files.StatementFileRejected as exc:
        imported = _rejected(upstream, filename, sha256, mode=mode, actor=actor, message=exc.message)
        _audit(imported, actor)
        return imported
    first, last = statement.period()
    start, end = period_start or first, period_end or last
    refused = bool(statement.bad) and mode == StatementImport.Mode.ALL
    with transaction.atomic():
        imported = StatementImport.objects.create(
            upstream=upstream,
            filename=filename[:200],
            file_sha256=sha256,
            file_format=statement.format,
            mode=mode,
            status=StatementImport.Status.REFUSED if refused else StatementImport.Status.DONE,
            period_start=start,
            period_end=end,
            total_rows=statement.total,
            bad_rows=len({b.row for b in statement.bad}),
            errors=[b.as_dict() for b in statement.bad],
            their_total=sum((r.amount for r in statement.rows if r.status in CHARGED), Decimal("0.00")),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        if not refused:
            _record(imported, _compare(upstream, statement.rows, start, end))
        _audit(imported, actor)
    return imported


def _record(imported: StatementImport, compared: _Compared) -> None:
    for difference in compared.differences:
        difference.statement = imported
    StatementDifference.objects.bulk_create(compared.differences, batch_size=1000)
    imported.matched_rows = compared.matched
    if imported.period_start is None:
        imported.message = _("No period (no times in the file): attempts missing on their side were not looked for.")
    imported.save(update_fields=["matched_rows", "message"])
    costly = sum(1 for d in compared.differences if d.kind == Kind.SUCCESS_REFUNDED)
    if costly:
        SupplyAlert.objects.create(
            upstream=imported.upstream,
            kind=SupplyAlert.Kind.RECONCILIATION,
            message=_("Statement %(file)s: %(n)s order(s) they charged for that we refunded.")
            % {"file": imported.filename[:120], "n": costly},
        )


def _audit(imported: StatementImport, actor) -> None:
    audit_record(
        actor=actor,
        action="supply.statement.import",
        obj=imported,
        data={
            "upstream": imported.upstream_id,
            "status": imported.status,
            "rows": imported.total_rows,
            "bad_rows": imported.bad_rows,
            "sha256": imported.file_sha256,
        },
    )


@transaction.atomic
def statement_difference_resolve(*, difference: StatementDifference, actor, note: str) -> StatementDifference:
    """Mark a difference resolved with what was done. Raises NoteRequired, DifferenceResolved."""
    note = (note or "").strip()
    if not note:
        raise NoteRequired(field="note")
    locked = StatementDifference.objects.select_for_update().get(pk=difference.pk)
    if locked.resolved_at is not None:
        raise DifferenceResolved()
    locked.resolved_at, locked.resolved_by, locked.note = timezone.now(), actor, note[:500]
    locked.save(update_fields=["resolved_at", "resolved_by", "note"])
    audit_record(
        actor=actor,
        action="supply.statement.resolve",
        obj=locked,
        reason=note,
        data={"statement": locked.statement_id, "kind": locked.kind, "number": locked.our_number or locked.their_number},
    )
    return locked


def statement_summary(imported: StatementImport) -> dict[str, int]:
    """Open differences per kind (in rank order), for the statement page."""
    counts = {kind: 0 for kind in StatementDifference.RANK}
    for kind in imported.differences.filter(resolved_at__isnull=True).values_list("kind", flat=True):
        counts[kind] += 1
    return counts
