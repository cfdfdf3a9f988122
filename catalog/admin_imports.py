"""Admin for code imports: upload, dry-run preview, confirm or cancel, a progress bar, the result.

Every page shows row numbers, reasons and masked hints, never a code. The upload is kept in memory
only (never spooled to a temporary file) and sealed by `jobs.import_job_create` before it is stored.
"""

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminRadioSelectWidget, UnfoldAdminSelectWidget

from catalog.importing import checks, errors, jobs, sources
from catalog.models import CodeBatch, ImportJob, Sku
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip

ERRORS_PER_PAGE = 100
IMPORT_PERMISSION = "catalog.import_cardcode"


class InMemoryUploadHandler(FileUploadHandler):
    """Keeps an uploaded code file in memory only. Django's default handlers spool files over 2.5 MB to a
    temporary file on disk, and this file holds plaintext codes. Past the size cap the file is skipped."""

    def __init__(self, request=None, max_bytes: int | None = None):
        super().__init__(request)
        self.max_bytes = max_bytes or sources.max_bytes()
        self.too_large = False
        self.buffer = None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.max_bytes:
            self.too_large = True
            self.buffer = None
            raise SkipFile()
        self.buffer.write(raw_data)
        return None

    def file_complete(self, file_size):
        if self.buffer is None:
            return None
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


class ImportUploadForm(forms.Form):
    sku = forms.ModelChoiceField(
        label=_("SKU"),
        queryset=Sku.objects.active().exclude(fulfilment=Sku.Fulfilment.TOPUP).select_related("product"),
        widget=UnfoldAdminSelectWidget,
    )
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV or XLSX. The first row names the columns: code, and optionally serial and expires_at."),
        widget=UnfoldAdminFileFieldWidget(attrs={"accept": ".csv,.txt,.xlsx"}),
    )
    mode = forms.ChoiceField(
        label=_("Mode"),
        choices=ImportJob.Mode.choices,
        initial=ImportJob.Mode.ALL,
        widget=UnfoldAdminRadioSelectWidget,
        help_text=_("All or nothing stores no code unless every row is good; the other mode stores the good rows and lists the bad."),
    )

    def __init__(self, *args, too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.too_large = too_large

    def clean(self):
        if self.too_large:
            self.errors.pop("file", None)
            raise forms.ValidationError({"file": ImportJob.Failure.TOO_LARGE.label})
        return super().clean()


@admin.register(ImportJob)
class ImportJobAdmin(ModelAdmin):
    list_display = [
        "id",
        "filename",
        "sku",
        "mode",
        "status_badge",
        "progress",
        "total_rows",
        "stored_rows",
        "invalid_rows",
        "created_by",
        "created_at",
    ]
    list_display_links = ["id", "filename"]
    list_filter = ["status", "mode", "sku"]
    search_fields = ["filename", "sku__code", "file_sha256"]
    list_select_related = ["sku", "created_by"]
    exclude = ["payload", "payload_key_id"]

    @display(
        description=_("status"),
        label={
            ImportJob.Status.DONE: "success",
            ImportJob.Status.FAILED: "danger",
            ImportJob.Status.CANCELLED: "warning",
            ImportJob.Status.PREVIEW: "info",
        },
    )
    def status_badge(self, job):
        return job.status, job.get_status_display()

    def get_queryset(self, request):
        # The sealed upload and the error list can be large; a list never needs them.
        return super().get_queryset(request).defer("payload", "errors")

    def has_add_permission(self, request):
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        jobs.import_jobs_expire()
        return super().changelist_view(request, extra_context)

    # --- URLs -------------------------------------------------------------------------------------

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        upload = wrap(self.upload_view)

        @csrf_exempt  # CSRF is checked by the wrapped view, once the upload handler is in place
        def upload_entry(request, *args, **kwargs):
            request.upload_handlers = [InMemoryUploadHandler(request)]
            return upload(request, *args, **kwargs)

        custom = [
            path("add/", upload_entry, name=f"{info}_add"),
            path("template.<str:fmt>", wrap(self.template_view), name=f"{info}_template"),
            path("<int:object_id>/progress/", wrap(self.progress_view), name=f"{info}_progress"),
            path("<int:object_id>/confirm/", wrap(self.confirm_view), name=f"{info}_confirm"),
            path("<int:object_id>/cancel/", wrap(self.cancel_view), name=f"{info}_cancel"),
            path("<int:object_id>/retry/", wrap(self.retry_view), name=f"{info}_retry"),
            path("<int:object_id>/bad-rows.csv", wrap(self.errors_csv_view), name=f"{info}_errors"),
        ]
        return custom + [url for url in super().get_urls() if getattr(url, "name", None) != f"{info}_add"]

    def _url(self, name: str, job: ImportJob | None = None, **kwargs) -> str:
        args = [job.pk] if job is not None else list(kwargs.values())
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args, current_app=self.admin_site.name)

    def _job(self, request, object_id) -> ImportJob:
        job = get_object_or_404(ImportJob.objects.select_related("sku", "batch", "created_by", "confirmed_by"), pk=object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def _require_import_permission(self, request) -> None:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied

    # --- Views ------------------------------------------------------------------------------------

    # The upload's rows (plaintext codes) are locals below these two views while a small file is checked or
    # stored in the request: an error report shows none of their variables, nor those of what they call.
    @sensitive_variables()
    def upload_view(self, request):
        self._require_import_permission(request)
        handler = next((h for h in request.upload_handlers if isinstance(h, InMemoryUploadHandler)), None)
        if request.method == "POST":
            form = ImportUploadForm(request.POST, request.FILES, too_large=bool(handler and handler.too_large))
            if form.is_valid():
                try:
                    job = jobs.import_job_create(
                        sku=form.cleaned_data["sku"],
                        upload=form.cleaned_data["file"],
                        actor=request.user,
                        mode=form.cleaned_data["mode"],
                        ip=client_ip(request),
                    )
                except errors.ImportFileRejected as rejected:
                    form.add_error("file", rejected.message)
                else:
                    jobs.import_jobs_expire()
                    jobs.import_job_start(job=job)
                    return redirect(self._url("change", job))
        else:
            form = ImportUploadForm(initial={"sku": request.GET.get("sku")})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import codes"),
            "form": form,
            "max_megabytes": sources.max_bytes() // (1024 * 1024),
            "code_min": checks.CODE_MIN_LENGTH,
            "code_max": checks.CODE_MAX_LENGTH,
            "serial_max": checks.SERIAL_MAX_LENGTH,
            "aliases": {name: sorted(aliases) for name, aliases in sources.HEADER_ALIASES.items()},
            "template_csv_url": self._url("template", fmt="csv"),
            "template_xlsx_url": self._url("template", fmt="xlsx"),
        }
        return TemplateResponse(request, "catalog/admin/import_upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The job page: progress while it runs, the dry-run preview, then the result."""
        job = self._job(request, object_id)
        paginator = Paginator(job.errors, ERRORS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        bad_rows = [{**error, "text": checks.error_text(error)} for error in page.object_list]
        reasons = [
            {"code": reason, "label": checks.Reason(reason).label, "count": count}
            for reason, count in sorted(job.reason_counts.items(), key=lambda item: -item[1])
            if reason in checks.Reason.values
        ]
        earlier = (
            CodeBatch.objects.filter(sku=job.sku, file_sha256=job.file_sha256)
            .exclude(Q(pk=job.batch_id) if job.batch_id else Q(pk__in=[]))
            .order_by("created_at")
            .first()
        )
        can_import = request.user.has_perm(IMPORT_PERMISSION)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Code import #%(id)s") % {"id": job.pk},
            "subtitle": job.filename,
            "job": job,
            "Status": ImportJob.Status,
            "page_obj": page,
            "bad_rows": bad_rows,
            "reasons": reasons,
            "earlier_batch": earlier,
            "can_import": can_import,
            "can_cancel": can_import
            and job.status in (ImportJob.Status.QUEUED, ImportJob.Status.VALIDATING, ImportJob.Status.PREVIEW, ImportJob.Status.CONFIRMED),
            "all_mode_blocked": job.mode == ImportJob.Mode.ALL and job.invalid_rows > 0,
            "progress_url": self._url("progress", job),
            "confirm_url": self._url("confirm", job),
            "cancel_url": self._url("cancel", job),
            "can_retry": can_import
            and job.status == ImportJob.Status.FAILED
            and job.failure == ImportJob.Failure.WORKER_STOPPED
            and job.payload is not None,
            "retry_url": self._url("retry", job),
            "errors_url": self._url("errors", job),
            "add_url": self._url("add") + f"?sku={job.sku_id}",
            "batch_codes_url": (
                reverse("admin:catalog_cardcode_changelist", current_app=self.admin_site.name) + f"?batch__id__exact={job.batch_id}"
                if job.batch_id
                else ""
            ),
        }
        return TemplateResponse(request, "catalog/admin/import_job.html", context)

    def progress_view(self, request, object_id):
        """The htmx-polled progress bar; once the job stops running the page reloads to show what follows."""
        job = get_object_or_404(ImportJob.objects.only("id", "status", "progress", "total_rows", "mode"), pk=object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        response = TemplateResponse(
            request,
            "catalog/admin/import_progress.html",
            {"job": job, "progress_url": self._url("progress", job), "Status": ImportJob.Status},
        )
        if not job.is_running:
            response["HX-Refresh"] = "true"
        return response

    def confirm_view(self, request, object_id):
        return require_POST(self._confirm)(request, object_id)

    @sensitive_variables()
    def _confirm(self, request, object_id):
        self._require_import_permission(request)
        job = self._job(request, object_id)
        mode = request.POST.get("mode") or job.mode
        if mode not in ImportJob.Mode.values:
            messages.error(request, gettext("Unknown mode."))
            return redirect(self._url("change", job))
        try:
            jobs.import_job_confirm(job=job, actor=request.user, mode=mode, ip=client_ip(request))
        except errors.CodeImportError as error:
            messages.error(request, error.message)
        return redirect(self._url("change", job))

    def cancel_view(self, request, object_id):
        return require_POST(self._cancel)(request, object_id)

    def _cancel(self, request, object_id):
        self._require_import_permission(request)
        job = self._job(request, object_id)
        try:
            jobs.import_job_cancel(job=job, actor=request.user, ip=client_ip(request))
        except errors.CodeImportError as error:
            messages.error(request, error.message)
        else:
            messages.info(request, gettext("The import was cancelled and the uploaded file wiped."))
        return redirect(self._url("change", job))

    def retry_view(self, request, object_id):
        return require_POST(self._retry)(request, object_id)

    def _retry(self, request, object_id):
        self._require_import_permission(request)
        job = self._job(request, object_id)
        try:
            jobs.import_job_retry(job=job, actor=request.user, ip=client_ip(request))
        except DomainError as error:
            messages.error(request, error.message)
        return redirect(self._url("change", job))

    def errors_csv_view(self, request, object_id):
        """The bad rows as a spreadsheet: row number, reason, masked hint."""
        job = self._job(request, object_id)
        out = io.StringIO()
        out.write("\ufeff")  # so Excel reads UTF-8
        writer = csv.writer(out)
        writer.writerow([gettext("row"), gettext("reason code"), gettext("reason"), gettext("hint")])
        for error in job.errors:
            writer.writerow([error["row"], error["reason"], checks.error_text(error), error.get("hint", "")])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-bad-rows.csv"'
        return response

    def template_view(self, request, fmt):
        """An empty file with the header row, to fill in."""
        self._require_import_permission(request)
        header = ["code", "serial", "expires_at"]
        if fmt == "csv":
            response = HttpResponse("\ufeff" + ",".join(header) + "\r\n", content_type="text/csv; charset=utf-8")
        elif fmt == "xlsx":
            from openpyxl import Workbook

            book = Workbook()
            book.active.append(header)
            buffer = io.BytesIO()
            book.save(buffer)
            response = HttpResponse(buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        else:
            raise Http404
        response["Content-Disposition"] = f'attachment; filename="codes-template.{fmt}"'
        return response
