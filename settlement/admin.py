"""Settlement in the admin: every money and status field is read-only; changes go through actions that
call services (refund, top-up, credit limit, withdrawal decisions, bank-transfer confirmation,
reconciliation). Exports (XLSX/CSV) through django-import-export for normal sizes; large ranges use the
streaming export job on the finance pages. Card codes appear only as their masked hint."""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import action

from settlement import resources
from settlement.models import (
    CodeIssue,
    CommissionAccrual,
    Entry,
    ExportJob,
    MerchantStatement,
    MerchantStatementLine,
    Order,
    OrderEvent,
    OrderItem,
    Payment,
    PaymentCallback,
    RefundPayout,
    Statement,
    Transfer,
    Wallet,
    WebhookAttempt,
    WebhookDelivery,
    Withdrawal,
)
from settlement.services import aftersales as aftersales_services
from settlement.services import merchant_statements as merchant_statement_services
from settlement.services import orders as order_services
from settlement.services import payments as payment_services
from settlement.services import refund_payouts as refund_payout_services
from settlement.services import statements as statement_services
from settlement.services import wallets as wallet_services
from settlement.services import withdrawals as withdrawal_services
from voucherhub.core.admin_pages import admin_form_page
from voucherhub.core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from voucherhub.core.errors import DomainError


class ExportOnlyAdmin(ExportMixin, ReadOnlyAdmin):
    export_form_class = ExportForm


_form_page = partial(admin_form_page, template="admin/settlement/form_page.html")


# --- Orders -------------------------------------------------------------------------------------------


class OrderItemInline(ReadOnlyInline):
    model = OrderItem
    fields = ["code_hint", "state", "from_quota", "replaces", "changed_at"]
    readonly_fields = fields

    @admin.display(description=_("card code"))
    def code_hint(self, obj):
        return obj.code.hint


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields


class RefundForm(forms.Form):
    quantity = forms.IntegerField(label=_("Codes to refund"), min_value=1, required=False, help_text=_("Empty: every unredeemed code."))
    reason = forms.CharField(label=_("Reason"), max_length=300)


@admin.register(Order)
class OrderAdmin(ExportOnlyAdmin):
    resource_classes = [resources.OrderResource]
    list_display = ["number", "created_at", "channel", "distributor", "sku", "quantity", "total", "status", "hold"]
    list_filter = ["status", "channel", "pay_method", "hold", "created_at"]
    search_fields = ["number", "customer_ref", "distributor__name", "topup_account"]
    date_hierarchy = "created_at"
    list_select_related = ["distributor", "sku"]
    exclude = ["contact_key", "lookup_password"]
    inlines = [OrderItemInline, OrderEventInline]
    actions_detail = ["refund"]

    def has_refund_permission(self, request, obj=None):
        return request.user.has_perm("settlement.refund_order")

    @action(description=_("Refund"), url_path="refund", permissions=["refund"])
    def refund(self, request, object_id):
        order = get_object_or_404(Order, pk=object_id)
        form = RefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                order_services.order_refund(
                    order=order, actor=request.user, reason=form.cleaned_data["reason"], quantity=form.cleaned_data["quantity"]
                )
            except DomainError as error:
                form.add_error("quantity" if error.field == "quantity" else None, str(error.message))
            else:
                messages.success(request, _("Refunded."))
                return redirect(reverse("admin:settlement_order_change", args=[order.pk]))
        return _form_page(
            request,
            self,
            title=_("Refund %(number)s") % {"number": order.number},
            form=form,
            obj=order,
            help_text=_("Unredeemed delivered codes are voided; commission is clawed back; the money goes back the way it came."),
        )


class ResolveForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=300, required=False, help_text=_("Recorded with the case and the order's history."))


class RejectCaseForm(forms.Form):
    note = forms.CharField(label=_("Why the report is rejected"), max_length=300)


@admin.register(CodeIssue)
class CodeIssueAdmin(ReadOnlyAdmin):
    """After-sales cases. Replace / Refund / Reject call the services (each checks its permission and
    does nothing to a case that is already closed)."""

    list_display = ["id", "created_at", "order", "code_hint", "reporter", "reason", "status", "resolved_by", "resolved_at"]
    list_filter = ["status", "reason", "reporter", "created_at"]
    search_fields = ["order__number", "code_hint"]
    list_select_related = ["order", "resolved_by"]
    date_hierarchy = "created_at"
    fields = [
        "order",
        "code_hint",
        "item_state",
        "reporter",
        "reported_by",
        "reason",
        "details",
        "status",
        "resolution_note",
        "replacement_hint",
        "resolved_by",
        "resolved_at",
        "created_at",
    ]
    readonly_fields = fields
    actions_detail = ["replace", "refund", "reject"]

    @admin.display(description=_("code state"))
    def item_state(self, obj):
        return obj.item.get_state_display()

    @admin.display(description=_("replacement code"))
    def replacement_hint(self, obj):
        return obj.replacement.code.hint if obj.replacement_id else "—"

    def has_replace_permission(self, request, obj=None):
        return request.user.has_perm(aftersales_services.REPLACE_PERMISSION)

    def has_refund_permission(self, request, obj=None):
        return request.user.has_perm(aftersales_services.REFUND_PERMISSION)

    def _resolve(self, request, object_id, *, form_class, service, title, help_text, done):
        case = get_object_or_404(CodeIssue, pk=object_id)
        back = redirect(reverse("admin:settlement_codeissue_change", args=[case.pk]))
        if not case.is_open:
            text = _("This case is already closed (%(status)s); nothing was changed.") % {"status": case.get_status_display()}
            messages.info(request, text)
            return back
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                service(case=case, actor=request.user, note=form.cleaned_data["note"])
            except DomainError as error:
                form.add_error("note" if error.field == "note" else None, str(error.message))
            else:
                messages.success(request, done)
                return back
        return _form_page(request, self, title=title % {"pk": case.pk, "hint": case.code_hint}, form=form, obj=case, help_text=help_text)

    @action(description=_("Replace the code"), url_path="replace", permissions=["replace"])
    def replace(self, request, object_id):
        return self._resolve(
            request,
            object_id,
            form_class=ResolveForm,
            service=aftersales_services.code_issue_replace,
            title=_("Replace code %(hint)s (case #%(pk)s)"),
            help_text=_("The reported code is voided and a new one is delivered to the buyer the way the first one was."),
            done=_("The code was replaced; the buyer has the new one."),
        )

    @action(description=_("Refund"), url_path="refund", permissions=["refund"])
    def refund(self, request, object_id):
        return self._resolve(
            request,
            object_id,
            form_class=ResolveForm,
            service=aftersales_services.code_issue_refund,
            title=_("Refund code %(hint)s (case #%(pk)s)"),
            help_text=_("The code is voided, its price goes back the way it came and the commission on it is clawed back."),
            done=_("The code was refunded."),
        )

    @action(description=_("Reject"), url_path="reject", permissions=["replace"])
    def reject(self, request, object_id):
        return self._resolve(
            request,
            object_id,
            form_class=RejectCaseForm,
            service=aftersales_services.code_issue_reject,
            title=_("Reject the report about %(hint)s (case #%(pk)s)"),
            help_text=_("Nothing changes on the code or the money; the buyer sees your note."),
            done=_("The report was rejected."),
        )


# --- Wallets and the ledger ----------------------------------------------------------------------------


class TopupForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), min_value=0, max_digits=12, decimal_places=2)
    reference = forms.CharField(label=_("Bank reference"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class CreditLimitForm(forms.Form):
    credit_limit = forms.DecimalField(label=_("Credit limit"), min_value=0, max_digits=12, decimal_places=2)
    reason = forms.CharField(label=_("Reason"), max_length=300)


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["distributor", "currency", "credit_limit", "created_at"]
    search_fields = ["distributor__name"]
    actions_detail = ["topup", "credit_limit_change"]

    def has_topup_permission(self, request, obj=None):
        return request.user.has_perm("settlement.topup_wallet")

    def has_credit_permission(self, request, obj=None):
        return request.user.has_perm("settlement.set_credit_limit")

    @action(description=_("Record a top-up"), url_path="topup", permissions=["topup"])
    def topup(self, request, object_id):
        wallet = get_object_or_404(Wallet, pk=object_id)
        form = TopupForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                wallet_services.wallet_topup_record(
                    wallet=wallet, amount=data["amount"], actor=request.user, reference=data["reference"], note=data["note"]
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(request, _("Top-up recorded."))
                return redirect(reverse("admin:settlement_wallet_change", args=[wallet.pk]))
        return _form_page(request, self, title=_("Top-up for %(name)s") % {"name": wallet.distributor}, form=form, obj=wallet)

    @action(description=_("Change the credit limit"), url_path="credit-limit", permissions=["credit"])
    def credit_limit_change(self, request, object_id):
        wallet = get_object_or_404(Wallet, pk=object_id)
        form = CreditLimitForm(request.POST or None, initial={"credit_limit": wallet.credit_limit})
        if request.method == "POST" and form.is_valid():
            try:
                wallet_services.wallet_credit_limit_set(
                    wallet=wallet, credit_limit=form.cleaned_data["credit_limit"], actor=request.user, reason=form.cleaned_data["reason"]
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(request, _("Credit limit changed."))
                return redirect(reverse("admin:settlement_wallet_change", args=[wallet.pk]))
        return _form_page(request, self, title=_("Credit limit of %(name)s") % {"name": wallet.distributor}, form=form, obj=wallet)


class EntryInline(ReadOnlyInline):
    model = Entry
    fields = ["account", "amount", "currency", "balance_after", "created_at"]
    readonly_fields = fields


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "kind", "reference", "order", "memo"]
    list_filter = ["kind", "created_at"]
    search_fields = ["reference", "order__number", "key"]
    inlines = [EntryInline]
    list_select_related = ["order"]


@admin.register(Entry)
class EntryAdmin(ExportOnlyAdmin):
    resource_classes = [resources.EntryResource]
    list_display = ["id", "created_at", "transfer", "account", "amount", "currency", "balance_after"]
    list_filter = ["account__kind", "transfer__kind", "currency"]
    search_fields = ["transfer__reference", "transfer__order__number"]
    date_hierarchy = "created_at"
    list_select_related = ["transfer", "account"]


# --- Payments --------------------------------------------------------------------------------------------


class ConfirmForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount received"), max_digits=12, decimal_places=2)
    bank_reference = forms.CharField(label=_("Bank reference"), max_length=100)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["number", "created_at", "purpose", "adapter", "order", "wallet", "amount", "status", "refunded_amount"]
    list_filter = ["status", "adapter", "purpose"]
    search_fields = ["number", "order__number", "provider_ref"]
    actions_detail = ["confirm"]

    def has_confirm_permission(self, request, obj=None):
        return request.user.has_perm("settlement.confirm_payment")

    @action(description=_("Confirm a bank transfer"), url_path="confirm", permissions=["confirm"])
    def confirm(self, request, object_id):
        payment = get_object_or_404(Payment, pk=object_id)
        form = ConfirmForm(request.POST or None, initial={"amount": payment.amount})
        if request.method == "POST" and form.is_valid():
            try:
                payment_services.payment_confirm_manual(
                    payment=payment,
                    actor=request.user,
                    amount=form.cleaned_data["amount"],
                    bank_reference=form.cleaned_data["bank_reference"],
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(request, _("Payment confirmed."))
                return redirect(reverse("admin:settlement_payment_change", args=[payment.pk]))
        return _form_page(request, self, title=_("Confirm %(number)s") % {"number": payment.number}, form=form, obj=payment)


@admin.register(PaymentCallback)
class PaymentCallbackAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "adapter", "event_id", "payment", "event_type", "amount", "outcome"]
    list_filter = ["outcome", "adapter", "event_type"]
    search_fields = ["event_id", "payment__number"]


class RefundPayoutForm(forms.Form):
    payout_reference = forms.CharField(label=_("Payout reference"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


@admin.register(RefundPayout)
class RefundPayoutAdmin(ReadOnlyAdmin):
    list_display = ["reference", "created_at", "order", "payment", "amount", "currency", "status", "payout_reference", "paid_by", "paid_at"]
    list_filter = ["status", "currency"]
    search_fields = ["reference", "order__number", "payment__number", "payout_reference"]
    list_select_related = ["order", "payment", "paid_by"]
    actions_detail = ["record_payout"]

    def has_payout_permission(self, request, obj=None):
        return request.user.has_perm("settlement.record_refund_payout")

    @action(description=_("Record the payout"), url_path="record-payout", permissions=["payout"])
    def record_payout(self, request, object_id):
        payout = get_object_or_404(RefundPayout, pk=object_id)
        form = RefundPayoutForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                refund_payout_services.refund_payout_record(
                    payout=payout,
                    actor=request.user,
                    payout_reference=form.cleaned_data["payout_reference"],
                    note=form.cleaned_data["note"],
                )
            except DomainError as error:
                form.add_error("payout_reference" if error.field == "payout_reference" else None, str(error.message))
            else:
                messages.success(request, _("Recorded."))
                return redirect(reverse("admin:settlement_refundpayout_change", args=[payout.pk]))
        return _form_page(request, self, title=_("Pay back %(reference)s") % {"reference": payout.reference}, form=form, obj=payout)


# --- Commission and withdrawals ---------------------------------------------------------------------------


@admin.register(CommissionAccrual)
class CommissionAccrualAdmin(ExportOnlyAdmin):
    resource_classes = [resources.CommissionResource]
    list_display = ["order", "wallet", "depth", "amount", "clawed_back", "status", "release_after", "released_at"]
    list_filter = ["status", "depth"]
    search_fields = ["order__number", "wallet__distributor__name"]
    list_select_related = ["order", "wallet__distributor"]


class ApproveForm(forms.Form):
    payout_reference = forms.CharField(label=_("Payout reference"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class RejectForm(forms.Form):
    note = forms.CharField(label=_("Reason"), max_length=300)


@admin.register(Withdrawal)
class WithdrawalAdmin(ExportOnlyAdmin):
    resource_classes = [resources.WithdrawalResource]
    list_display = ["number", "created_at", "wallet", "amount", "fee", "net", "status", "payout_reference", "decided_by"]
    list_filter = ["status"]
    search_fields = ["number", "wallet__distributor__name", "payout_reference"]
    exclude = ["request_key"]
    actions_detail = ["approve", "reject"]

    def has_decide_permission(self, request, obj=None):
        return request.user.has_perm("settlement.decide_withdrawal")

    @action(description=_("Approve and record the payout"), url_path="approve", permissions=["decide"])
    def approve(self, request, object_id):
        withdrawal = get_object_or_404(Withdrawal, pk=object_id)
        form = ApproveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                withdrawal_services.withdrawal_approve(
                    withdrawal=withdrawal,
                    actor=request.user,
                    payout_reference=form.cleaned_data["payout_reference"],
                    note=form.cleaned_data["note"],
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(request, _("Approved."))
                return redirect(reverse("admin:settlement_withdrawal_change", args=[withdrawal.pk]))
        return _form_page(request, self, title=_("Approve %(number)s") % {"number": withdrawal.number}, form=form, obj=withdrawal)

    @action(description=_("Reject"), url_path="reject", permissions=["decide"])
    def reject(self, request, object_id):
        withdrawal = get_object_or_404(Withdrawal, pk=object_id)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                withdrawal_services.withdrawal_reject(withdrawal=withdrawal, actor=request.user, note=form.cleaned_data["note"])
            except DomainError as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(request, _("Rejected."))
                return redirect(reverse("admin:settlement_withdrawal_change", args=[withdrawal.pk]))
        return _form_page(request, self, title=_("Reject %(number)s") % {"number": withdrawal.number}, form=form, obj=withdrawal)


# --- Statements, exports, webhooks -----------------------------------------------------------------------


@admin.register(Statement)
class StatementAdmin(ExportOnlyAdmin):
    resource_classes = [resources.StatementResource]
    list_display = ["number", "wallet", "kind", "period_start", "period_end", "closing_balance", "commission_closing", "status"]
    list_filter = ["status", "kind"]
    search_fields = ["number", "wallet__distributor__name"]
    actions = ["reconcile"]

    def has_reconcile_permission(self, request, obj=None):
        return request.user.has_perm("settlement.reconcile_statement")

    @admin.action(description=_("Mark selected statements reconciled"), permissions=["reconcile"])
    def reconcile(self, request, queryset):
        for statement in queryset:
            statement_services.statement_reconcile(statement=statement, actor=request.user)
        self.message_user(request, _("Reconciled."), messages.SUCCESS)


class MerchantStatementLineInline(ReadOnlyInline):
    model = MerchantStatementLine
    fields = ["store", "sku", "redemption_count", "reversed_count", "amount_used", "amount_owed"]
    readonly_fields = fields


@admin.register(MerchantStatement)
class MerchantStatementAdmin(ExportOnlyAdmin):
    resource_classes = [resources.MerchantStatementResource]
    list_display = ["number", "merchant", "kind", "period_start", "period_end", "currency", "redemption_count", "amount_owed", "status"]
    list_filter = ["status", "kind", "currency"]
    search_fields = ["number", "merchant__name"]
    list_select_related = ["merchant"]
    inlines = [MerchantStatementLineInline]
    actions = ["reconcile"]

    def has_reconcile_permission(self, request, obj=None):
        return request.user.has_perm("settlement.reconcile_merchantstatement")

    @admin.action(description=_("Mark selected statements reconciled"), permissions=["reconcile"])
    def reconcile(self, request, queryset):
        for statement in queryset:
            merchant_statement_services.merchant_statement_reconcile(statement=statement, actor=request.user)
        self.message_user(request, _("Reconciled."), messages.SUCCESS)


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "fmt", "status", "failure", "done_rows", "total_rows", "attempts", "created_by", "finished_at"]
    list_filter = ["status", "kind"]
    exclude = ["file_path"]


class WebhookAttemptInline(ReadOnlyInline):
    """Every try at sending the delivery, oldest first: the history the delivery row's "last" fields summarise."""

    model = WebhookAttempt
    fields = ["number", "started_at", "duration_ms", "status_code", "error", "next_attempt_at"]
    readonly_fields = fields
    ordering = ["number"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    inlines = [WebhookAttemptInline]
    list_display = ["created_at", "endpoint", "event", "order", "status", "attempts", "last_status_code", "delivered_at"]
    list_filter = ["status", "event"]
    search_fields = ["event_id", "order__number"]
