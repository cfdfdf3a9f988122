"""Domain errors of the channels app. Each has a stable `code` for API clients."""

from django.utils.translation import gettext_lazy as _

from voucherhub.core.errors import Conflict, DomainError, NotFound, PermissionDenied


class ChannelError(DomainError):
    code = "channel_error"


class TreeLoop(ChannelError):
    code = "tree_loop"
    default_message = _("A distributor cannot be placed under itself or under its own downline.")


class SelfAdoption(TreeLoop):
    code = "self_adoption"
    default_message = _("A distributor cannot be its own upline.")


class DistributorNotActive(ChannelError):
    code = "distributor_not_active"
    status = 403
    default_message = _("This distributor is not active.")


class NotInDownline(NotFound):
    code = "not_in_downline"
    default_message = _("No such distributor in your downline.")


class InvitationClosed(ChannelError):
    code = "invitation_closed"
    status = 410
    default_message = _("This invitation link can no longer be used.")


class LevelNotAllowed(ChannelError):
    code = "level_not_allowed"
    default_message = _("You cannot invite at a level above your own.")


class SkuNotAvailable(NotFound):
    code = "sku_not_available"
    default_message = _("This SKU is not in your catalog.")


class NoPrice(NotFound):
    code = "no_price"
    default_message = _("There is no price for this SKU at your level.")


class PriceBelowFloor(ChannelError):
    code = "price_below_floor"
    status = 422
    default_message = _("The retail price is below the price floor.")


class InvalidQuantity(ChannelError):
    code = "invalid_quantity"
    default_message = _("The quantity must be a whole number above zero.")


class QuotaExceeded(Conflict):
    code = "quota_exceeded"
    default_message = _("Not enough quota for this SKU.")


class ReturnExceedsDraw(Conflict):
    code = "return_exceeds_draw"
    default_message = _("More would be returned than was drawn under this reference.")


class CommissionDepthExceeded(ChannelError):
    code = "commission_depth_exceeded"
    default_message = _("Commission reaches at most three levels up (fewer when configured).")


class SlugTaken(Conflict):
    code = "slug_taken"
    default_message = _("This shop address is taken.")


class ApiKeyForbidden(PermissionDenied):
    code = "api_key_forbidden"
