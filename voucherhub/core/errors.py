"""Domain errors. Services raise these; views turn them into form errors, API views into 4xx bodies."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A rule of the business was broken. `code` is stable for API clients; `message` is for people."""

    code = "domain_error"
    status = 400
    default_message = _("The request breaks a business rule.")

    def __init__(self, message=None, *, field: str | None = None, **details):
        self.message = message or self.default_message
        self.field = field
        self.details = details
        super().__init__(str(self.message))

    def as_fields(self) -> dict:
        return {self.field: [str(self.message)]} if self.field else {}


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    default_message = _("You may not do this.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _("The request conflicts with the current state.")


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = _("This Idempotency-Key was already used with a different request body.")
