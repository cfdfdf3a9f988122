"""What a supplier's answer means for one attempt: pure decisions, no writes (the top-up services record them)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from supply import conf
from supply.adapters.base import Answer, Outcome
from supply.models import TopupAttempt, TopupEvent

AttemptStatus = TopupAttempt.Status


@dataclass(frozen=True)
class Verdict:
    status: str  # the attempt's status after the answer
    changed: bool  # the attempt's status moved
    upstream_id: int
    note: str = ""
    delivered_value: Decimal | None = None
    next_query_at: datetime | None = None
    contradicts: bool = False  # a final attempt we counted as failed, which the supplier says topped up

    @property
    def final(self) -> bool:
        return self.changed and self.status in TopupAttempt.FINAL


def _contradicts(attempt: TopupAttempt, answer: Answer) -> bool:
    return attempt.status == AttemptStatus.FAILED and answer.outcome in (Outcome.SUCCESS, Outcome.PARTIAL)


def _final(attempt: TopupAttempt, status: str, note: str, delivered: Decimal | None = None) -> Verdict:
    return Verdict(status=status, changed=True, upstream_id=attempt.upstream_id, note=note, delivered_value=delivered)


def _waiting(attempt: TopupAttempt, status: str, next_query_at: datetime, note: str) -> Verdict:
    return Verdict(status=status, changed=status != attempt.status, upstream_id=attempt.upstream_id, note=note, next_query_at=next_query_at)


def _partial(attempt: TopupAttempt, answer: Answer, now: datetime) -> Verdict:
    face = attempt.product.face_value
    delivered = answer.delivered_value
    if delivered is None:  # a part delivered, but how much? ask
        return _waiting(attempt, _open_status(attempt), now + conf.query_backoff(attempt.queries), "partial without a value")
    if delivered >= face:
        return _final(attempt, AttemptStatus.SUCCESS, "success", face)
    if delivered <= 0:
        return _final(attempt, AttemptStatus.FAILED, "failed: nothing delivered")
    return _final(attempt, AttemptStatus.PARTIAL, "partial", delivered)


def _open_status(attempt: TopupAttempt) -> str:
    """An answer that tells nothing: an accepted attempt stays PROCESSING, otherwise we do not know."""
    return AttemptStatus.PROCESSING if attempt.status == AttemptStatus.PROCESSING else AttemptStatus.UNKNOWN


def verdict_of(attempt: TopupAttempt, answer: Answer, *, source: str, now: datetime, submit_window: timedelta) -> Verdict:
    """Decide what `answer` does to `attempt` (read under its lock)."""
    if attempt.is_final:
        return Verdict(
            status=attempt.status,
            changed=False,
            upstream_id=attempt.upstream_id,
            note="conflict: they report a top-up we counted as failed"
            if _contradicts(attempt, answer)
            else "ignored: the attempt is already final",
            contradicts=_contradicts(attempt, answer),
        )
    outcome = answer.outcome
    if outcome == Outcome.SUCCESS:
        delivered = answer.delivered_value if answer.delivered_value is not None else attempt.product.face_value
        return _final(attempt, AttemptStatus.SUCCESS, "success", delivered)
    if outcome == Outcome.PARTIAL:
        return _partial(attempt, answer, now)
    if outcome in (Outcome.FAILED, Outcome.NO_BALANCE):
        return _final(attempt, AttemptStatus.FAILED, str(outcome))
    if outcome == Outcome.NOT_FOUND and source == TopupEvent.Source.QUERY and now - attempt.submitted_at >= submit_window:
        return _final(attempt, AttemptStatus.FAILED, "not found after the submit window")
    if outcome == Outcome.PROCESSING:
        wait = conf.query_backoff(attempt.queries) if source == TopupEvent.Source.QUERY else conf.processing_check()
        return _waiting(attempt, AttemptStatus.PROCESSING, now + wait, "processing")
    if outcome == Outcome.EXISTS:  # they have our number: ask them about it at once
        return _waiting(attempt, _open_status(attempt), now, "number exists: query")
    # UNKNOWN (timeout, 5xx, unreadable) and NOT_FOUND inside the submit window: ask again later
    return _waiting(attempt, _open_status(attempt), now + conf.query_backoff(attempt.queries), str(outcome))
