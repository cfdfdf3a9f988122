"""Readable labels of the audit action codes the channels app writes (registered in ChannelsConfig.ready)."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "distributor.create": _("Distributor created"),
    "distributor.move": _("Distributor moved in the tree"),
    "distributor.approve": _("Distributor approved"),
    "distributor.suspend": _("Distributor suspended"),
    "distributor.reactivate": _("Distributor reactivated"),
    "distributor.level": _("Distributor level changed"),
    "invitation.create": _("Invitation created"),
    "invitation.revoke": _("Invitation revoked"),
    "quota.allocate": _("Quota allocated"),
    "quota.revoke": _("Quota revoked"),
    "quota.transfer": _("Quota transferred"),
    "storefront.create": _("Storefront created"),
    "storefront.update": _("Storefront updated"),
    "apikey.issue": _("API key issued"),
    "apikey.update": _("API key updated"),
    "apikey.rotate": _("API key rotated"),
    "apikey.revoke": _("API key revoked"),
    "codesale.trace": _("Code sale traced"),
}
