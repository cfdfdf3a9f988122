"""Idempotency keys of the API's retryable writes, kept in PostgreSQL: a replay gets the first answer.

    key = idempotency_key_checked(request.headers.get(IDEMPOTENCY_HEADER))
    answer = idempotent_answer(
        scope=f"quota-transfer:{distributor.pk}", key=key,
        fingerprint=request_fingerprint(scope="quota-transfer", body=request.body),
        work=lambda: (201, OutputSerializer(services.thing_do(...)).data),
    )

The record is inserted first, in the transaction that does the work: a concurrent twin with the same key
waits on the unique index, then reads the committed answer. Work that raises leaves no record (the
transaction rolls back), so a retry after a refusal runs again. The stored answer survives a cache loss:
it is what a replay sent after Redis forgot the request's nonce gets (docs/api-signing.md).

The fingerprint is a keyed HMAC (SECRET_KEY) of the canonical request body, never an unkeyed hash: a short
secret inside a body could be recovered from an unkeyed one by trying every possibility.

(The order and redemption APIs keep their own records for now, settlement.IdempotencyRecord and
redemption.IdempotencyRecord; issue 14 moves them here.)
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from voucherhub.core.errors import Conflict, DomainError, IdempotencyConflict
from voucherhub.core.models import IdempotencyRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 100


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status = 400
    default_message = _("An Idempotency-Key header (1 to 100 printable characters) is required.")


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    default_message = _("A request with this Idempotency-Key is still being processed; retry shortly.")


def idempotency_key_checked(key: str | None) -> str:
    """The key as sent, or IdempotencyKeyRequired (400, field Idempotency-Key)."""
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyRequired(field=IDEMPOTENCY_HEADER)
    return key


def request_fingerprint(*, scope: str, body: bytes) -> str:
    """Keyed HMAC-SHA256 of the canonical body: JSON with sorted keys and no spaces (key order and
    whitespace do not matter), the raw bytes when the body is not JSON."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        canonical = (body or b"").decode("utf-8", "surrogateescape")
    return salted_hmac(f"voucherhub.core.idempotency:{scope}", canonical, algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict
    replayed: bool

    @property
    def headers(self) -> dict | None:
        return {REPLAYED_HEADER: "true"} if self.replayed else None


def idempotent_answer(*, scope: str, key: str, fingerprint: str, work: Callable[[], tuple[int, dict]]) -> Answer:
    """Run `work() -> (status_code, body)` once per (scope, key) and keep its answer; a replay with the same
    fingerprint gets that answer back (nothing runs), another fingerprint IdempotencyConflict (409)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(scope=scope, key=key, fingerprint=fingerprint, status_code=0, response={})
        except IntegrityError:
            record = None  # held by a committed twin (a running one made the insert wait for it)
        if record is not None:
            status_code, body = work()
            IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=status_code, response=body)
            return Answer(status_code=status_code, body=body, replayed=False)
    stored = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if stored is None:
        raise IdempotencyInProgress()  # the twin rolled back just now: a retry runs the work
    if stored.fingerprint != fingerprint:
        raise IdempotencyConflict(field=IDEMPOTENCY_HEADER)
    return Answer(status_code=stored.status_code, body=stored.response, replayed=True)


def idempotency_record(*, scope: str, key: str) -> IdempotencyRecord | None:
    """The stored record of (scope, key), or None (for a caller that must look at it after a conflict)."""
    return IdempotencyRecord.objects.filter(scope=scope, key=key).first()


def idempotency_records_prune(*, scope_prefix: str, before) -> int:
    """Forget the records of scopes starting with `scope_prefix` created before `before`; the number deleted.
    Each app decides how long its keys replay (redemption: REDEMPTION_IDEMPOTENCY_DAYS)."""
    deleted, _by_model = IdempotencyRecord.objects.filter(scope__startswith=scope_prefix, created_at__lt=before).delete()
    return deleted
