"""Readable labels of the audit action codes settlement writes (registered in SettlementConfig.ready).

Settlement also writes `code.reveal`, whose label the redemption app owns."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "order.refund": _("Order refunded"),
    "order.code_replace": _("Order code replaced"),
    "order.lookup_failed": _("Order lookup failed"),
    "order.lookup_locked": _("Order lookup locked"),
    "payment.confirm": _("Payment confirmed"),
    "payment.amount_mismatch": _("Payment amount mismatch"),
    "refund.payout": _("Refund paid out"),
    "wallet.topup": _("Wallet topped up"),
    "wallet.credit_limit": _("Credit limit changed"),
    "withdrawal.request": _("Withdrawal requested"),
    "withdrawal.approve": _("Withdrawal approved"),
    "withdrawal.reject": _("Withdrawal rejected"),
    "statement.reconcile": _("Statement reconciled"),
    "merchant_statement.reconcile": _("Merchant statement reconciled"),
    "export.start": _("Export started"),
    "export.retry": _("Export retried"),
    "aftersales.report": _("After-sales case reported"),
    "aftersales.replaced": _("After-sales case: code replaced"),
    "aftersales.refunded": _("After-sales case: refunded"),
    "aftersales.rejected": _("After-sales case: rejected"),
    "aftersales.masked": _("After-sales case: card codes masked in its text"),
}
