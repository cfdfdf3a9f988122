"""Readable labels of the audit action codes the redemption app writes (registered in RedemptionConfig.ready).

`code.reveal` / `code.reveal_refused` are also written by settlement (a buyer opening its order's codes);
one app owns each code, the lower one."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "merchant.create": _("Merchant created"),
    "merchant.clerk_link": _("Clerk linked to a merchant"),
    "merchant.sku_price": _("Merchant settlement price set"),
    "store.create": _("Store created"),
    "terminal.create": _("Terminal created"),
    "terminal.rotate_secret": _("Terminal secret rotated"),
    "terminal.revoke": _("Terminal revoked"),
    "redemption.reverse": _("Redemption reversed"),
    "holding.create": _("Codes handed to a holder"),
    "holding.gift": _("Code gifted"),
    "code.reveal": _("Code opened by its holder"),
    "code.reveal_refused": _("Code opening refused"),
    "reminders.unsubscribe": _("Expiry reminders turned off"),
    "reminders.resubscribe": _("Expiry reminders turned on"),
}
