"""Ops configure rules, lists and settings here; events and alerts are read-only (reviews: /risk/reviews/)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline

from riskcontrol import protection, services
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
from voucherhub.core.admin_readonly import ReadOnlyAdmin
from voucherhub.core.net import client_ip


def _who(request) -> dict:
    return {"actor": request.user, "ip": client_ip(request)}


@admin.register(RiskRule)
class RiskRuleAdmin(ModelAdmin):
    """Every change goes through riskcontrol.services (validated, audited as risk.rule.*, reloaded everywhere)."""

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

    def save_model(self, request, obj, form, change):
        services.rule_save(rule=obj, **_who(request))

    def delete_model(self, request, obj):
        services.rules_delete(rules=[obj], **_who(request))

    def delete_queryset(self, request, queryset):
        services.rules_delete(rules=list(queryset), **_who(request))

    @admin.action(description=_("Activate the selected rules"))
    def activate(self, request, queryset):
        services.rules_activate(rules=list(queryset), **_who(request))

    @admin.action(description=_("Deactivate the selected rules"))
    def deactivate(self, request, queryset):
        services.rules_deactivate(rules=list(queryset), **_who(request))


class RiskListEntryInline(TabularInline):
    model = RiskListEntry
    fields = ["value", "note", "expires_at", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    extra = 1
    show_change_link = False


@admin.register(RiskList)
class RiskListAdmin(ModelAdmin):
    """Lists and their entries change through riskcontrol.services (audited as risk.list.*)."""

    list_display = ["name", "list_type", "dimension", "entry_count", "created_at"]
    list_filter = ["list_type", "dimension"]
    search_fields = ["name", "entries__value"]
    inlines = [RiskListEntryInline]

    @admin.display(description=_("entries"))
    def entry_count(self, obj):
        return obj.entries.count()

    def save_model(self, request, obj, form, change):
        services.list_save(risk_list=obj, **_who(request))

    def delete_model(self, request, obj):
        services.lists_delete(risk_lists=[obj], **_who(request))

    def delete_queryset(self, request, queryset):
        services.lists_delete(risk_lists=list(queryset), **_who(request))

    def save_formset(self, request, form, formset, change):
        for entry in formset.save(commit=False):
            services.list_entry_save(entry=entry, **_who(request))
        services.list_entries_remove(entries=formset.deleted_objects, **_who(request))


@admin.register(RiskListEntry)
class RiskListEntryAdmin(ModelAdmin):
    list_display = ["value", "risk_list", "note", "expires_at", "created_by", "created_at"]
    list_filter = ["risk_list"]
    search_fields = ["value", "note"]
    readonly_fields = ["created_by", "created_at"]
    autocomplete_fields = ["risk_list"]

    def save_model(self, request, obj, form, change):
        services.list_entry_save(entry=obj, **_who(request))

    def delete_model(self, request, obj):
        services.list_entries_remove(entries=[obj], **_who(request))

    def delete_queryset(self, request, queryset):
        services.list_entries_remove(entries=list(queryset), **_who(request))


@admin.register(RiskSettings)
class RiskSettingsAdmin(ModelAdmin):
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

    def save_model(self, request, obj, form, change):
        services.settings_update(values=obj, **_who(request))

    def has_add_permission(self, request):
        return not RiskSettings.objects.exists() and super().has_add_permission(request)

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
    list_display = ["created_at", "kind", "severity", "source", "alert_message", "emailed_at", "acknowledged_at", "acknowledged_by"]
    list_filter = ["kind", "severity"]
    search_fields = ["source"]
    date_hierarchy = "created_at"

    @admin.display(description=_("message"))
    def alert_message(self, alert):
        return alert.message


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
