"""Supplier callbacks: verify, record, apply once, answer in the supplier's own form."""

import hashlib

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from supply.adapters.base import CallbackRejected, adapter_for
from supply.models import SupplyCallback, TopupAttempt, TopupEvent, Upstream
from supply.services.outcomes import Verdict
from supply.services.topups import attempt_answer_apply

# Why an adapter refused a callback (CallbackRejected.reason), as ops read it in the callback log.
REFUSALS = {
    "bad_signature": gettext_lazy("the signature does not match"),
    "stale_timestamp": gettext_lazy("its time is outside the accepted window"),
    "unknown_number": gettext_lazy("it names no order number of ours"),
    "unreadable": gettext_lazy("it could not be read"),
}


def _refusal_text(reason: str) -> str:
    return _("Refused: %(reason)s") % {"reason": REFUSALS.get(reason, reason)}


def _claimed_label(outcome: str) -> str:
    """The supplier's claimed outcome in words (an attempt status's label where it is one)."""
    return str(TopupAttempt.Status(outcome).label) if outcome in TopupAttempt.Status.values else outcome


def _outcome_text(verdict: Verdict, claimed: str) -> str:
    """What the callback did, for the people reading the callback log."""
    status = TopupAttempt.Status(verdict.status).label
    if verdict.contradicts:
        return _("Accepted, but it contradicts our record: they report %(claimed)s for an attempt we counted as failed.") % {
            "claimed": _claimed_label(claimed)
        }
    if verdict.changed:
        return _("Accepted: the attempt is now %(status)s.") % {"status": status}
    return _("Accepted, changed nothing: the attempt is %(status)s.") % {"status": status}


def callback_handle(
    *, upstream: Upstream, body: bytes, content_type: str, query: dict, headers: dict, ip: str | None
) -> tuple[int, str, bytes]:
    """Handle one callback; returns the HTTP answer (status, content type, body) the supplier expects.

    A forged or stale callback is refused and recorded (unverified). A duplicate or out-of-order one is
    accepted (so the supplier stops sending it), recorded as a duplicate and changes nothing."""
    adapter = adapter_for(upstream.protocol)
    record = SupplyCallback(upstream=upstream, body_digest=hashlib.sha256(body).hexdigest(), remote_ip=ip or None)
    try:
        result = adapter.callback_parse(upstream.connection(), body=body, content_type=content_type, query=query, headers=headers)
    except CallbackRejected as rejected:
        record.outcome = _refusal_text(rejected.reason)[:300]
        record.save()
        return adapter.callback_reply(accepted=False)
    record.verified = True
    attempt = TopupAttempt.objects.filter(number=result.number, upstream=upstream).only("pk").first()
    if attempt is None:
        record.outcome = (_("Refused: this supplier has no attempt numbered %(number)s.") % {"number": result.number})[:300]
        record.save()
        return adapter.callback_reply(accepted=False)
    verdict = attempt_answer_apply(attempt_id=attempt.pk, answer=result.answer, source=TopupEvent.Source.CALLBACK)
    record.attempt_id = attempt.pk
    record.duplicate = not verdict.changed
    record.outcome = _outcome_text(verdict, str(result.answer.outcome))[:300]
    record.save()
    return adapter.callback_reply(accepted=True)
