"""Readable labels of the audit action codes supply writes (registered in SupplyConfig.ready)."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "supply.topup.resubmit": _("Held top-up resubmitted"),
    "supply.topup.refund": _("Held top-up refunded"),
    "supply.upstream.demote": _("Supplier demoted"),
    "supply.upstream.pause": _("Supplier paused"),
    "supply.upstream.restore": _("Supplier restored"),
}
