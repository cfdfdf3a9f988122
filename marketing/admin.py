"""The marketing admin: campaigns (with their flash-sale slots and bundle components), and read-only lists of
coupons, consumers (numbers masked), referrals, issuances and the campaign uses the results page reads.

Money and counters are read-only: they move only through marketing's services (budget under the campaign's
row lock, coupons handed out, places taken). A campaign's state changes through the actions below, which
call the campaign services (audited there); the ops pages (/ops/marketing/) create campaigns kind by kind
with a preview, and show each one's live results."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display

from marketing.forms_ops import CampaignForm
from marketing.labels import channel_label
from marketing.models import BundleItem, Campaign, CampaignUse, Consumer, Coupon, FlashSlot, GroupBuy, Issuance, Referral
from marketing.services.referral import referral_reason_text
from voucherhub.core.admin_readonly import ReadOnlyAdmin
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip
from voucherhub.core.templatetags.vh_format import money_text, when_text

CAMPAIGN_COLORS = {
    str(Campaign.Status.DRAFT): "info",
    str(Campaign.Status.ACTIVE): "success",
    str(Campaign.Status.PAUSED): "warning",
    str(Campaign.Status.ENDED): "danger",
}
KIND_COLORS = {str(kind): "info" for kind in Campaign.Kind}
COUPON_COLORS = {
    str(Coupon.Status.ISSUED): "info",
    str(Coupon.Status.CLAIMED): "warning",
    str(Coupon.Status.USED): "success",
    str(Coupon.Status.EXPIRED): "danger",
    str(Coupon.Status.VOID): "danger",
}
USE_COLORS = {
    str(CampaignUse.Status.PLACED): "info",
    str(CampaignUse.Status.PAID): "success",
    str(CampaignUse.Status.RELEASED): "warning",
    str(CampaignUse.Status.REFUNDED): "danger",
}
REFERRAL_COLORS = {
    str(Referral.Status.PENDING): "info",
    str(Referral.Status.REWARDED): "success",
    str(Referral.Status.REFUSED): "danger",
    str(Referral.Status.CANCELLED): "warning",
}
ISSUANCE_COLORS = {str(status): "info" for status in Issuance.Status} | {"done": "success", "failed": "danger"}


class FlashSlotInline(TabularInline):
    model = FlashSlot
    fields = ["starts_at", "ends_at", "stock", "taken"]
    readonly_fields = ["taken"]
    extra = 0
    tab = True


class BundleItemInline(TabularInline):
    model = BundleItem
    fields = ["sku", "quantity", "revenue_share"]
    autocomplete_fields = ["sku"]
    extra = 0
    tab = True


def budget_used_text(campaign: Campaign) -> str:
    """ "¥40.00 / ¥100.00" or "4 / 10"; "—" without a budget."""
    if campaign.budget_kind == Campaign.BudgetKind.MONEY and campaign.budget_amount is not None:
        return f"{money_text(campaign.spent_amount)} / {money_text(campaign.budget_amount)}"
    if campaign.budget_kind == Campaign.BudgetKind.COUNT and campaign.budget_count is not None:
        return f"{campaign.spent_count} / {campaign.budget_count}"
    return "—"


def _campaign_services():
    from marketing.services import campaigns

    return campaigns


class CampaignAdminForm(CampaignForm):
    """The ops form's rules (campaign_errors on their fields) with the admin theme's own widgets."""

    class Meta(CampaignForm.Meta):
        widgets = {}


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    """Every campaign of every kind. Saving goes through campaign_save (the kind's rules, the price floor) and
    the state through activate / pause / end, all audited by the services."""

    form = CampaignAdminForm
    list_display = ["name", "kind_badge", "status_badge", "schedule_text", "owner_text", "budget_used", "coupons_issued", "results_link"]
    list_filter = ["kind", "status", "funding", "budget_kind", ("distributor", admin.EmptyFieldListFilter)]
    search_fields = ["name", "distributor__name", "sku__code", "sku__name"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["distributor", "storefront", "sku", "reward_campaign"]
    inlines = [FlashSlotInline, BundleItemInline]
    actions = ["activate", "pause", "end"]
    readonly_fields = ["status", "spent_amount", "spent_count", "coupons_issued", "created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "status", "description", "starts_at", "ends_at"]}),
        (_("Owner and funding"), {"fields": ["distributor", "storefront", "funding"]}),
        (_("Budget"), {"fields": ["budget_kind", "budget_amount", "budget_count", "spent_amount", "spent_count"]}),
        (_("Price"), {"fields": ["sku", "price", "per_consumer_limit", "payment_minutes"]}),
        (_("Group buy"), {"fields": ["group_size", "group_hours", "group_ops_complete"]}),
        (
            _("Coupons"),
            {
                "fields": [
                    "discount_kind",
                    "discount_amount",
                    "discount_percent",
                    "discount_cap",
                    "min_spend",
                    "sku_ids",
                    "categories",
                    "coupon_valid_days",
                    "coupons_total",
                    "coupons_issued",
                    "stackable",
                ]
            },
        ),
        (_("Referral"), {"fields": ["reward_campaign", "refund_window_days"]}),
        (_("History"), {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    @display(description=_("kind"), ordering="kind", label=KIND_COLORS)
    def kind_badge(self, campaign: Campaign):
        return campaign.kind, campaign.get_kind_display()

    @display(description=_("status"), ordering="status", label=CAMPAIGN_COLORS)
    def status_badge(self, campaign: Campaign):
        return campaign.status, campaign.get_status_display()

    @display(description=_("schedule"), ordering="starts_at")
    def schedule_text(self, campaign: Campaign):
        return f"{when_text(campaign.starts_at)} → {when_text(campaign.ends_at)}"

    @display(description=_("run by"), ordering="distributor__name")
    def owner_text(self, campaign: Campaign):
        return campaign.distributor.name if campaign.distributor_id else _("Platform")

    @display(description=_("budget used"))
    def budget_used(self, campaign: Campaign):
        return budget_used_text(campaign)

    @display(description=_("results"))
    def results_link(self, campaign: Campaign):
        return format_html('<a href="{}">{}</a>', reverse("marketing:ops-results", args=[campaign.pk]), _("Results"))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("distributor")

    def has_change_permission(self, request, obj=None):
        # An ended campaign is read-only (campaign_save refuses it); its state actions still show on the list.
        if obj is not None and obj.status == Campaign.Status.ENDED:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        """The campaign's rules live in campaign_save (kind fields, price floor, audit), not here."""
        _campaign_services().campaign_save(campaign=obj, actor=request.user, ip=client_ip(request))

    def _transition(self, request, queryset, service_name: str) -> int:
        service = getattr(_campaign_services(), service_name)
        done = 0
        for campaign in queryset.order_by("pk"):
            try:
                service(campaign=campaign, actor=request.user, ip=client_ip(request))
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{campaign.name}: {exc.message}", messages.ERROR)
        return done

    @admin.action(description=_("Activate the selected campaigns"), permissions=["change"])
    def activate(self, request, queryset):
        if done := self._transition(request, queryset, "campaign_activate"):
            self.message_user(request, ngettext("%(n)d campaign activated.", "%(n)d campaigns activated.", done) % {"n": done})

    @admin.action(description=_("Pause the selected campaigns"), permissions=["change"])
    def pause(self, request, queryset):
        if done := self._transition(request, queryset, "campaign_pause"):
            self.message_user(request, ngettext("%(n)d campaign paused.", "%(n)d campaigns paused.", done) % {"n": done})

    @admin.action(description=_("End the selected campaigns"), permissions=["change"])
    def end(self, request, queryset):
        if done := self._transition(request, queryset, "campaign_end"):
            self.message_user(request, ngettext("%(n)d campaign ended.", "%(n)d campaigns ended.", done) % {"n": done})


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = ["code", "campaign", "status_badge", "consumer", "valid_until", "used_at", "order_ref", "discount_text"]
    list_filter = ["status", "campaign__kind"]
    search_fields = ["=code", "=order_ref", "campaign__name"]
    date_hierarchy = "issued_at"
    list_select_related = ["campaign", "consumer"]

    @display(description=_("status"), ordering="status", label=COUPON_COLORS)
    def status_badge(self, coupon: Coupon):
        return coupon.status, coupon.get_status_display()

    @display(description=_("discount given"), ordering="discount")
    def discount_text(self, coupon: Coupon):
        return money_text(coupon.discount) or "—"


@admin.register(Consumer)
class ConsumerAdmin(ReadOnlyAdmin):
    """Consumers by their masked number; search takes the whole number (an exact match, never a fragment)."""

    list_display = ["phone_masked", "created_at", "last_login_at"]
    fields = ["phone_masked", "created_at", "last_login_at"]
    readonly_fields = ["phone_masked"]
    search_fields = ["=phone"]
    date_hierarchy = "created_at"

    @display(description=_("mobile number"))
    def phone_masked(self, consumer: Consumer):
        return consumer.phone_masked


@admin.register(CampaignUse)
class CampaignUseAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "campaign",
        "order_ref",
        "consumer",
        "channel_text",
        "distributor",
        "list_text",
        "discount_text",
        "paid_text",
        "new_customer",
        "status_badge",
    ]
    list_filter = ["status", "new_customer", "campaign__kind"]
    search_fields = ["=order_ref", "campaign__name"]
    date_hierarchy = "created_at"
    list_select_related = ["campaign", "consumer", "distributor"]

    @display(description=_("status"), ordering="status", label=USE_COLORS)
    def status_badge(self, use: CampaignUse):
        return use.status, use.get_status_display()

    @display(description=_("channel"), ordering="channel")
    def channel_text(self, use: CampaignUse):
        return channel_label(use.channel)

    @display(description=_("list amount"), ordering="list_amount")
    def list_text(self, use: CampaignUse):
        return money_text(use.list_amount)

    @display(description=_("discount"), ordering="discount")
    def discount_text(self, use: CampaignUse):
        return money_text(use.discount)

    @display(description=_("paid"), ordering="paid_amount")
    def paid_text(self, use: CampaignUse):
        return money_text(use.paid_amount)


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    """Referrals with why one was refused or not rewarded yet, in words (the stored reason is a code)."""

    list_display = ["created_at", "link", "friend", "order_ref", "status_badge", "reason_text", "reward_due_at", "rewarded_at"]
    list_filter = ["status"]
    search_fields = ["=order_ref", "=link__token"]
    date_hierarchy = "created_at"
    list_select_related = ["link", "friend"]
    exclude = ["reason"]
    readonly_fields = ["reason_text"]

    @display(description=_("status"), ordering="status", label=REFERRAL_COLORS)
    def status_badge(self, referral: Referral):
        return referral.status, referral.get_status_display()

    @display(description=_("reason"), ordering="reason")
    def reason_text(self, referral: Referral) -> str:
        return referral_reason_text(referral) or "—"


@admin.register(Issuance)
class IssuanceAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "campaign", "source", "gift", "status_badge", "total", "done", "failed", "finished_at"]
    list_filter = ["status", "source", "gift"]
    search_fields = ["campaign__name", "file_name"]
    date_hierarchy = "created_at"
    list_select_related = ["campaign"]

    @display(description=_("status"), ordering="status", label=ISSUANCE_COLORS)
    def status_badge(self, issuance: Issuance):
        return issuance.status, issuance.get_status_display()


try:  # the groups branch's admin of groups (complete, retry refunds); a read-only list until it is there
    from marketing import admin_groups  # noqa: F401
except ImportError:

    @admin.register(GroupBuy)
    class GroupBuyAdmin(ReadOnlyAdmin):
        list_display = ["created_at", "campaign", "leader", "members_count", "size", "status", "expires_at", "refund_attempts"]
        list_filter = ["status"]
        search_fields = ["=token", "campaign__name"]
        list_select_related = ["campaign", "leader"]
