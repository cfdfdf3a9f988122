"""django-import-export resources for finance's admin exports (normal sizes; big ranges use the streaming
export job). Export only: money is never imported. Card codes appear at most as their masked hint."""

from import_export import fields, resources

from settlement.models import CommissionAccrual, Entry, MerchantStatement, Order, Statement, Withdrawal


class ReadOnlyResource(resources.ModelResource):
    def import_data(self, *args, **kwargs):  # pragma: no cover - the admin offers no import
        raise NotImplementedError("settlement data is never imported")


class OrderResource(ReadOnlyResource):
    distributor = fields.Field(attribute="distributor__name", column_name="distributor")
    sku = fields.Field(attribute="sku__code", column_name="sku")

    class Meta:
        model = Order
        fields = (
            "number", "created_at", "channel", "distributor", "storefront", "sku", "quantity", "unit_price", "total", "currency",
            "pay_method", "status", "hold", "refunded_quantity", "refunded_amount", "paid_at", "delivered_at", "campaign", "referrer",
            "customer_ref",
        )  # fmt: skip
        export_order = fields

    def get_queryset(self):
        return Order.objects.select_related("distributor", "sku")


class EntryResource(ReadOnlyResource):
    transfer_kind = fields.Field(attribute="transfer__kind", column_name="kind")
    reference = fields.Field(attribute="transfer__reference", column_name="reference")
    order = fields.Field(attribute="transfer__order__number", column_name="order")
    account_kind = fields.Field(attribute="account__kind", column_name="account_kind")
    distributor = fields.Field(attribute="account__wallet__distributor__name", column_name="distributor")
    memo = fields.Field(attribute="transfer__memo", column_name="memo")

    class Meta:
        model = Entry
        fields = ("id", "created_at", "transfer", "transfer_kind", "reference", "order", "account", "account_kind", "distributor",
                  "currency", "amount", "balance_after", "memo")  # fmt: skip
        export_order = fields

    def get_queryset(self):
        return Entry.objects.select_related("transfer", "transfer__order", "account", "account__wallet__distributor")


class CommissionResource(ReadOnlyResource):
    order = fields.Field(attribute="order__number", column_name="order")
    beneficiary = fields.Field(attribute="wallet__distributor__name", column_name="beneficiary")

    class Meta:
        model = CommissionAccrual
        fields = ("order", "created_at", "beneficiary", "depth", "amount", "clawed_back", "status", "release_after", "released_at", "rule")
        export_order = fields

    def get_queryset(self):
        return CommissionAccrual.objects.select_related("order", "wallet__distributor")


class StatementResource(ReadOnlyResource):
    distributor = fields.Field(attribute="wallet__distributor__name", column_name="distributor")

    class Meta:
        model = Statement
        fields = (
            "number", "distributor", "kind", "period_start", "period_end", "currency", "opening_balance", "topups", "purchases", "refunds",
            "closing_balance", "commission_opening", "commission_earned", "commission_released", "commission_clawed_back", "withdrawals",
            "commission_closing", "debt_closing", "order_count", "campaign_discounts", "status", "reconciled_at",
        )  # fmt: skip
        export_order = fields


class WithdrawalResource(ReadOnlyResource):
    distributor = fields.Field(attribute="wallet__distributor__name", column_name="distributor")

    class Meta:
        model = Withdrawal
        fields = (
            "number",
            "created_at",
            "distributor",
            "amount",
            "fee",
            "net",
            "payee",
            "status",
            "decided_at",
            "payout_reference",
            "note",
        )
        export_order = fields


class MerchantStatementResource(ReadOnlyResource):
    merchant = fields.Field(attribute="merchant__name", column_name="merchant")

    class Meta:
        model = MerchantStatement
        fields = (
            "number", "merchant", "kind", "period_start", "period_end", "currency", "redemption_count", "reversed_count", "amount_used",
            "amount_owed", "status", "reconciled_at",
        )  # fmt: skip
        export_order = fields

    def get_queryset(self):
        return MerchantStatement.objects.select_related("merchant")
