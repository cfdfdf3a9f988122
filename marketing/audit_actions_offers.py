"""Readable labels of the audit action codes the campaign services write (the ops branch registers them with
`audit_actions_register` in MarketingConfig.ready, beside its own)."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "marketing.campaign.create": _("Campaign created"),
    "marketing.campaign.change": _("Campaign changed"),
    "marketing.campaign.activate": _("Campaign activated"),
    "marketing.campaign.pause": _("Campaign paused"),
    "marketing.campaign.end": _("Campaign ended"),
    "marketing.campaign.bundle": _("Bundle components set"),
}
