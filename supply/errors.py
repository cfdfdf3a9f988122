"""Supply's domain errors."""

from django.utils.translation import gettext_lazy as _

from voucherhub.core.errors import Conflict, DomainError


class SupplyError(DomainError):
    code = "supply_error"
    default_message = _("The top-up cannot be placed.")


class InvalidAccount(SupplyError):
    code = "invalid_account"
    default_message = _("This account cannot be topped up.")


class NoUpstream(SupplyError):
    code = "no_upstream"
    default_message = _("No supplier can top up this product at the moment.")


class TopupStateConflict(Conflict):
    code = "topup_state_conflict"
    default_message = _("The top-up is no longer in a state that allows this.")
