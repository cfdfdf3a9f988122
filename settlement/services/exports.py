"""Background exports for large ranges (django-q2 job, progress in ExportJob)."""

import logging
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from settlement import conf, exporting
from settlement.models import ExportJob
from voucherhub.core.audit import audit_record

logger = logging.getLogger(__name__)


def _when(value):
    if not value:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if isinstance(parsed, datetime) and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


STATEMENT_FIELDS = (
    "opening_balance",
    "topups",
    "purchases",
    "refunds",
    "closing_balance",
    "commission_opening",
    "commission_earned",
    "commission_released",
    "commission_clawed_back",
    "withdrawals",
    "commission_closing",
    "debt_closing",
    "order_count",
)


def statement_sheets(statement):
    """A statement's lines (its wallet's ledger entries in the period, each with its order) and a summary sheet."""
    from settlement.models import Statement

    meta = Statement._meta
    summary = [
        (str(_("Statement")), statement.number),
        (str(_("Distributor")), statement.wallet.distributor.name),
        (str(pgettext("start of a period", "From")), timezone.localtime(statement.period_start).replace(tzinfo=None)),
        (str(_("Until")), timezone.localtime(statement.period_end).replace(tzinfo=None)),
        (str(_("Currency")), statement.currency),
        (str(_("Status")), statement.get_status_display()),
    ] + [(str(meta.get_field(name).verbose_name), getattr(statement, name)) for name in STATEMENT_FIELDS]
    lines = exporting.ledger_sheet(start=statement.period_start, end=statement.period_end, wallet_id=statement.wallet_id)
    return lines, [(str(_("Summary")), summary)]


def export_start(*, kind: str, fmt: str, actor, params: dict | None = None, run_now: bool = False) -> ExportJob:
    job = ExportJob.objects.create(kind=kind, fmt=fmt, params=params or {}, created_by=actor)
    audit_record(actor=actor, action="export.start", obj=job, data={"kind": kind, "fmt": fmt, "params": params or {}})
    if run_now:
        return export_run(job_id=job.pk)
    else:
        from django_q.tasks import async_task

        async_task("settlement.tasks.export_run", job.pk)
    return job


def export_run(*, job_id: int) -> ExportJob:
    """Write the export file, updating the row count as it goes. A finished job is left alone."""
    job = ExportJob.objects.get(pk=job_id)
    if job.status in (ExportJob.Status.DONE, ExportJob.Status.RUNNING):
        return job
    params = dict(job.params)
    extra = ()
    if job.kind == ExportJob.Kind.STATEMENT:
        from settlement.models import Statement

        statement = Statement.objects.select_related("wallet__distributor").get(pk=params["statement_id"])
        sheet, extra = statement_sheets(statement)
    elif job.kind == ExportJob.Kind.MERCHANT_STATEMENT:
        from settlement.models import MerchantStatement
        from settlement.services import merchant_statements

        statement = MerchantStatement.objects.select_related("merchant").get(pk=params["merchant_statement_id"])
        sheet, extra = merchant_statements.statement_sheets(statement)
    else:
        sheet = exporting.SHEETS[job.kind](start=_when(params.pop("start", None)), end=_when(params.pop("end", None)), **params)
    job.status = ExportJob.Status.RUNNING
    job.total_rows = exporting.count(sheet)
    job.save(update_fields=["status", "total_rows"])
    filename = f"{job.kind}-{job.pk}-{timezone.localtime():%Y%m%d%H%M%S}.{job.fmt}"
    path = conf.export_dir() / filename

    def progress(n):
        ExportJob.objects.filter(pk=job.pk).update(done_rows=n)

    try:
        if job.fmt == ExportJob.Format.XLSX:
            n = exporting.write_xlsx(path, sheet, progress=progress, extra_sheets=extra)
        else:
            n = exporting.write_csv(path, sheet, progress=progress)
    except Exception as exc:
        logger.exception("export %s failed", job.pk)
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, message=str(exc)[:500], finished_at=timezone.now())
        raise
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE, done_rows=n, file_path=str(path), filename=filename, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job
