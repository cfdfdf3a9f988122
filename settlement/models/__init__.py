"""Settlement models: the ledger, orders, payments, commission, withdrawals, statements, exports, webhooks."""

from settlement.models.aftersales import CodeIssue
from settlement.models.commission import CommissionAccrual, Withdrawal
from settlement.models.exports import ExportJob
from settlement.models.ledger import Account, Entry, Transfer, Wallet
from settlement.models.merchant_statements import MerchantStatement, MerchantStatementLine
from settlement.models.orders import Order, OrderEvent, OrderItem
from settlement.models.payments import Payment, PaymentCallback
from settlement.models.refunds import RefundPayout
from settlement.models.releases import CommissionReleaseLine
from settlement.models.statements import Statement
from settlement.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Account",
    "CodeIssue",
    "CommissionAccrual",
    "CommissionReleaseLine",
    "Entry",
    "ExportJob",
    "MerchantStatement",
    "MerchantStatementLine",
    "Order",
    "OrderEvent",
    "OrderItem",
    "Payment",
    "PaymentCallback",
    "RefundPayout",
    "Statement",
    "Transfer",
    "Wallet",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Withdrawal",
]
