"""The catalog admin for operations staff. Thin: every change goes through catalog.services.

Card codes are only ever shown by their masked hint. The plaintext appears in exactly two places,
both answers to a POST after permission, reason (and password) checks in `codes_reveal`: the
reveal page (Cache-Control: no-store) and a streamed CSV download; neither is stored or logged.
"""

import csv
from collections.abc import Callable, Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from import_export.admin import ExportActionMixin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import AutocompleteSelectFilter, ChoicesDropdownFilter, RangeDateFilter
from unfold.contrib.import_export.forms import SelectableFieldsExportForm
from unfold.decorators import action, display

from catalog import selectors, services
from catalog.admin_forms import FindCodeForm, GenerateCodesForm, ReasonForm, RevealForm, SkuAdminForm
from catalog.models import CardCode, CodeBatch, CodeEvent, Product, Sku, Supplier
from catalog.resources import CardCodeResource
from voucherhub.core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip

ACTION_FORM_TEMPLATE = "catalog/admin/action_form.html"
REVEAL_RESULT_TEMPLATE = "catalog/admin/reveal_result.html"
# Codes one changelist action may void (a whole batch has its own action).
VOID_SELECTED_MAX = 1000

STATUS_COLORS = {
    CardCode.Status.AVAILABLE: "success",
    CardCode.Status.RESERVED: "info",
    CardCode.Status.SOLD: "primary",
    CardCode.Status.REDEEMED: "primary",
    CardCode.Status.EXPIRED: "warning",
    CardCode.Status.VOID: "danger",
}


def _no_store(response):
    """Never cached by the browser or a proxy, never indexed: for pages and files that carry plaintext codes.

    (No "Referrer-Policy: no-referrer" here: browsers then send "Origin: null" with the page's forms and
    Django's CSRF check refuses them. Plaintexts only travel in POST bodies and answers, never in URLs.)
    """
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


class _Echo:
    def write(self, value):
        return value


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell starting with one of these is text, not a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@sensitive_variables("revealed")
def _reveal_csv(revealed: list[services.RevealedCode], filename: str) -> StreamingHttpResponse:
    """Stream the revealed codes as CSV straight to the user: nothing is written to disk or kept."""
    header = [_("SKU"), _("batch"), _("serial number"), _("code"), _("status"), _("expires at")]

    def rows():
        writer = csv.writer(_Echo())
        yield "\ufeff"  # UTF-8 mark, so spreadsheet programs read Chinese names correctly
        yield writer.writerow([str(h) for h in header])
        for item in revealed:
            code = item.code
            expires = timezone.localtime(code.expires_at).strftime("%Y-%m-%d %H:%M") if code.expires_at else ""
            yield writer.writerow(
                [_csv_cell(v) for v in (code.sku.code, code.batch_id, code.serial, item.plaintext, code.get_status_display(), expires)]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(response)


def _stock_counts_html(counts: dict[str, int], *, low: bool = False) -> str:
    items = [(label, counts.get(value, 0)) for value, label in CardCode.Status.choices]
    return render_to_string("catalog/admin/stock_counts.html", {"items": items, "low": low})


class ActionFormMixin:
    """An action that asks for a form first (count, reason, password) and then calls a service.

    From the changelist the form page posts back to the changelist with the action name and the
    selected primary keys (Django's confirmation-page pattern); from a change page it posts back to
    the detail action's own URL. A DomainError from the service becomes a form error.
    """

    def _action_page(
        self,
        request,
        *,
        form: forms.Form,
        title,
        submit_label,
        intro="",
        objects: Iterable = (),
        action_name: str = "",
        selected: Iterable = (),
        danger: bool = False,
        warning="",
    ):
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "intro": intro,
            "warning": warning,
            "objects": list(objects),
            "submit_label": submit_label,
            "danger": danger,
            "action_name": action_name,
            "selected": list(selected),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist"),
        }
        return _no_store(TemplateResponse(request, ACTION_FORM_TEMPLATE, context))

    @sensitive_variables()  # nor any variable of this flow or what it calls (the code looked up, the codes revealed)
    def _form_flow(self, request, *, form_class, on_valid: Callable, form_kwargs=None, **page):
        # Django's error reports must not show what was typed (a password, a plaintext code).
        request.sensitive_post_parameters = ["password", "code"]
        form_kwargs = form_kwargs or {}
        submitted = request.method == "POST" and "apply" in request.POST
        form = form_class(request.POST if submitted else None, **form_kwargs)
        if submitted and form.is_valid():
            try:
                return on_valid(form)
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
        return self._action_page(request, form=form, **page)

    def _get_object_or_404(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        return obj

    def _changelist_url(self):
        return reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist")

    def _reveal_page(self, request, revealed: list[services.RevealedCode], *, back_url: str):
        request.current_app = self.admin_site.name
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Revealed card codes"),
            "revealed": revealed,
            "back_url": back_url,
        }
        # Rendered here, inside _form_flow's sensitive_variables, not later by the handler: a template error
        # while the plaintexts are being written into the page must not put them into an error report.
        return _no_store(TemplateResponse(request, REVEAL_RESULT_TEMPLATE, context).render())

    def _reveal_flow(self, request, codes, *, count: int, download: bool, filename: str = "", back_url: str, **page):
        def on_valid(form):
            revealed = services.codes_reveal(
                codes=codes,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                ip=client_ip(request),
                password=form.cleaned_data.get("password"),
                download=download,
            )
            if download:
                return _reveal_csv(revealed, filename)
            return self._reveal_page(request, revealed, back_url=back_url)

        return self._form_flow(
            request,
            form_class=RevealForm,
            form_kwargs={"needs_password": download or count > 1},
            on_valid=on_valid,
            warning=_("Every revealed code is written to the audit log with your name, address and reason."),
            **page,
        )


@method_decorator(sensitive_post_parameters("password", "code"), name="changelist_view")
class CatalogModelAdmin(ActionFormMixin, ModelAdmin):
    list_filter_submit = True
    list_per_page = 50


# --- Supplier, product, SKU ------------------------------------------------------------------------


class ProductInline(TabularInline):
    model = Product
    fields = ["name", "category", "active"]
    extra = 0
    show_change_link = True
    tab = True


@admin.register(Supplier)
class SupplierAdmin(CatalogModelAdmin):
    list_display = ["name", "contact", "phone", "email", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "contact", "phone", "email"]
    inlines = [ProductInline]


class SkuInline(TabularInline):
    model = Sku
    fields = ["code", "name", "face_value", "cost_price", "fulfilment", "active"]
    extra = 0
    show_change_link = True
    tab = True


@admin.register(Product)
class ProductAdmin(CatalogModelAdmin):
    list_display = ["name", "category", "supplier", "active", "created_at"]
    list_filter = [("category", ChoicesDropdownFilter), "active", ("supplier", AutocompleteSelectFilter)]
    search_fields = ["name", "supplier__name"]
    autocomplete_fields = ["supplier"]
    list_select_related = ["supplier"]
    inlines = [SkuInline]


@admin.register(Sku)
class SkuAdmin(CatalogModelAdmin):
    form = SkuAdminForm
    list_display = ["code", "name", "product", "face_value", "cost_price", "fulfilment", "available_stock", "low_stock_threshold", "active"]
    list_filter = ["active", ("fulfilment", ChoicesDropdownFilter), ("product__category", ChoicesDropdownFilter), "product__supplier"]
    search_fields = ["code", "name", "product__name"]
    autocomplete_fields = ["product"]
    list_select_related = ["product"]
    readonly_fields = ["stock_summary", "batch_stock"]
    ordering = ["code"]
    fieldsets = [
        (None, {"fields": ["product", "code", "name", ("face_value", "cost_price", "currency"), "active"]}),
        (_("Validity"), {"fields": ["validity_kind", "valid_from", "valid_until", "valid_days"]}),
        (
            _("Usage rules"),
            {
                "fields": [
                    "is_stored_value",
                    "allowed_merchant_ids",
                    "allowed_store_ids",
                    "allowed_weekdays",
                    ("usable_from_time", "usable_until_time"),
                    "min_spend",
                    "usage_notes",
                ]
            },
        ),
        (_("Fulfilment and stock"), {"fields": ["fulfilment", "low_stock_threshold", "stock_summary", "batch_stock"]}),
    ]
    actions = ["generate_for_selected"]
    actions_detail = ["generate_codes"]

    def get_queryset(self, request):
        return selectors.skus_with_stock(super().get_queryset(request))

    def has_generate_permission(self, request, obj=None):
        return request.user.has_perm(services.GENERATE_PERMISSION)

    @display(description=_("available"), ordering="n_available")
    def available_stock(self, sku):
        if sku.fulfilment == Sku.Fulfilment.TOPUP:
            return "—"
        if sku.active and sku.n_available < sku.low_stock_threshold:
            return format_html('<span class="font-semibold text-red-600" title="{}">{} ⚠</span>', _("Low stock"), sku.n_available)
        return sku.n_available

    @display(description=_("stock"))
    def stock_summary(self, sku):
        if sku is None or sku.pk is None:
            return "—"
        row = selectors.stock_by_sku(skus=Sku.objects.filter(pk=sku.pk))[0]
        return _stock_counts_html(row.counts, low=row.low)

    @display(description=_("stock by batch"))
    def batch_stock(self, sku):
        if sku is None or sku.pk is None:
            return "—"
        rows = [(batch, [counts[s] for s in CardCode.Status.values]) for batch, counts in selectors.stock_by_batch(sku=sku)]
        return render_to_string("catalog/admin/batch_stock.html", {"rows": rows, "headers": CardCode.Status.labels})

    def _generate_flow(self, request, skus: list[Sku], **page):
        def on_valid(form):
            for sku in skus:
                batch = services.codes_generate(
                    sku=sku, count=form.cleaned_data["count"], actor=request.user, label=form.cleaned_data["label"], ip=client_ip(request)
                )
                self.message_user(
                    request,
                    _("Generated %(count)s codes for %(sku)s in batch #%(batch)s.")
                    % {"count": batch.code_count, "sku": sku.code, "batch": batch.pk},
                    messages.SUCCESS,
                )
            url = reverse("admin:catalog_codebatch_changelist")
            return HttpResponseRedirect(f"{url}?sku__id__exact={skus[0].pk}" if len(skus) == 1 else url)

        warning = ""
        if any(sku.fulfilment == Sku.Fulfilment.IMPORTED for sku in skus):
            warning = _(
                "These SKUs normally hold codes imported from the supplier; generated codes are only redeemable through VoucherHub."
            )
        return self._form_flow(
            request,
            form_class=GenerateCodesForm,
            on_valid=on_valid,
            title=_("Generate codes"),
            submit_label=_("Generate"),
            intro=_("New random codes go into a new batch for each SKU below, sealed in the vault."),
            objects=skus,
            warning=warning,
            **page,
        )

    @admin.action(description=_("Generate codes for the selected SKUs"), permissions=["generate"])
    def generate_for_selected(self, request, queryset):
        skus = list(queryset)
        return self._generate_flow(request, skus, action_name="generate_for_selected", selected=[s.pk for s in skus])

    @action(description=_("Generate codes"), url_path="generate-codes", permissions=["generate"], icon="add_circle")
    def generate_codes(self, request, object_id):
        sku = self._get_object_or_404(request, object_id)
        response = self._generate_flow(request, [sku])
        if isinstance(response, HttpResponseRedirect):
            return HttpResponseRedirect(reverse("admin:catalog_sku_change", args=[sku.pk]))
        return response


# --- Batches -----------------------------------------------------------------------------------


class VoidedFilter(admin.SimpleListFilter):
    title = _("voided")
    parameter_name = "voided"

    def lookups(self, request, model_admin):
        return [("no", _("No")), ("yes", _("Yes"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(voided_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(voided_at__isnull=True)
        return queryset


def _stock_column(status: str, label):
    @display(description=label, ordering=f"n_{status}")
    def column(self, batch):
        return getattr(batch, f"n_{status}", 0)

    column.__name__ = f"stock_{status}"
    return column


@admin.register(CodeBatch)
class CodeBatchAdmin(CatalogModelAdmin, ReadOnlyAdmin):
    list_display = [
        "id",
        "sku",
        "source",
        "label",
        "code_count",
        "stock_available",
        "stock_reserved",
        "stock_sold",
        "stock_redeemed",
        "stock_void",
        "created_by",
        "created_at",
        "voided",
    ]
    list_display_links = ["id", "sku"]
    list_filter = ["source", ("sku", AutocompleteSelectFilter), VoidedFilter, ("created_at", RangeDateFilter)]
    search_fields = ["label", "sku__code", "sku__name", "file_sha256"]
    list_select_related = ["sku", "created_by"]
    ordering = ["-id"]
    fields = [
        "sku",
        "source",
        "label",
        "file_sha256",
        "created_by",
        "created_at",
        "code_count",
        "stock",
        "codes_link",
        "voided_at",
        "void_reason",
    ]
    readonly_fields = fields
    actions = ["download_selected", "void_selected"]
    actions_detail = ["download_batch", "void_batch"]

    stock_available = _stock_column(CardCode.Status.AVAILABLE, _("available"))
    stock_reserved = _stock_column(CardCode.Status.RESERVED, _("reserved"))
    stock_sold = _stock_column(CardCode.Status.SOLD, _("sold"))
    stock_redeemed = _stock_column(CardCode.Status.REDEEMED, _("redeemed"))
    stock_void = _stock_column(CardCode.Status.VOID, _("void"))

    def get_queryset(self, request):
        return selectors.batches_with_stock(super().get_queryset(request))

    def has_reveal_permission(self, request, obj=None):
        return request.user.has_perm(services.REVEAL_PERMISSION)

    def has_void_permission(self, request, obj=None):
        return request.user.has_perm(services.VOID_PERMISSION)

    @display(description=_("voided"), boolean=True)
    def voided(self, batch):
        return batch.voided_at is not None

    @display(description=_("stock"))
    def stock(self, batch):
        return _stock_counts_html({status: getattr(batch, f"n_{status}", 0) for status in CardCode.Status.values})

    @display(description=_("codes"))
    def codes_link(self, batch):
        url = reverse("admin:catalog_cardcode_changelist") + f"?batch__id__exact={batch.pk}"
        return format_html('<a class="text-primary-600 underline" href="{}">{}</a>', url, _("Show the codes of this batch"))

    # Reveal (download) ------------------------------------------------------------------------

    def _download_flow(self, request, batches: list[CodeBatch], **page):
        count = sum(b.code_count for b in batches)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        filename = f"codes-batch-{'-'.join(str(b.pk) for b in batches[:5])}-{stamp}.csv"
        return self._reveal_flow(
            request,
            CardCode.objects.filter(batch__in=batches),
            count=count,
            download=True,
            filename=filename,
            back_url=self._changelist_url(),
            title=_("Download codes"),
            submit_label=_("Download CSV"),
            intro=_("The codes of these batches are decrypted and sent to you as a CSV file; nothing is stored on the server."),
            objects=[f"{b} ({b.code_count})" for b in batches],
            **page,
        )

    @admin.action(description=_("Download the codes of the selected batches (CSV)"), permissions=["reveal"])
    def download_selected(self, request, queryset):
        batches = list(queryset.order_by("pk"))
        return self._download_flow(request, batches, action_name="download_selected", selected=[b.pk for b in batches])

    @action(description=_("Download codes"), url_path="download", permissions=["reveal"], icon="download")
    def download_batch(self, request, object_id):
        return self._download_flow(request, [self._get_object_or_404(request, object_id)])

    # Void -------------------------------------------------------------------------------------

    def _void_flow(self, request, batches: list[CodeBatch], *, done_url: str, **page):
        def on_valid(form):
            for batch in batches:
                result = services.batch_void(batch=batch, actor=request.user, reason=form.cleaned_data["reason"], ip=client_ip(request))
                kept = sum(result.untouched.values())
                self.message_user(
                    request,
                    _("Batch #%(batch)s voided: %(voided)s codes voided, %(kept)s sold, redeemed or expired codes left as they are.")
                    % {"batch": batch.pk, "voided": result.voided, "kept": kept},
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(done_url)

        return self._form_flow(
            request,
            form_class=ReasonForm,
            on_valid=on_valid,
            title=_("Void batches"),
            submit_label=_("Confirm void"),
            danger=True,
            intro=_(
                "Every available or reserved code of these batches becomes void and can never be sold. Sold and redeemed codes stay valid."
            ),
            objects=[f"{b} ({b.code_count})" for b in batches],
            **page,
        )

    @admin.action(description=_("Void the selected batches"), permissions=["void"])
    def void_selected(self, request, queryset):
        batches = list(queryset.order_by("pk"))
        return self._void_flow(
            request, batches, done_url=self._changelist_url(), action_name="void_selected", selected=[b.pk for b in batches]
        )

    @action(description=_("Void batch"), url_path="void", permissions=["void"], icon="block")
    def void_batch(self, request, object_id):
        batch = self._get_object_or_404(request, object_id)
        return self._void_flow(request, [batch], done_url=reverse("admin:catalog_codebatch_change", args=[batch.pk]))


# --- Card codes --------------------------------------------------------------------------------


class CodeEventInline(ReadOnlyInline):
    model = CodeEvent
    fields = ["created_at", "from_status", "to_status", "actor", "reference", "reason"]
    readonly_fields = fields
    tab = True
    verbose_name_plural = _("history")


@admin.register(CardCode)
class CardCodeAdmin(ExportActionMixin, CatalogModelAdmin, ReadOnlyAdmin):
    """Only the masked hint is ever shown; the ciphertext and blind index are not fields of any form."""

    resource_classes = [CardCodeResource]
    export_form_class = SelectableFieldsExportForm
    list_display = ["id", "masked_code", "sku", "status_label", "serial", "batch", "expires_at", "order_ref", "created_at"]
    list_display_links = ["id", "masked_code"]
    list_filter = [
        ("status", ChoicesDropdownFilter),
        ("sku", AutocompleteSelectFilter),
        ("batch", AutocompleteSelectFilter),
        ("expires_at", RangeDateFilter),
    ]
    search_fields = ["serial", "order_ref", "hint"]
    search_help_text = _(
        "Serial number, order reference or the last characters of a code. To find a full code, use “Find by code”: "
        "it keeps the code out of the address bar and the logs."
    )
    fields = ["sku", "batch", "masked_code", "serial", "status", "expires_at", "order_ref", "key_id", "created_at", "status_changed_at"]
    readonly_fields = fields
    list_select_related = ["sku", "batch"]
    ordering = ["-id"]
    show_full_result_count = False
    inlines = [CodeEventInline]
    actions = ["reveal_selected", "void_selected"]
    actions_detail = ["reveal_code", "void_code"]
    actions_list = ["find_by_code"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("ciphertext", "blind_index")

    def has_reveal_permission(self, request, obj=None):
        return request.user.has_perm(services.REVEAL_PERMISSION)

    def has_void_permission(self, request, obj=None):
        return request.user.has_perm(services.VOID_PERMISSION)

    @display(description=_("code"), ordering="hint")
    def masked_code(self, code):
        return format_html('<span class="font-mono">{}</span>', code.hint)

    @display(
        description=_("status"),
        ordering="status",
        label={str(status): color for status, color in STATUS_COLORS.items()},
    )
    def status_label(self, code):
        return code.status, code.get_status_display()

    # Reveal -----------------------------------------------------------------------------------

    @admin.action(description=_("Reveal the selected codes"), permissions=["reveal"])
    def reveal_selected(self, request, queryset):
        count = queryset.count()
        if count > services.REVEAL_SCREEN_MAX:
            self.message_user(
                request,
                _("At most %(limit)s codes can be revealed on a page; select fewer, or download their batch.")
                % {"limit": services.REVEAL_SCREEN_MAX},
                messages.ERROR,
            )
            return None
        codes = list(queryset.order_by("pk"))
        return self._reveal_flow(
            request,
            queryset,
            count=count,
            download=False,
            back_url=self._changelist_url(),
            title=_("Reveal card codes"),
            submit_label=_("Reveal"),
            intro=_("These codes will be shown once, on a page that is not cached."),
            objects=codes,
            action_name="reveal_selected",
            selected=[c.pk for c in codes],
        )

    @action(description=_("Reveal"), url_path="reveal", permissions=["reveal"], icon="visibility")
    def reveal_code(self, request, object_id):
        code = self._get_object_or_404(request, object_id)
        return self._reveal_flow(
            request,
            CardCode.objects.filter(pk=code.pk),
            count=1,
            download=False,
            back_url=reverse("admin:catalog_cardcode_change", args=[code.pk]),
            title=_("Reveal card code"),
            submit_label=_("Reveal"),
            intro=_("The code will be shown once, on a page that is not cached."),
            objects=[code],
        )

    # Void -------------------------------------------------------------------------------------

    def _void_flow(self, request, codes: list[CardCode], *, done_url: str, **page):
        def on_valid(form):
            voided = services.codes_void(codes=codes, actor=request.user, reason=form.cleaned_data["reason"], ip=client_ip(request))
            self.message_user(
                request, ngettext("%(count)d code voided.", "%(count)d codes voided.", voided) % {"count": voided}, messages.SUCCESS
            )
            return HttpResponseRedirect(done_url)

        return self._form_flow(
            request,
            form_class=ReasonForm,
            on_valid=on_valid,
            title=_("Void card codes"),
            submit_label=_("Confirm void"),
            danger=True,
            intro=_("Voided codes can never be sold. Only available or reserved codes can be voided."),
            objects=codes,
            **page,
        )

    @admin.action(description=_("Void the selected codes"), permissions=["void"])
    def void_selected(self, request, queryset):
        if queryset.count() > VOID_SELECTED_MAX:
            self.message_user(
                request,
                _("At most %(limit)s codes can be voided at once; to void a whole batch use the batch action.")
                % {"limit": VOID_SELECTED_MAX},
                messages.ERROR,
            )
            return None
        codes = list(queryset.order_by("pk"))
        return self._void_flow(request, codes, done_url=self._changelist_url(), action_name="void_selected", selected=[c.pk for c in codes])

    @action(description=_("Void code"), url_path="void", permissions=["void"], icon="block")
    def void_code(self, request, object_id):
        code = self._get_object_or_404(request, object_id)
        return self._void_flow(request, [code], done_url=reverse("admin:catalog_cardcode_change", args=[code.pk]))

    # Find by code -----------------------------------------------------------------------------

    @action(description=_("Find by code"), url_path="find", permissions=["view"], icon="search")
    def find_by_code(self, request):
        def on_valid(form):
            found = services.code_lookup(code=form.cleaned_data["code"], actor=request.user, ip=client_ip(request))
            return HttpResponseRedirect(reverse("admin:catalog_cardcode_change", args=[found.pk]))

        return self._form_flow(
            request,
            form_class=FindCodeForm,
            on_valid=on_valid,
            title=_("Find a card code"),
            submit_label=_("Find"),
            intro=_("Finds the code by its blind index without decrypting anything. The search is audited."),
        )


# Imports have their own module (upload, preview, progress).
from catalog import admin_imports  # noqa: E402, F401
