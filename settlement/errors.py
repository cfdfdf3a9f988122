"""Settlement's domain errors: each has a stable code for API clients and a message for people."""

from django.utils.translation import gettext_lazy as _

from catalog.allocation import OutOfStock  # noqa: F401 (defined where codes are allocated; raised by orders too)
from voucherhub.core.errors import Conflict, DomainError, NotFound


class SettlementError(DomainError):
    code = "settlement_error"


class Unbalanced(SettlementError):
    code = "unbalanced_transfer"
    default_message = _("A transfer's entries must sum to zero in each currency.")


class InsufficientFunds(SettlementError):
    code = "insufficient_funds"
    status = 402
    default_message = _("The wallet balance (with its credit limit) does not cover this amount.")


class LimitBreached(SettlementError):
    code = "account_limit"
    default_message = _("This would take an account past its limit.")


class InvalidOrderTransition(Conflict):
    code = "invalid_transition"
    default_message = _("The order cannot change to that status from its current one.")


class OrderNotFound(NotFound):
    code = "order_not_found"
    default_message = _("No such order.")


class InvalidAmount(SettlementError):
    code = "invalid_amount"
    default_message = _("The amount is not valid.")


class WithdrawalRefused(SettlementError):
    code = "withdrawal_refused"


class WithdrawalConflict(Conflict):
    code = "withdrawal_conflict"
    default_message = _("This withdrawal was already decided differently.")


class StatementLocked(Conflict):
    code = "statement_reconciled"
    default_message = _("A reconciled statement cannot change.")


class PaymentRefused(SettlementError):
    code = "payment_refused"


class NothingToRefund(Conflict):
    code = "nothing_to_refund"
    default_message = _("There is nothing left to refund on this order.")


class LookupLocked(SettlementError):
    code = "lookup_locked"
    status = 429
    default_message = _("Too many attempts. Please try again later.")


class LookupFailed(SettlementError):
    code = "lookup_failed"
    status = 404
    default_message = _("No order matches this number, contact and lookup password.")


class RefundPayoutConflict(Conflict):
    code = "refund_payout_conflict"
    default_message = _("This refund was already paid out with another reference.")


class CodeNotReportable(SettlementError):
    code = "code_not_reportable"
    status = 409
    default_message = _("Only a delivered code that was not used can be reported.")


class IssueAlreadyOpen(Conflict):
    code = "issue_already_open"
    default_message = _("This code was already reported; we are looking into it.")


class PaymentAdapterUnavailable(SettlementError):
    code = "payment_adapter_unavailable"
    default_message = _("This payment method is not available.")
