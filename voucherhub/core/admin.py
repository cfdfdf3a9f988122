from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import DropdownFilter
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from voucherhub.core.admin_readonly import ReadOnlyAdmin
from voucherhub.core.audit import audit_action_label, audit_action_labels
from voucherhub.core.models import AuditLog


def _action_choice(code: str) -> str:
    label = audit_action_label(code)
    return code if label == code else f"{label} · {code}"


class AuditActionFilter(DropdownFilter):
    """The actions present in the log, by label (with the code, which ops know too); `?action=<code>` as before."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        codes = model_admin.get_queryset(request).order_by("action").values_list("action", flat=True).distinct()
        return [(code, _action_choice(code)) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["seq", "created_at", "actor_display", "action_display", "object_type", "object_repr", "ip", "reason"]
    list_filter = [AuditActionFilter, "object_type"]
    list_filter_submit = True
    search_fields = ["actor_repr", "action", "object_id", "object_repr", "reason"]
    date_hierarchy = "created_at"
    fields = ["actor", "actor_display", "action_display", "object_type", "object_id", "object_repr", "ip", "reason", "data"]
    readonly_fields = ["actor_display", "action_display"]

    @display(description=_("actor name"), ordering="actor_repr")
    def actor_display(self, entry: AuditLog):
        """Who: the user's name as written (in the hash chain), "system" in the reader's language."""
        return pgettext("audit actor", "System") if entry.actor_repr == "system" else entry.actor_repr

    @display(description=_("action"), ordering="action")
    def action_display(self, entry: AuditLog):
        """The readable label, the raw code under it (ops search by it); just the code when it has no label."""
        label = audit_action_label(entry.action)
        if label == entry.action:
            return format_html('<span data-audit-action="{}">{}</span>', entry.action, entry.action)
        return format_html(
            '<span data-audit-action="{}" title="{}">{}</span>'
            '<span class="block text-xs text-font-subtle-light dark:text-font-subtle-dark">{}</span>',
            entry.action,
            entry.action,
            label,
            entry.action,
        )

    def get_search_results(self, request, queryset, search_term):
        """Also find entries by the label of their action in the reader's language ("充值" finds wallet.topup)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().casefold()
        codes = [code for code, label in audit_action_labels().items() if term and term in str(label).casefold()]
        if codes:
            found |= queryset.filter(action__in=codes)  # `queryset` already carries the list filters
        return found, may_have_duplicates


# Users and groups in the same theme as everything else.

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass
