from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action

from redemption import services
from redemption.models import (
    CodeHolding,
    HolderLink,
    Merchant,
    MerchantClerk,
    MerchantSkuPrice,
    Redemption,
    RedemptionAttempt,
    ReminderSent,
    Store,
    Terminal,
)
from voucherhub.core.admin_readonly import ReadOnlyAdmin


class StoreInline(TabularInline):
    model = Store
    fields = ["name", "code", "city", "address", "active"]
    extra = 0
    show_change_link = True


class SkuPriceInline(TabularInline):
    model = MerchantSkuPrice
    fields = ["sku", "settlement_price"]
    autocomplete_fields = ["sku"]
    extra = 0


@admin.register(Merchant)
class MerchantAdmin(ModelAdmin):
    list_display = ["name", "code", "contact_name", "phone", "reversal_window_hours", "active"]
    list_filter = ["active"]
    search_fields = ["name", "code"]
    inlines = [StoreInline, SkuPriceInline]


class TerminalInline(TabularInline):
    model = Terminal
    fields = ["name", "key_id", "active", "last_used_at"]
    readonly_fields = ["name", "key_id", "active", "last_used_at"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Store)
class StoreAdmin(ModelAdmin):
    list_display = ["name", "merchant", "code", "city", "active"]
    list_filter = ["active", "merchant"]
    search_fields = ["name", "code", "merchant__name", "city"]
    list_select_related = ["merchant"]
    inlines = [TerminalInline]
    actions = ["terminal_add"]

    @action(description=_("Add a terminal (shows its secret once)"))
    def terminal_add(self, request, queryset):
        for store in queryset:
            terminal, secret = services.terminal_create(store=store, name=f"{store.name} POS", actor=request.user)
            messages.warning(
                request,
                _("Terminal %(key)s for %(store)s: secret %(secret)s (shown only now; store it in the POS).")
                % {"key": terminal.key_id, "store": store, "secret": secret},
            )


@admin.register(Terminal)
class TerminalAdmin(ModelAdmin):
    """Credentials are created and rotated by actions; the secret is shown once and kept only sealed."""

    list_display = ["name", "key_id", "store", "active", "last_used_at", "revoked_at"]
    list_filter = ["active", "store__merchant"]
    search_fields = ["name", "key_id", "store__name"]
    fields = ["store", "name", "key_id", "ip_allowlist", "active", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["store", "key_id", "active", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["store__merchant"]
    actions = ["secret_rotate", "revoke"]

    def has_add_permission(self, request):
        return False  # Stores > "Add a terminal"

    @action(description=_("Rotate secret (shows the new one once)"))
    def secret_rotate(self, request, queryset):
        for terminal in queryset:
            secret = services.terminal_secret_rotate(terminal=terminal, actor=request.user)
            messages.warning(request, _("New secret for %(key)s: %(secret)s") % {"key": terminal.key_id, "secret": secret})

    @action(description=_("Revoke"))
    def revoke(self, request, queryset):
        for terminal in queryset:
            services.terminal_revoke(terminal=terminal, actor=request.user)
        messages.success(request, _("Revoked."))


@admin.register(MerchantClerk)
class MerchantClerkAdmin(ModelAdmin):
    list_display = ["user", "merchant", "created_at"]
    list_filter = ["merchant"]
    search_fields = ["user__username", "merchant__name"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["stores"]
    list_select_related = ["user", "merchant"]


@admin.register(MerchantSkuPrice)
class MerchantSkuPriceAdmin(ModelAdmin):
    list_display = ["merchant", "sku", "settlement_price"]
    list_filter = ["merchant"]
    search_fields = ["merchant__name", "sku__code", "sku__name"]
    autocomplete_fields = ["sku"]
    list_select_related = ["merchant", "sku"]


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "merchant", "store", "sku", "code_hint", "amount", "amount_owed", "status", "channel"]
    list_filter = ["status", "channel", "merchant", "after_reminder"]
    search_fields = ["code__serial", "reference", "store__name"]
    date_hierarchy = "created_at"
    list_select_related = ["merchant", "store", "sku", "code"]
    exclude = ["code"]
    readonly_fields = ["code_hint"]

    @admin.display(description=_("code"))
    def code_hint(self, obj):
        return obj.code.hint


@admin.register(RedemptionAttempt)
class RedemptionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "outcome", "reason", "channel", "merchant", "store", "terminal", "ip", "via_qr"]
    list_filter = ["kind", "outcome", "reason", "channel"]
    search_fields = ["ip", "terminal__key_id"]
    date_hierarchy = "created_at"
    list_select_related = ["merchant", "store", "terminal"]
    exclude = ["code"]


class CodeHoldingInline(TabularInline):
    model = CodeHolding
    fk_name = "link"
    fields = ["code_hint", "active", "gifted_at", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("code"))
    def code_hint(self, obj):
        return obj.code.hint


@admin.register(HolderLink)
class HolderLinkAdmin(ReadOnlyAdmin):
    list_display = ["id", "order_ref", "contact_kind", "masked_contact", "created_at", "last_opened_at"]
    list_filter = ["contact_kind"]
    search_fields = ["order_ref"]
    fields = ["order_ref", "contact_kind", "masked_contact", "gifted_by", "created_at", "last_opened_at"]
    readonly_fields = fields
    inlines = [CodeHoldingInline]

    @admin.display(description=_("holder contact"))
    def masked_contact(self, obj):
        from redemption.holdings import contact_masked

        return contact_masked(obj.contact)


@admin.register(ReminderSent)
class ReminderSentAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "code", "threshold_days", "outcome", "channel"]
    list_select_related = ["code"]
    list_filter = ["outcome", "threshold_days", "channel"]
    date_hierarchy = "created_at"
