"""Admin for the channels app. Changes that carry business rules (status, tree moves, levels, quotas,
keys) go through @action -> services; the forms only edit plain descriptive fields."""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action

from catalog.models import Sku
from channels import services
from channels.models import (
    ApiKey,
    CodeSale,
    CommissionRule,
    Distributor,
    DistributorLevel,
    DistributorStaff,
    Invitation,
    LevelChange,
    PriceEntry,
    PriceViolation,
    ProductPool,
    Quota,
    QuotaMovement,
    Storefront,
    StorefrontItem,
)
from channels.resources import PriceEntryResource
from voucherhub.core.admin_pages import admin_form_page
from voucherhub.core.admin_readonly import ReadOnlyAdmin
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip

_form_page = partial(admin_form_page, template="admin/channels/form_page.html")


# --- Levels and price lists -----------------------------------------------------------------------


class LevelPriceInline(TabularInline):
    model = PriceEntry
    fk_name = "level"
    fields = ["sku", "min_quantity", "purchase_price", "suggested_retail", "price_floor"]
    autocomplete_fields = ["sku"]
    extra = 0
    verbose_name_plural = _("price list of this level")


@admin.register(DistributorLevel)
class DistributorLevelAdmin(ModelAdmin):
    list_display = [
        "position",
        "name",
        "auto_approve_signups",
        "auto_upgrade",
        "upgrade_min_sales",
        "upgrade_period_days",
        "upgrade_min_active_downline",
    ]
    list_display_links = ["name"]
    search_fields = ["name"]
    inlines = [LevelPriceInline]
    fieldsets = [
        (None, {"fields": ["name", "position", "description", "auto_approve_signups"]}),
        (
            _("Automatic upgrade to this level"),
            {"fields": ["auto_upgrade", "upgrade_min_sales", "upgrade_period_days", "upgrade_min_active_downline"]},
        ),
    ]


@admin.register(PriceEntry)
class PriceEntryAdmin(ImportExportModelAdmin, ModelAdmin):
    resource_classes = [PriceEntryResource]
    import_form_class = ImportForm
    export_form_class = ExportForm
    list_display = ["sku", "level", "distributor", "min_quantity", "purchase_price", "suggested_retail", "price_floor", "updated_at"]
    list_filter = ["level", "sku__product__category"]
    search_fields = ["sku__code", "sku__name", "distributor__name", "level__name"]
    autocomplete_fields = ["sku", "distributor", "level"]
    list_select_related = ["sku", "level", "distributor"]


@admin.register(ProductPool)
class ProductPoolAdmin(ModelAdmin):
    list_display = ["name", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    filter_horizontal = ["skus", "levels", "distributors"]


# --- Commission -----------------------------------------------------------------------------------


class CommissionPreviewForm(forms.Form):
    seller = forms.ModelChoiceField(label=_("Seller"), queryset=Distributor.objects.select_related("level"))
    sku = forms.ModelChoiceField(label=_("SKU"), queryset=Sku.objects.all())
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, initial=1)
    sale_amount = forms.DecimalField(label=_("Sale amount"), max_digits=14, decimal_places=2, min_value=0)


@admin.register(CommissionRule)
class CommissionRuleAdmin(ModelAdmin):
    list_display = ["__str__", "sku", "product", "depth", "kind", "amount", "percent", "active"]
    list_filter = ["depth", "kind", "active"]
    search_fields = ["sku__code", "product__name"]
    autocomplete_fields = ["sku", "product"]
    actions_list = ["preview"]

    @action(description=_("Preview a sale"), url_path="preview", permissions=["view"])
    def preview(self, request):
        form = CommissionPreviewForm(request.POST or request.GET or None)
        lines = None
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                lines = services.commission_plan(
                    seller=data["seller"], sku=data["sku"], sale_amount=data["sale_amount"], quantity=data["quantity"]
                )
            except DomainError as error:
                form.add_error(None, str(error.message))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Commission preview"),
            "form": form,
            "lines": lines,
            "opts": self.model._meta,
        }
        return render(request, "admin/channels/commission_preview.html", context)


# --- Distributors ---------------------------------------------------------------------------------


class StaffInline(TabularInline):
    model = DistributorStaff
    fields = ["user", "is_owner", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]
    extra = 0


class OverrideInline(TabularInline):
    model = PriceEntry
    fk_name = "distributor"
    fields = ["sku", "min_quantity", "purchase_price", "suggested_retail", "price_floor"]
    autocomplete_fields = ["sku"]
    extra = 0
    verbose_name_plural = _("price overrides for this distributor")


class QuotaInline(TabularInline):
    model = Quota
    fields = ["sku", "balance", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class LevelChangeInline(TabularInline):
    model = LevelChange
    fields = ["created_at", "from_level", "to_level", "reason", "note", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class MoveForm(forms.Form):
    new_parent = forms.ModelChoiceField(
        label=_("New upline"), queryset=Distributor.objects.select_related("level"), required=False, help_text=_("Empty: top of the tree.")
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)


class LevelForm(forms.Form):
    level = forms.ModelChoiceField(label=_("Level"), queryset=DistributorLevel.objects.all())
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class QuotaForm(forms.Form):
    sku = forms.ModelChoiceField(label=_("SKU"), queryset=Sku.objects.all())
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=10_000_000)
    direction = forms.ChoiceField(
        label=_("Direction"), choices=[("allocate", _("Allocate")), ("revoke", _("Take back"))], initial="allocate"
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


@admin.register(Distributor)
class DistributorAdmin(ModelAdmin):
    list_display = ["tree_name", "level", "status", "kind", "region", "parent", "created_at"]
    list_filter = ["status", "level", "kind", "region"]
    search_fields = ["name", "contact_name", "phone", "email", "region"]
    list_select_related = ["level", "parent"]
    autocomplete_fields = ["parent"]
    inlines = [StaffInline, OverrideInline, QuotaInline, LevelChangeInline]
    actions = ["approve", "suspend", "reactivate"]
    actions_detail = ["move_subtree", "change_level", "quota"]
    readonly_fields = ["path", "approved_at", "approved_by", "invitation", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["parent", "level", "status"]
        return fields

    def get_fields(self, request, obj=None):
        fields = ["name", "kind", "level", "parent", "status", "region", "contact_name", "phone", "email"]
        return fields + (["path", "invitation", "approved_at", "approved_by", "created_at"] if obj else [])

    @admin.display(description=_("name"), ordering="path")
    def tree_name(self, obj):
        return format_html('<span style="padding-left:{}rem">{}</span>', obj.depth, obj.name)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "kind", "region", "contact_name", "phone", "email"])
            return
        created = services.distributor_create(
            name=obj.name,
            level=obj.level,
            parent=obj.parent,
            kind=obj.kind,
            status=obj.status,
            region=obj.region,
            contact_name=obj.contact_name,
            phone=obj.phone,
            email=obj.email,
            actor=request.user,
        )
        obj.pk, obj.path, obj.created_at = created.pk, created.path, created.created_at
        obj._state.adding = False

    def _bulk(self, request, queryset, service, done_message):
        done = 0
        for distributor in queryset:
            try:
                service(distributor=distributor, actor=request.user)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{distributor}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, done_message % {"n": done}, messages.SUCCESS)

    @admin.action(description=_("Approve selected distributors"), permissions=["change"])
    def approve(self, request, queryset):
        self._bulk(request, queryset, services.distributor_approve, _("%(n)s approved."))

    @admin.action(description=_("Suspend selected distributors"), permissions=["change"])
    def suspend(self, request, queryset):
        self._bulk(request, queryset, services.distributor_suspend, _("%(n)s suspended."))

    @admin.action(description=_("Reactivate selected distributors"), permissions=["change"])
    def reactivate(self, request, queryset):
        self._bulk(request, queryset, services.distributor_reactivate, _("%(n)s reactivated."))

    def has_move_permission(self, request, obj=None):
        return request.user.has_perm("channels.move_distributor")

    @action(description=_("Move in the tree"), url_path="move", permissions=["move"])
    def move_subtree(self, request, object_id):
        distributor = get_object_or_404(Distributor, pk=object_id)
        form = MoveForm(request.POST or None, initial={"new_parent": distributor.parent})
        form.fields["new_parent"].queryset = Distributor.objects.exclude(path__startswith=distributor.path)
        if request.method == "POST" and form.is_valid():
            try:
                services.distributor_move(
                    distributor=distributor,
                    new_parent=form.cleaned_data["new_parent"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    ip=client_ip(request),
                )
            except DomainError as error:
                form.add_error("new_parent", str(error.message))
            else:
                messages.success(request, _("Moved, with its whole downline."))
                return redirect(reverse("admin:channels_distributor_change", args=[distributor.pk]))
        return _form_page(
            request,
            self,
            title=_("Move %(name)s") % {"name": distributor.name},
            form=form,
            obj=distributor,
            help_text=_("The distributor moves with its whole downline. The move is written to the audit log."),
        )

    @action(description=_("Change level"), url_path="level", permissions=["change"])
    def change_level(self, request, object_id):
        distributor = get_object_or_404(Distributor, pk=object_id)
        form = LevelForm(request.POST or None, initial={"level": distributor.level})
        if request.method == "POST" and form.is_valid():
            services.distributor_set_level(
                distributor=distributor, level=form.cleaned_data["level"], actor=request.user, note=form.cleaned_data["note"]
            )
            messages.success(request, _("Level changed."))
            return redirect(reverse("admin:channels_distributor_change", args=[distributor.pk]))
        return _form_page(request, self, title=_("Level of %(name)s") % {"name": distributor.name}, form=form, obj=distributor)

    def has_quota_permission(self, request, obj=None):
        return request.user.has_perm("channels.change_quota")

    @action(description=_("Quota"), url_path="quota", permissions=["quota"])
    def quota(self, request, object_id):
        distributor = get_object_or_404(Distributor, pk=object_id)
        form = QuotaForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            service = services.quota_allocate if data["direction"] == "allocate" else services.quota_revoke
            try:
                service(distributor=distributor, sku=data["sku"], quantity=data["quantity"], actor=request.user, note=data["note"])
            except DomainError as error:
                form.add_error("quantity" if error.field == "quantity" else None, str(error.message))
            else:
                messages.success(request, _("Quota updated."))
                return redirect(reverse("admin:channels_distributor_change", args=[distributor.pk]))
        return _form_page(
            request,
            self,
            title=_("Quota of %(name)s") % {"name": distributor.name},
            form=form,
            obj=distributor,
            help_text=_("Every change is a movement row; balances are never edited."),
        )


@admin.register(Invitation)
class InvitationAdmin(ModelAdmin):
    list_display = ["distributor", "target_level", "kind", "used_count", "max_uses", "expires_at", "revoked_at", "created_at"]
    list_filter = ["target_level", "kind"]
    search_fields = ["distributor__name", "note"]
    readonly_fields = [
        "distributor",
        "token",
        "target_level",
        "kind",
        "expires_at",
        "max_uses",
        "used_count",
        "revoked_at",
        "created_by",
        "created_at",
        "note",
    ]
    actions = ["withdraw"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Withdraw selected invitations"), permissions=["change"])
    def withdraw(self, request, queryset):
        for invitation in queryset:
            services.invitation_revoke(invitation=invitation, actor=request.user)
        self.message_user(request, _("Withdrawn."), messages.SUCCESS)


@admin.register(LevelChange)
class LevelChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "distributor", "from_level", "to_level", "reason", "actor", "note"]
    list_filter = ["reason", "to_level"]
    search_fields = ["distributor__name"]


@admin.register(DistributorStaff)
class DistributorStaffAdmin(ModelAdmin):
    list_display = ["user", "distributor", "is_owner", "created_at"]
    search_fields = ["user__username", "distributor__name"]
    autocomplete_fields = ["user", "distributor"]


# --- Quotas ---------------------------------------------------------------------------------------


@admin.register(Quota)
class QuotaAdmin(ReadOnlyAdmin):
    list_display = ["distributor", "sku", "balance", "updated_at"]
    list_filter = ["sku"]
    search_fields = ["distributor__name", "sku__code"]
    list_select_related = ["distributor", "sku"]


@admin.register(QuotaMovement)
class QuotaMovementAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "sku", "from_distributor", "to_distributor", "quantity", "reference", "actor"]
    list_filter = ["kind", "sku"]
    search_fields = ["reference", "from_distributor__name", "to_distributor__name"]
    list_select_related = ["sku", "from_distributor", "to_distributor", "actor"]


# --- Storefronts, keys, traceability ----------------------------------------------------------------


class StorefrontItemInline(TabularInline):
    model = StorefrontItem
    fields = ["sku", "retail_price", "position", "listed"]
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Storefront)
class StorefrontAdmin(ModelAdmin):
    list_display = ["slug", "title", "distributor", "is_open", "updated_at"]
    list_filter = ["is_open"]
    search_fields = ["slug", "title", "distributor__name"]
    fields = ["distributor", "slug", "title", "tagline", "colour", "is_open"]
    readonly_fields = ["distributor", "slug", "title", "tagline", "colour"]
    inlines = [StorefrontItemInline]

    def has_add_permission(self, request):
        return False

    def view_on_site(self, obj):
        return reverse("channels:shop", args=[obj.slug])


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin):
    """The secret is never a field here; issuing happens in the portal or with `manage.py issue_api_key`."""

    list_display = ["key_id", "distributor", "label", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["key_id", "distributor__name", "label"]
    fields = [
        "key_id",
        "distributor",
        "label",
        "ip_allowlist",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "replaced_by",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(key=key, actor=request.user)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


@admin.register(PriceViolation)
class PriceViolationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "distributor", "sku", "channel", "attempted_price", "price_floor"]
    list_filter = ["channel", "sku"]
    search_fields = ["distributor__name", "sku__code"]
    date_hierarchy = "created_at"
    actions_list = ["report"]

    @action(description=_("Violations report"), url_path="report", permissions=["view"])
    def report(self, request):
        return redirect("channels:ops-violations")


@admin.register(CodeSale)
class CodeSaleAdmin(ReadOnlyAdmin):
    """Search by serial or order; a full code is looked up through the blind index on the trace page."""

    list_display = ["sold_at", "code", "sku", "distributor", "order_ref", "unit_price"]
    list_filter = ["sku"]
    search_fields = ["order_ref", "code__serial", "distributor__name"]
    list_select_related = ["code", "sku", "distributor"]
    actions_list = ["trace"]

    def has_trace_permission(self, request, obj=None):
        return request.user.has_perm("channels.trace_codesale")

    @action(description=_("Who sold this code"), url_path="trace", permissions=["trace"])
    def trace(self, request):
        return redirect("channels:ops-trace")
