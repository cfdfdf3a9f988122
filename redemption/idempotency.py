"""Idempotency keys for redeem and reverse: the first answer is kept per (caller, key) and replayed.

The fingerprint is a keyed HMAC of the request's meaning (never an unkeyed hash: a short imported code
inside a request could be recovered from one by trying every possibility).
"""

import json
from dataclasses import dataclass

from django.db import IntegrityError
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from redemption.models import IdempotencyRecord, Redemption
from voucherhub.core.errors import DomainError, IdempotencyConflict

MAX_KEY_LENGTH = 100


class IdempotencyKeyMissing(DomainError):
    code = "idempotency_key_required"
    status = 400
    default_message = _("An Idempotency-Key header (1 to 100 printable characters) is required.")


def key_checked(key: str | None) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyMissing(field="Idempotency-Key")
    return key


def fingerprint(action: str, data: dict) -> str:
    canonical = json.dumps({"action": action, **data}, sort_keys=True, default=str, ensure_ascii=False)
    return salted_hmac("redemption.idempotency", canonical, algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class Replay:
    status_code: int
    response: dict
    redemption_id: int | None


def replay_for(*, scope: str, key: str, request_hash: str) -> Replay | None:
    """The stored answer for this key, None when the key is new; IdempotencyConflict for another body."""
    record = IdempotencyRecord.objects.filter(scope=scope, key=key).only("request_hash", "status_code", "response", "redemption_id").first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyConflict(field="Idempotency-Key")
    return Replay(status_code=record.status_code, response=record.response, redemption_id=record.redemption_id)


def answer_store(
    *, scope: str, key: str, request_hash: str, status_code: int, response: dict, redemption: Redemption | None = None
) -> None:
    """Keep the answer, in the caller's transaction: a concurrent twin fails here and rolls its work back."""
    IdempotencyRecord.objects.create(
        scope=scope, key=key, request_hash=request_hash, status_code=status_code, response=response, redemption=redemption
    )


def is_key_race(exc: IntegrityError, *, scope: str, key: str) -> bool:
    return "redemption_idem_once" in str(exc) or IdempotencyRecord.objects.filter(scope=scope, key=key).exists()
