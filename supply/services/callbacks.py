"""Supplier callbacks: verify, record, apply once, answer in the supplier's own form."""

import hashlib

from supply.adapters.base import CallbackRejected, adapter_for
from supply.models import SupplyCallback, TopupAttempt, TopupEvent, Upstream
from supply.services.topups import attempt_answer_apply


def callback_handle(
    *, upstream: Upstream, body: bytes, content_type: str, query: dict, headers: dict, ip: str | None
) -> tuple[int, str, bytes]:
    """Handle one callback; returns the HTTP answer (status, content type, body) the supplier expects.

    A forged or stale callback is refused and recorded (unverified). A duplicate or out-of-order one is
    accepted (so the supplier stops sending it) and changes nothing."""
    adapter = adapter_for(upstream.protocol)
    record = SupplyCallback(upstream=upstream, body_digest=hashlib.sha256(body).hexdigest(), remote_ip=ip or None)
    try:
        result = adapter.callback_parse(upstream.connection(), body=body, content_type=content_type, query=query, headers=headers)
    except CallbackRejected as rejected:
        record.outcome = f"rejected: {rejected.reason}"[:300]
        record.save()
        return adapter.callback_reply(accepted=False)
    record.verified = True
    attempt = TopupAttempt.objects.filter(number=result.number, upstream=upstream).only("pk").first()
    if attempt is None:
        record.outcome = "unknown number"
        record.save()
        return adapter.callback_reply(accepted=False)
    verdict = attempt_answer_apply(attempt_id=attempt.pk, answer=result.answer, source=TopupEvent.Source.CALLBACK)
    record.attempt_id = attempt.pk
    record.duplicate = not verdict.changed
    record.outcome = f"{result.answer.outcome}: {verdict.note}"[:300]
    record.save()
    return adapter.callback_reply(accepted=True)
