"""The supply admin: suppliers' connections (secrets written, never shown back) and their products (the top-up
chains), top-up profiles; top-ups, callbacks, alerts, statements and replenishments are read-only, and
every change of state goes through an action that calls a service (hold queue, alerts, replenishment).
The ops pages (/supply/ops/) are where ops watch suppliers and work the hold queue."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from supply import ops_services, replenish
from supply.models import (
    Replenishment,
    StatementDifference,
    StatementImport,
    SupplyAlert,
    SupplyCallback,
    Topup,
    TopupAttempt,
    TopupEvent,
    TopupProfile,
    Upstream,
    UpstreamProduct,
)
from supply.ops_forms import HoldDecisionForm, UpstreamAdminForm
from voucherhub.core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip
from voucherhub.core.templatetags.vh_format import money_text, when_text

ACTION_FORM_TEMPLATE = "catalog/admin/action_form.html"  # the project's one admin action form page

# Every status has a colour: unfold shows a value missing here as it is stored.
_STRONG = {"success": "success", "partial": "warning", "failed": "danger", "on_hold": "danger", "unknown": "warning"}
TOPUP_COLORS = {str(status): _STRONG.get(str(status), "info") for status in Topup.Status}
UPSTREAM_COLORS = {str(Upstream.Status.ACTIVE): "success", str(Upstream.Status.PAUSED): "warning", str(Upstream.Status.DEMOTED): "danger"}


class ActionPageMixin:
    """An action that asks for a reason (and for a hold, a decision) before it calls the service."""

    def _action_page(self, request, *, form, title, submit_label, objects, action_name, selected, danger=False, intro=""):
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "intro": intro,
            "objects": list(objects),
            "submit_label": submit_label,
            "danger": danger,
            "action_name": action_name,
            "selected": list(selected),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist"),
        }
        return TemplateResponse(request, ACTION_FORM_TEMPLATE, context)


# --- Suppliers and their products ------------------------------------------------------------------


class UpstreamProductInline(TabularInline):
    model = UpstreamProduct
    fields = [
        "sku",
        "kind",
        "their_product_id",
        "face_value",
        "cost",
        "max_price",
        "position",
        "retries",
        "active",
        "replenish_below",
        "replenish_batch",
    ]
    autocomplete_fields = ["sku"]
    extra = 0
    tab = True


@admin.register(Upstream)
class UpstreamAdmin(ModelAdmin):
    """A supplier's connection. The secrets are sealed when typed and never shown back; the status changes on
    the supply page (demote and restore with a reason) or by itself (success rate)."""

    form = UpstreamAdminForm
    inlines = [UpstreamProductInline]
    list_display = ["supplier", "protocol", "status_badge", "balance_text", "low_balance_text", "balance_checked_at", "status_changed_at"]
    list_filter = ["protocol", "status"]
    search_fields = ["supplier__name", "app_key"]
    autocomplete_fields = ["supplier"]
    readonly_fields = ["secrets_state", "status_badge", "status_reason", "status_changed_at", "balance_text", "balance_checked_at"]
    fieldsets = [
        (None, {"fields": ["supplier", "protocol", "base_url", "app_key", "api_secret", "callback_secret", "secrets_state"]}),
        (_("Status"), {"fields": ["status_badge", "status_reason", "status_changed_at", "balance_text", "balance_checked_at"]}),
        (
            _("Limits"),
            {"fields": ["low_balance_threshold", "timeout_seconds", "success_rate_floor", "rate_window_minutes", "rate_min_attempts"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The secrets are sealed for this supplier: it cannot change under them.
        return [*self.readonly_fields, "supplier"] if obj is not None else self.readonly_fields

    @display(description=_("secrets"))
    def secrets_state(self, upstream: Upstream):
        return _("Set (sealed)") if upstream.secrets_key_id else _("Not set")

    @display(description=_("status"), ordering="status", label=UPSTREAM_COLORS)
    def status_badge(self, upstream: Upstream):
        return upstream.status, upstream.get_status_display()

    @display(description=_("balance"), ordering="balance")
    def balance_text(self, upstream: Upstream):
        return money_text(upstream.balance) if upstream.balance is not None else _("not read yet")

    @display(description=_("low-balance threshold"), ordering="low_balance_threshold")
    def low_balance_text(self, upstream: Upstream):
        return money_text(upstream.low_balance_threshold)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.secrets_changed:
            audit_record(
                actor=request.user, action="supply.upstream.secrets", obj=obj, ip=client_ip(request), data={"changed": form.secrets_changed}
            )


@admin.register(UpstreamProduct)
class UpstreamProductAdmin(ActionPageMixin, ModelAdmin):
    """The chains: a top-up SKU's suppliers in the order they are tried (position), each with its retries."""

    list_display = [
        "sku",
        "kind",
        "position",
        "upstream",
        "their_product_id",
        "face_value_text",
        "cost_text",
        "max_price_text",
        "retries",
        "active",
    ]
    list_display_links = ["their_product_id"]
    list_editable = ["position", "retries", "active"]
    list_filter = ["kind", "active", "upstream"]
    search_fields = ["sku__code", "sku__name", "their_product_id", "upstream__supplier__name"]
    autocomplete_fields = ["sku", "upstream"]
    ordering = ["sku__code", "kind", "position", "pk"]
    actions = ["replenish_now"]

    @display(description=_("face value"), ordering="face_value")
    def face_value_text(self, product: UpstreamProduct):
        return money_text(product.face_value)

    @display(description=_("cost"), ordering="cost")
    def cost_text(self, product: UpstreamProduct):
        return money_text(product.cost)

    @display(description=_("maximum price"), ordering="max_price")
    def max_price_text(self, product: UpstreamProduct):
        return money_text(product.max_price) or "—"

    @admin.action(description=_("Buy cards now for the selected card products"), permissions=["change"])
    def replenish_now(self, request, queryset):
        products = list(queryset.filter(kind=UpstreamProduct.Kind.CARD).select_related("sku", "upstream__supplier"))
        started = 0
        for product in products:
            try:
                replenish.replenishment_start(product=product, actor=request.user)
                started += 1
            except DomainError as exc:
                self.message_user(request, f"{product}: {exc.message}", messages.WARNING)
        self.message_user(request, ngettext("%(n)d replenishment started.", "%(n)d replenishments started.", started) % {"n": started})


@admin.register(TopupProfile)
class TopupProfileAdmin(ModelAdmin):
    list_display = ["sku", "account_kind", "on_exhausted"]
    list_filter = ["account_kind", "on_exhausted"]
    search_fields = ["sku__code", "sku__name"]
    autocomplete_fields = ["sku"]


# --- Top-ups -----------------------------------------------------------------------------------------


class TopupAttemptInline(ReadOnlyInline):
    model = TopupAttempt
    fields = ["number", "upstream", "status", "their_number", "their_status", "message", "cost", "submitted_at", "finished_at", "queries"]
    readonly_fields = fields
    tab = True


class TopupEventInline(ReadOnlyInline):
    model = TopupEvent
    fields = ["at", "from_status", "to_status", "source", "attempt", "actor", "note"]
    readonly_fields = fields
    tab = True


@admin.register(Topup)
class TopupAdmin(ActionPageMixin, ReadOnlyAdmin):
    """Top-ups as they happened. A held one (压单) is resubmitted or refunded through the actions below or the
    hold queue (/supply/ops/holds/), always with a reason; the services write the event and the audit row."""

    list_display = [
        "reference",
        "sku",
        "account",
        "face_value_text",
        "status_badge",
        "upstream",
        "attempts_count",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "upstream"]
    search_fields = ["=reference", "account", "attempts__number", "attempts__their_number"]
    date_hierarchy = "created_at"
    inlines = [TopupAttemptInline, TopupEventInline]
    actions = ["hold_decide"]
    fields = ["reference", "sku", "account", "region", "face_value", "status", "delivered_value", "cost", "upstream", "attempts_count"]

    def has_hold_permission(self, request) -> bool:
        return request.user.has_perm("supply.change_topup")

    @display(description=_("face value"), ordering="face_value")
    def face_value_text(self, topup: Topup):
        return money_text(topup.face_value)

    @display(description=_("status"), ordering="status", label=TOPUP_COLORS)
    def status_badge(self, topup: Topup):
        return topup.status, topup.get_status_display()

    @admin.action(description=_("Resubmit or refund the selected held top-ups"), permissions=["hold"])
    def hold_decide(self, request, queryset):
        held = list(queryset.filter(status=Topup.Status.ON_HOLD).select_related("sku"))
        if not held:
            self.message_user(request, _("None of the selected top-ups is on hold."), messages.WARNING)
            return None
        submitted = request.method == "POST" and "apply" in request.POST
        form = HoldDecisionForm(request.POST if submitted else None, sku=held[0].sku if len({t.sku_id for t in held}) == 1 else None)
        if submitted and form.is_valid():
            done = 0
            for topup in held:
                try:
                    ops_services.hold_decide(topup=topup, actor=request.user, **form.cleaned_data)
                    done += 1
                except DomainError as exc:
                    self.message_user(request, f"{topup.reference}: {exc.message}", messages.ERROR)
            self.message_user(request, ngettext("%(n)d held top-up decided.", "%(n)d held top-ups decided.", done) % {"n": done})
            return HttpResponseRedirect(request.get_full_path())
        return self._action_page(
            request,
            form=form,
            title=_("Decide held top-ups"),
            submit_label=_("Apply"),
            objects=[f"{t.reference} · {t.sku} · {money_text(t.face_value)}" for t in held],
            action_name="hold_decide",
            selected=[t.pk for t in held],
            intro=_("Resubmit sends each top-up to the chosen supplier as a new attempt; refund gives the buyer the money back."),
        )


@admin.register(SupplyCallback)
class SupplyCallbackAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "upstream", "attempt", "verified", "duplicate", "outcome", "remote_ip"]
    list_filter = ["verified", "duplicate", "upstream"]
    search_fields = ["attempt__number", "body_digest", "=remote_ip"]
    date_hierarchy = "received_at"


@admin.register(SupplyAlert)
class SupplyAlertAdmin(ActionPageMixin, ReadOnlyAdmin):
    list_display = ["created_at", "upstream", "kind", "message", "acknowledged_at", "acknowledged_by"]
    list_filter = ["kind", "upstream", ("acknowledged_at", admin.EmptyFieldListFilter)]
    date_hierarchy = "created_at"
    actions = ["acknowledge"]

    def has_acknowledge_permission(self, request) -> bool:
        return request.user.has_perm("supply.change_supplyalert")

    @admin.action(description=_("Acknowledge the selected alerts"), permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        count = ops_services.supply_alerts_acknowledge(alerts=queryset, actor=request.user)
        self.message_user(request, ngettext("%(n)d alert acknowledged.", "%(n)d alerts acknowledged.", count) % {"n": count})


# --- Reconciliation and replenishment --------------------------------------------------------------


class StatusLabels:
    """Stored statuses shown by their label (ours: an attempt's; theirs: a statement's, in our words), amounts as money."""

    @display(description=_("our status"))
    def our_status_text(self, difference: StatementDifference):
        return difference.our_status_label or "—"

    @display(description=_("their status"))
    def their_status_text(self, difference: StatementDifference):
        return difference.their_status_label or "—"

    @display(description=_("our amount"))
    def our_amount_text(self, difference: StatementDifference):
        return money_text(difference.our_amount) or "—"

    @display(description=_("their amount"))
    def their_amount_text(self, difference: StatementDifference):
        return money_text(difference.their_amount) or "—"


class StatementDifferenceInline(StatusLabels, ReadOnlyInline):
    model = StatementDifference
    fields = [
        "kind",
        "row",
        "our_number",
        "their_number",
        "our_amount_text",
        "their_amount_text",
        "our_status_text",
        "their_status_text",
        "resolved_at",
        "note",
    ]
    readonly_fields = fields
    tab = True


@admin.register(StatementImport)
class StatementImportAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "upstream", "filename", "status", "total_rows", "matched_rows", "bad_rows", "open_link", "created_by"]
    list_filter = ["status", "upstream"]
    search_fields = ["filename", "file_sha256"]
    date_hierarchy = "created_at"
    inlines = [StatementDifferenceInline]

    @display(description=_("differences"))
    def open_link(self, imported: StatementImport):
        return format_html('<a href="{}">{}</a>', reverse("supply-ops:statement", args=[imported.pk]), _("View differences"))


@admin.register(StatementDifference)
class StatementDifferenceAdmin(StatusLabels, ReadOnlyAdmin):
    list_display = [
        "statement",
        "kind",
        "our_number",
        "their_number",
        "our_amount_text",
        "their_amount_text",
        "our_status_text",
        "their_status_text",
        "resolved_at",
        "resolved_by",
    ]
    fields = [
        "statement",
        "kind",
        "row",
        "topup",
        "attempt",
        "our_number",
        "their_number",
        "our_amount_text",
        "their_amount_text",
        "our_status_text",
        "their_status_text",
        "resolved_at",
        "resolved_by",
        "note",
    ]
    readonly_fields = ["our_amount_text", "their_amount_text", "our_status_text", "their_status_text"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["our_number", "their_number", "note"]


@admin.register(Replenishment)
class ReplenishmentAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "sku",
        "product",
        "status",
        "available_before",
        "quantity",
        "received",
        "stored",
        "created_at",
        "finished_text",
    ]
    list_filter = ["status"]
    search_fields = ["number", "sku__code"]
    date_hierarchy = "created_at"

    @display(description=_("finished"), ordering="finished_at")
    def finished_text(self, replenishment: Replenishment):
        return when_text(replenishment.finished_at) or "—"
