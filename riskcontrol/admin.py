"""Ops configure rules, lists and settings here; events and alerts are read-only (reviews: /risk/reviews/)."""

from django.contrib import admin
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline

from riskcontrol import engine, protection
from riskcontrol.forms import RiskRuleForm
from riskcontrol.models import (
    Channel,
    RiskAlert,
    RiskEvent,
    RiskList,
    RiskListEntry,
    RiskRule,
    RiskSettings,
    SourceLock,
    VerificationFailure,
)


class RulesChangeMixin:
    """Every change to what the rule snapshot holds makes all processes reload it after commit."""

    def _changed(self):
        transaction.on_commit(engine.rules_changed)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self._changed()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        self._changed()


@admin.register(RiskRule)
class RiskRuleAdmin(RulesChangeMixin, ModelAdmin):
    form = RiskRuleForm
    list_display = [
        "name",
        "kind",
        "applies_to",
        "channel_scope",
        "dimension",
        "sku",
        "window_seconds",
        "limit",
        "amount_threshold",
        "score",
        "action",
        "active",
        "priority",
    ]
    list_filter = ["kind", "applies_to", "action", "active"]
    list_editable = ["active"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["sku", "risk_list"]
    actions = ["activate", "deactivate"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "applies_to", "channels", "active", "priority", "description"]}),
        (
            _("What it looks at"),
            {"fields": ["dimension", "sku", "window_seconds", "measure", "limit", "amount_threshold", "account_age_hours", "risk_list"]},
        ),
        (_("What it does"), {"fields": ["score", "action"]}),
    ]

    @admin.display(description=_("channels"))
    def channel_scope(self, obj):
        labels = dict(Channel.choices)
        return ", ".join(str(labels.get(channel, channel)) for channel in obj.channels) or _("Every channel")

    @admin.action(description=_("Activate the selected rules"))
    def activate(self, request, queryset):
        queryset.update(active=True)
        self._changed()

    @admin.action(description=_("Deactivate the selected rules"))
    def deactivate(self, request, queryset):
        queryset.update(active=False)
        self._changed()


class RiskListEntryInline(TabularInline):
    model = RiskListEntry
    fields = ["value", "note", "expires_at", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    extra = 1
    show_change_link = False


@admin.register(RiskList)
class RiskListAdmin(RulesChangeMixin, ModelAdmin):
    list_display = ["name", "list_type", "dimension", "entry_count", "created_at"]
    list_filter = ["list_type", "dimension"]
    search_fields = ["name", "entries__value"]
    inlines = [RiskListEntryInline]

    @admin.display(description=_("entries"))
    def entry_count(self, obj):
        return obj.entries.count()

    def save_formset(self, request, form, formset, change):
        for entry in formset.save(commit=False):
            if entry.created_by_id is None:
                entry.created_by = request.user
            entry.save()
        for entry in formset.deleted_objects:
            entry.delete()
        formset.save_m2m()


@admin.register(RiskListEntry)
class RiskListEntryAdmin(RulesChangeMixin, ModelAdmin):
    list_display = ["value", "risk_list", "note", "expires_at", "created_by", "created_at"]
    list_filter = ["risk_list"]
    search_fields = ["value", "note"]
    readonly_fields = ["created_by", "created_at"]
    autocomplete_fields = ["risk_list"]

    def save_model(self, request, obj, form, change):
        if obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(RiskSettings)
class RiskSettingsAdmin(RulesChangeMixin, ModelAdmin):
    fieldsets = [
        (_("Score thresholds"), {"fields": ["challenge_score", "review_score", "block_score"]}),
        (
            _("Redemption brute force"),
            {"fields": ["bf_window_minutes", "bf_terminal_failures", "bf_ip_failures", "bf_store_failures", "bf_lockout_minutes"]},
        ),
        (_("Code reveals"), {"fields": ["reveal_limit_per_hour", "second_factor_failures"]}),
        (
            _("Alerts"),
            {
                "fields": [
                    "spike_window_minutes",
                    "block_spike_threshold",
                    "failure_spike_threshold",
                    "login_failure_spike_threshold",
                    "alert_cooldown_minutes",
                    "event_retention_days",
                ]
            },
        ),
    ]

    def has_add_permission(self, request):
        return not RiskSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RiskEvent)
class RiskEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "action",
        "outcome",
        "score",
        "reason_summary",
        "ip",
        "device",
        "account_id",
        "reference",
        "review_status",
        "review_link",
    ]
    list_filter = ["outcome", "action", "review_status"]
    search_fields = ["=ip", "device", "account_id", "phone", "email", "reference"]
    date_hierarchy = "created_at"
    exclude = ["counters"]

    @admin.display(description=_("reasons"))
    def reason_summary(self, obj):
        return "; ".join(obj.reason_messages())[:200]

    @admin.display(description=_("review"))
    def review_link(self, obj):
        if not obj.review_status:
            return ""
        return format_html('<a href="{}">{}</a>', reverse("riskcontrol:review-detail", args=[obj.pk]), obj.get_review_status_display())


@admin.register(RiskAlert)
class RiskAlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "severity", "source", "message", "emailed_at", "acknowledged_at", "acknowledged_by"]
    list_filter = ["kind", "severity"]
    search_fields = ["source"]
    date_hierarchy = "created_at"


@admin.register(VerificationFailure)
class VerificationFailureAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "terminal", "ip", "store"]
    search_fields = ["terminal", "=ip", "store"]
    date_hierarchy = "created_at"


@admin.register(SourceLock)
class SourceLockAdmin(ReadOnlyAdmin):
    """Brute-force lockouts (terminals, addresses, stores, second verifications): ops may lift one early."""

    list_display = ["kind", "source", "locked_at", "until"]
    list_filter = ["kind"]
    search_fields = ["source"]
    actions = ["lift"]

    def has_lift_permission(self, request) -> bool:
        return request.user.has_perm("riskcontrol.change_sourcelock")

    @admin.action(description=_("Lift the selected lockouts now"), permissions=["lift"])
    def lift(self, request, queryset):
        count = protection.lockouts_lift(locks=queryset, actor=request.user)
        self.message_user(request, ngettext("%(count)d lockout lifted.", "%(count)d lockouts lifted.", count) % {"count": count})
