from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from voucherhub.core.jobs import WORKER_STOPPED, WORKER_STOPPED_LABEL, LongJob


class ExportJob(LongJob):
    """A large export run in the background; the file is written in a streaming way.

    A worker holds a running job through its heartbeat (voucherhub/core/jobs.py); a job whose worker died
    is queued again or failed by the sweeper, and a failed job can be retried."""

    class Kind(models.TextChoices):
        LEDGER = "ledger", _("Ledger entries")
        ORDERS = "orders", _("Orders")
        COMMISSION = "commission", _("Commission")
        STATEMENT = "statement", _("Statement lines")
        SUPPLIER = "supplier", _("Supplier statement")
        MERCHANT_STATEMENT = "merchant", _("Merchant statement")

    class Format(models.TextChoices):
        XLSX = "xlsx", "XLSX"
        CSV = "csv", "CSV"

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Failure(models.TextChoices):
        ERROR = "error", _("Failed: the export stopped on an error")
        WORKER_STOPPED = WORKER_STOPPED, WORKER_STOPPED_LABEL

    # A running job that loses its worker starts again from queued.
    WORKING = {Status.RUNNING: Status.QUEUED}

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    fmt = models.CharField(_("format"), max_length=4, choices=Format.choices, default=Format.XLSX)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveBigIntegerField(_("rows"), default=0)
    done_rows = models.PositiveBigIntegerField(_("rows written"), default=0)
    file_path = models.CharField(max_length=300, blank=True, editable=False)
    filename = models.CharField(_("file"), max_length=200, blank=True)
    failure = models.CharField(_("failure"), max_length=16, choices=Failure.choices, blank=True)
    message = models.CharField(_("message"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-id"]
        permissions = [("export_finance", "Can export finance data")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()}"

    @property
    def progress(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(self.done_rows * 100 / self.total_rows) if self.total_rows else 0
