"""Idempotency keys for retryable writes: a replay gets the first answer, a different body is refused."""

import hashlib
import json

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from settlement.models import IdempotencyRecord
from voucherhub.core import prepared
from voucherhub.core.errors import Conflict, IdempotencyConflict


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    default_message = _("A request with this Idempotency-Key is still being processed; retry shortly.")


def request_hash(data) -> str:
    if isinstance(data, bytes):
        raw = data
    else:
        raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(raw).hexdigest()


def _stored(record: IdempotencyRecord, digest: str):
    if record.request_hash != digest:
        raise IdempotencyConflict(field="Idempotency-Key")
    if record.response is None:
        raise IdempotencyInProgress()
    return record.status_code, record.response


_CLAIM_SQL = (
    f"INSERT INTO {IdempotencyRecord._meta.db_table} (scope, key, request_hash, status_code, response, created_at)"
    " VALUES (%s, %s, %s, %s, {response}, %s) ON CONFLICT (scope, key) DO NOTHING RETURNING id"
)


def _record_claim(*, scope: str, key: str, digest: str, expected, read=None) -> tuple[int | None, list | None]:
    """Insert the (scope, key) record in the caller's transaction, with the answer expected if any;
    its id is None when it exists already. A concurrent request holding the same key uncommitted
    makes this wait for it to finish. On PostgreSQL `read` (sql, params) rides in the same statement;
    its rows come back (None: not read)."""
    status, body = expected if expected is not None else (None, None)
    response = json.dumps(body) if body is not None else None
    now = timezone.now()
    if connection.vendor == "postgresql":
        params = [scope, key, digest, status, response, now]
        claim = _CLAIM_SQL.format(response="%s::jsonb")
        if read is None:
            rows = prepared.run(claim, params)
            return (rows[0][0] if rows else None), None
        read_sql, read_params = read
        rows = prepared.run(
            f"WITH claim AS ({claim}) SELECT (SELECT id FROM claim), r.* FROM (SELECT 1) AS one "
            f"LEFT JOIN (SELECT TRUE AS found, x.* FROM ({read_sql}) AS x) AS r ON TRUE",
            params + list(read_params),
        )
        return rows[0][0], [row[2:] for row in rows if row[1]]
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL.format(response="%s"), [scope, key, digest, status, response, connection.ops.adapt_datetimefield_value(now)]
        )
        row = cursor.fetchone()
    return (row[0] if row else None), None


def idempotent_call(*, scope: str, key: str, digest: str, work, expected=None, read=None):
    """Run `work() -> (status_code, body)` once per (scope, key). Returns (status_code, body, replayed).

    The record is inserted in the same transaction as the work (first, so a fresh request costs no
    extra read): a concurrent request with the same key waits on the unique index and then reads the
    stored answer. Work that raises leaves no record (the transaction rolls back), so a retry after a
    refusal runs again. `expected`: the (status_code, body) the work will most likely answer, stored
    with the record at once; only a different answer costs an UPDATE. `read`: (sql, params) of a
    SELECT the work starts with; on PostgreSQL it runs in the record's statement and `work(rows)` gets
    its rows (one round trip less), elsewhere `work(None)` reads for itself. Without `read`, `work()`.
    `work` is given `record_id=` (the record just inserted) and may answer (status_code, body, True):
    it stored that answer in the record itself (riding on a statement of its own), so it is not written
    again.
    """
    try:
        with transaction.atomic():
            record_id, rows = _record_claim(scope=scope, key=key, digest=digest, expected=expected, read=read)
            if record_id is not None:
                answer = work(rows, record_id=record_id) if read is not None else work(record_id=record_id)
                status, body = answer[0], answer[1]
                stored = len(answer) > 2 and answer[2]
                if not stored and (status, body) != expected:
                    IdempotencyRecord.objects.filter(pk=record_id).update(status_code=status, response=body)
                return status, body, False
    except IntegrityError:
        # The work met a concurrent twin on another unique key: answer as the twin did, if it is stored.
        record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if record is None:
            raise
    else:
        record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if record is None:
            raise IdempotencyInProgress()
    status, body = _stored(record, digest)
    return status, body, True
