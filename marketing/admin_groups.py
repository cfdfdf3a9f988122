"""Ops' list of group buys (imported by marketing/admin.py): each group's state, members (numbers masked),
refund attempts, the next one and the last refund error. Nothing is edited here: ops' decisions go through
the group services (audited there): complete an unfilled group when its campaign allows it, fail a group
now, and ask settlement for the refunds of failed groups again at once instead of waiting for the backoff."""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.decorators import action, display

from marketing.models import GroupBuy, GroupMember
from marketing.services import groups as group_services
from voucherhub.core.admin_pages import admin_form_page
from voucherhub.core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip

GROUP_COLORS = {
    str(GroupBuy.Status.OPEN): "info",
    str(GroupBuy.Status.COMPLETE): "success",
    str(GroupBuy.Status.FAILED): "danger",
    str(GroupBuy.Status.REFUNDED): "warning",
}
DECIDE_PERMISSION = "marketing.change_groupbuy"  # ops' role holds it (marketing/apps.py)

_form_page = partial(admin_form_page, template="admin/marketing/group_form_page.html")


class DecisionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, help_text=_("Recorded in the audit log."))


class GroupMemberInline(ReadOnlyInline):
    model = GroupMember
    fields = ["consumer", "order_ref", "status", "joined_at"]
    readonly_fields = fields


@admin.register(GroupBuy)
class GroupBuyAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at", "campaign", "leader", "members_text", "status_badge", "expires_at", "refund_attempts", "refund_next_at",
        "refund_error_text", "completion_sent_at",
    ]  # fmt: skip
    list_filter = ["status", "campaign__group_ops_complete", "expires_at"]
    search_fields = ["=token", "campaign__name", "=members__order_ref", "=members__consumer__phone"]
    date_hierarchy = "created_at"
    list_select_related = ["campaign", "leader"]
    readonly_fields = [
        "campaign", "token", "leader", "size", "members_count", "status", "expires_at", "created_at", "completed_at", "completed_by",
        "completion_sent_at", "refund_attempts", "refund_next_at", "refund_error",
    ]  # fmt: skip
    exclude = []
    inlines = [GroupMemberInline]
    actions = ["refunds_ask_now"]
    actions_detail = ["complete", "fail"]

    def has_decide_permission(self, request, obj=None):
        return request.user.has_perm(DECIDE_PERMISSION)

    @display(description=_("members"))
    def members_text(self, group: GroupBuy):
        return f"{group.members_count} / {group.size}"

    @display(description=_("status"), ordering="status", label=GROUP_COLORS)
    def status_badge(self, group: GroupBuy):
        return group.status, group.get_status_display()

    @display(description=_("last refund error"))
    def refund_error_text(self, group: GroupBuy):
        return group.refund_error[:80] or "—"

    @admin.action(description=_("Ask for the refunds of the selected failed groups again now"), permissions=["decide"])
    def refunds_ask_now(self, request, queryset):
        asked = sum(
            1
            for pk in queryset.filter(status=GroupBuy.Status.FAILED).values_list("pk", flat=True)
            if group_services.group_failure_announce(group_id=pk)
        )
        self.message_user(
            request,
            ngettext("Refunds asked again for %(count)d group.", "Refunds asked again for %(count)d groups.", asked) % {"count": asked},
        )

    def _decide(self, request, object_id, *, decide, title, help_text, done):
        group = get_object_or_404(GroupBuy.objects.select_related("campaign"), pk=object_id)
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                decide(group=group, actor=request.user, reason=form.cleaned_data["reason"], ip=client_ip(request))
            except DomainError as error:
                form.add_error("reason" if error.field == "reason" else None, str(error.message))
            else:
                messages.success(request, done)
                return redirect(reverse("admin:marketing_groupbuy_change", args=[group.pk]))
        return _form_page(request, self, title=title, form=form, obj=group, help_text=help_text)

    @action(description=_("Complete with the paid members"), url_path="complete", permissions=["decide"])
    def complete(self, request, object_id):
        return self._decide(
            request, object_id, decide=group_services.group_complete_by_ops, title=_("Complete this group"),
            help_text=_(
                "Only when the campaign lets ops complete groups: the paid members' codes are delivered now; a member "
                "still paying is delivered when the payment arrives."
            ),
            done=_("The group is complete; its paid members' orders are delivered."),
        )  # fmt: skip

    @action(description=_("Fail and refund now"), url_path="fail", permissions=["decide"])
    def fail(self, request, object_id):
        return self._decide(
            request, object_id, decide=group_services.group_fail_by_ops, title=_("Fail this group"),
            help_text=_("The group closes now and every paid member is refunded automatically, the way they paid."),
            done=_("The group failed; its paid members are being refunded."),
        )  # fmt: skip
