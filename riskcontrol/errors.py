"""Domain errors of risk control. Views and API views turn them into messages or 4xx bodies."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from voucherhub.core.errors import Conflict, DomainError


class RiskError(DomainError):
    code = "risk_error"


class RiskBlocked(RiskError):
    code = "risk_blocked"
    status = 403
    default_message = _("This request was refused by risk control.")

    def __init__(self, message=None, *, decision=None, **details):
        self.decision = decision
        if message is None and decision is not None and decision.reasons:
            message = "; ".join(decision.messages())
        super().__init__(message, **details)


class ChallengeRequired(RiskError):
    code = "challenge_required"
    status = 428
    default_message = _("Please complete the verification challenge and try again.")

    def __init__(self, message=None, *, decision=None, **details):
        self.decision = decision
        super().__init__(message, **details)


class LockedOut(RiskError):
    """Too many failures from a source: it must wait `retry_after` seconds."""

    code = "locked_out"
    status = 429

    def __init__(self, message=None, *, retry_after: int = 60, **details):
        self.retry_after = max(1, int(retry_after))
        if message is None:
            minutes = max(1, (self.retry_after + 59) // 60)
            message = ngettext(
                "Too many failed attempts. Try again in %(minutes)d minute.",
                "Too many failed attempts. Try again in %(minutes)d minutes.",
                minutes,
            ) % {"minutes": minutes}
        super().__init__(message, retry_after=self.retry_after, **details)


class ChallengeRateLimited(RiskError):
    """An address asked for more challenges than RISK_CHALLENGES_PER_MINUTE: it waits `retry_after` seconds."""

    code = "too_many_challenges"
    status = 429

    def __init__(self, message=None, *, retry_after: int = 60, **details):
        self.retry_after = max(1, int(retry_after))
        if message is None:
            message = ngettext(
                "Too many verification pictures were asked for from your address. Try again in %(seconds)d second.",
                "Too many verification pictures were asked for from your address. Try again in %(seconds)d seconds.",
                self.retry_after,
            ) % {"seconds": self.retry_after}
        super().__init__(message, retry_after=self.retry_after, **details)


class RevealLimitExceeded(RiskError):
    code = "reveal_limit"
    status = 429

    def __init__(self, message=None, *, limit: int = 0, retry_after: int = 3600, **details):
        self.limit = limit
        self.retry_after = retry_after
        if message is None:
            message = ngettext(
                "You may reveal at most %(limit)d code per hour. Try again later or ask another operator.",
                "You may reveal at most %(limit)d codes per hour. Try again later or ask another operator.",
                limit,
            ) % {"limit": limit}
        super().__init__(message, limit=limit, retry_after=retry_after, **details)


class ReviewAlreadyDecided(Conflict):
    code = "review_decided"
    default_message = _("This event was already decided.")


class NotUnderReview(Conflict):
    code = "not_under_review"
    default_message = _("This event is not waiting for review.")
