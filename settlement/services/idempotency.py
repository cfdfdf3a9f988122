"""Idempotency keys for retryable writes: a replay gets the first answer, a different body is refused."""

import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from settlement.models import IdempotencyRecord
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


def idempotent_call(*, scope: str, key: str, digest: str, work):
    """Run `work() -> (status_code, body)` once per (scope, key). Returns (status_code, body, replayed).

    The record is inserted in the same transaction as the work: a concurrent request with the same key
    waits on the unique index and then reads the stored answer. Work that raises leaves no record (the
    transaction rolls back), so a retry after a refusal runs again.
    """
    record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if record is not None:
        status, body = _stored(record, digest)
        return status, body, True
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(scope=scope, key=key, request_hash=digest)
            status, body = work()
            record.status_code, record.response = status, body
            record.save(update_fields=["status_code", "response"])
            return status, body, False
    except IntegrityError:
        record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if record is None:
            raise
        status, body = _stored(record, digest)
        return status, body, True
