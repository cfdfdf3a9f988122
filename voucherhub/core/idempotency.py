"""Idempotency keys of every retryable write (orders, redeem, reverse, payments, top-ups, withdrawals):
one model (voucherhub.core.IdempotencyRecord), one helper, one fingerprint. A replay gets the first answer.

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

Records copied from the apps' own tables of before (settlement's orders: an unkeyed SHA-256 of the body;
redemption's: its own HMAC) keep their fingerprint with `fingerprint_legacy` set; the caller that wrote them
passes `legacy_fingerprint`, computed only when such a record is met, so their replays are still recognised.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
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


def request_canonical(body: bytes, *, ignore: Iterable[str] = ()) -> str:
    """The body as its fingerprint sees it: JSON with sorted keys and no spaces (key order and whitespace
    do not matter), without the top-level keys in `ignore`; the raw bytes when the body is not JSON."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return (body or b"").decode("utf-8", "surrogateescape")
    ignored = set(ignore)
    if isinstance(data, dict) and ignored:
        data = {k: v for k, v in data.items() if k not in ignored}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_fingerprint(*, scope: str, body: bytes, ignore: Iterable[str] = ()) -> str:
    """Keyed HMAC-SHA256 of the canonical body (request_canonical). `ignore`: top-level fields that do not
    make a request another one (an order's challenge answer: the same order with or without it)."""
    return salted_hmac(f"voucherhub.core.idempotency:{scope}", request_canonical(body, ignore=ignore), algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict
    replayed: bool
    reference_id: int | None = None

    @property
    def headers(self) -> dict | None:
        return {REPLAYED_HEADER: "true"} if self.replayed else None


def idempotent_answer(
    *,
    scope: str,
    key: str,
    fingerprint: str,
    work: Callable[[], tuple],
    legacy_fingerprint: Callable[[], str] | None = None,
) -> Answer:
    """Run `work()` once per (scope, key) and keep its answer; a replay with the same fingerprint gets that
    answer back (nothing runs), another fingerprint IdempotencyConflict (409).

    `work() -> (status_code, body)` or `(status_code, body, reference_id)`: `body` is what is kept (and
    answered: a caller whose answer holds secrets keeps references and renders the answer from `Answer.body`
    each time); `reference_id` the row it is about, given back with a replay. `legacy_fingerprint()`: this
    request's fingerprint under the scheme of a record copied from before (see the module docstring)."""
    with transaction.atomic():
        record_id = _record_claim(scope=scope, key=key, fingerprint=fingerprint)
        if record_id is not None:
            status_code, body, *rest = work()
            reference_id = rest[0] if rest else None
            IdempotencyRecord.objects.filter(pk=record_id).update(status_code=status_code, response=body, reference_id=reference_id)
            return Answer(status_code=status_code, body=body, replayed=False, reference_id=reference_id)
    stored = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if stored is None:
        raise IdempotencyInProgress()  # the twin rolled back just now: a retry runs the work
    if stored.fingerprint != fingerprint and not (
        stored.fingerprint_legacy and legacy_fingerprint is not None and stored.fingerprint == legacy_fingerprint()
    ):
        raise IdempotencyConflict(field=IDEMPOTENCY_HEADER)
    return Answer(status_code=stored.status_code, body=stored.response, replayed=True, reference_id=stored.reference_id)


def _record_claim(*, scope: str, key: str, fingerprint: str) -> int | None:
    """Insert the (scope, key) record, its answer still to come, in the caller's transaction; None when the key
    is held by a committed twin (a running one makes the insert wait for it to end).

    PostgreSQL: `INSERT … ON CONFLICT DO NOTHING RETURNING id`, one statement, where the ORM needs a
    savepoint around its INSERT to survive the IntegrityError: two round trips less on every retryable write
    (an API order went from 28 to 26 statements). Elsewhere the ORM in a savepoint."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    scope=scope, key=key, fingerprint=fingerprint, status_code=0, response={}, created_at=now
                ).pk
        except IntegrityError:
            return None
    table = connection.ops.quote_name(IdempotencyRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scope, key, fingerprint, status_code, response, fingerprint_legacy, created_at)"
            " VALUES (%s, %s, %s, 0, '{}'::jsonb, FALSE, %s) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            [scope, key, fingerprint, now],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def idempotency_records_prune(*, scope_prefix: str, before) -> int:
    """Forget the records of scopes starting with `scope_prefix` created before `before`; the number deleted.
    Each app decides how long its keys replay (redemption: REDEMPTION_IDEMPOTENCY_DAYS)."""
    deleted, _by_model = IdempotencyRecord.objects.filter(scope__startswith=scope_prefix, created_at__lt=before).delete()
    return deleted
