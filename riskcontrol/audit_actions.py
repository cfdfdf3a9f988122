"""Readable labels of the audit action codes the risk control app writes (registered in RiskcontrolConfig.ready)."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "risk.review.approve": _("Risk review approved"),
    "risk.review.reject": _("Risk review rejected"),
    "risk.list.add": _("Added to a risk list"),
    "risk.alert.acknowledge": _("Risk alert acknowledged"),
    "risk.lockout.lift": _("Lockout lifted"),
    "auth.otp.enroll": _("Authenticator app set up"),
    "auth.otp.verify": _("Authenticator code confirmed"),
    "auth.otp.failed": _("Authenticator code wrong"),
    "auth.second_factor.ok": _("Second factor passed"),
    "auth.second_factor.failed": _("Second factor failed"),
}
