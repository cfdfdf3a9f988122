"""Readable labels of the audit action codes the risk control app writes (registered in RiskcontrolConfig.ready)."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "risk.review.approve": _("Risk review approved"),
    "risk.review.reject": _("Risk review rejected"),
    "risk.rule.create": _("Risk rule created"),
    "risk.rule.change": _("Risk rule changed"),
    "risk.rule.delete": _("Risk rule deleted"),
    "risk.rule.activate": _("Risk rule activated"),
    "risk.rule.deactivate": _("Risk rule deactivated"),
    "risk.list.create": _("Risk list created"),
    "risk.list.change": _("Risk list changed"),
    "risk.list.delete": _("Risk list deleted"),
    "risk.list.add": _("Added to a risk list"),
    "risk.list.entry_change": _("Risk list entry changed"),
    "risk.list.remove": _("Removed from a risk list"),
    "risk.settings.change": _("Risk settings changed"),
    "risk.alert.acknowledge": _("Risk alert acknowledged"),
    "risk.lockout.lift": _("Lockout lifted"),
    "auth.otp.enroll": _("Authenticator app set up"),
    "auth.otp.verify": _("Authenticator code confirmed"),
    "auth.otp.failed": _("Authenticator code wrong"),
    "auth.second_factor.ok": _("Second factor passed"),
    "auth.second_factor.failed": _("Second factor failed"),
}
