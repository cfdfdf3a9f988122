"""Marketing's domain errors: each names the field a page or API shows it on."""

from django.utils.translation import gettext_lazy as _

from voucherhub.core.errors import Conflict, DomainError, PermissionDenied


class CampaignError(DomainError):
    code = "campaign_error"
    default_message = _("This campaign offer cannot be used.")


class CampaignNotLive(CampaignError):
    code = "campaign_not_live"
    default_message = _("This campaign is not running now.")


class SoldOut(Conflict):
    code = "sold_out"
    default_message = _("Sold out: every place in this flash sale is taken.")


class LimitReached(Conflict):
    code = "limit_reached"
    default_message = _("You have reached this campaign's limit.")


class UnderReview(Conflict):
    """Risk control sent the action to review: nothing was handed out (its counters were given back)."""

    code = "under_review"
    default_message = _("This request is under review by our staff, so nothing was given out now. Please try again later.")


class BudgetExhausted(Conflict):
    code = "budget_exhausted"
    default_message = _("This campaign's budget is used up.")


class CouponInvalid(CampaignError):
    code = "coupon_invalid"
    default_message = _("This coupon cannot be used for this order.")


class GroupFull(Conflict):
    code = "group_full"
    default_message = _("This group is already full.")


class SignInRequired(PermissionDenied):
    code = "sign_in_required"
    default_message = _("Sign in with your mobile number first.")


class CodeRejected(DomainError):
    code = "code_rejected"
    default_message = _("The code is wrong or has expired.")


class TooManyRequests(DomainError):
    code = "too_many_requests"
    status = 429
    default_message = _("Too many requests. Please wait a moment and try again.")


class CampaignInvalid(CampaignError):
    """A campaign's settings break its kind's rules; `errors` maps every bad field to its message."""

    code = "campaign_invalid"
    default_message = _("Please correct the campaign's settings.")

    def __init__(self, errors: dict, **details):
        self.errors = {name: str(message) for name, message in errors.items()}
        first = next(iter(self.errors.items()), (None, None))
        super().__init__(first[1], field=first[0], **details)

    def as_fields(self) -> dict:
        return {name: [message] for name, message in self.errors.items()}
