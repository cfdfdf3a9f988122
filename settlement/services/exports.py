"""Background exports for large ranges (django-q2 job, progress in ExportJob)."""

import logging
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from settlement import conf, exporting
from settlement.models import ExportJob
from voucherhub.core.audit import audit_record
from voucherhub.core.jobs import JobHeartbeat, JobLost, JobNotRetryable, job_claim, job_take_over

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
    "campaign_discounts",
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


def _enqueue(job: ExportJob) -> None:
    from django_q.tasks import async_task

    async_task("settlement.tasks.export_run", job.pk)


def export_start(*, kind: str, fmt: str, actor, params: dict | None = None, run_now: bool = False) -> ExportJob:
    """Queue an export. The file is written in the language of the request that asked for it (its headers and
    the labels of stored values), kept with the job's parameters."""
    params = {**(params or {}), "language": translation.get_language() or settings.LANGUAGE_CODE}
    job = ExportJob.objects.create(kind=kind, fmt=fmt, params=params, created_by=actor)
    audit_record(actor=actor, action="export.start", obj=job, data={"kind": kind, "fmt": fmt, "params": params})
    if run_now:
        return export_run(job_id=job.pk)
    _enqueue(job)
    return job


def _sheet(job: ExportJob):
    """The job's main sheet and any small extra sheets (a statement's summary)."""
    params = dict(job.params)
    params.pop("language", None)
    if job.kind == ExportJob.Kind.STATEMENT:
        from settlement.models import Statement

        statement = Statement.objects.select_related("wallet__distributor").get(pk=params["statement_id"])
        return statement_sheets(statement)
    if job.kind == ExportJob.Kind.MERCHANT_STATEMENT:
        from settlement.models import MerchantStatement
        from settlement.services import merchant_statements

        statement = MerchantStatement.objects.select_related("merchant").get(pk=params["merchant_statement_id"])
        return merchant_statements.statement_sheets(statement)
    sheet = exporting.SHEETS[job.kind](start=_when(params.pop("start", None)), end=_when(params.pop("end", None)), **params)
    return sheet, ()


def _unlink(file_path: str) -> None:
    if file_path:
        Path(file_path).unlink(missing_ok=True)


def export_run(*, job_id: int) -> ExportJob:
    """Write the export file, updating the row count as it goes. Safe to run twice: a job that is done, failed
    or running under a live worker is left alone; one whose worker died (a stale heartbeat) is taken over and
    written again from the start."""
    attempt = job_claim(ExportJob, pk=job_id, frm=[ExportJob.Status.QUEUED], to=ExportJob.Status.RUNNING, done_rows=0)
    job = ExportJob.objects.get(pk=job_id)
    if attempt is None:
        return job
    try:
        with JobHeartbeat(ExportJob, pk=job.pk, status=ExportJob.Status.RUNNING, attempt=attempt) as heartbeat:
            with translation.override(job.params.get("language") or settings.LANGUAGE_CODE):
                _export_write(job, attempt=attempt, heartbeat=heartbeat)
    except JobLost:
        logger.warning("export %s: attempt %s lost the job to another; stopped", job.pk, attempt)
    job.refresh_from_db()
    return job


def _export_write(job: ExportJob, *, attempt: int, heartbeat: JobHeartbeat) -> None:
    mine = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING, attempts=attempt)
    _unlink(job.file_path)  # what an attempt whose worker died left half-written
    path = None
    try:
        sheet, extra = _sheet(job)
        filename = f"{job.kind}-{job.pk}-{timezone.localtime():%Y%m%d%H%M%S}.{job.fmt}"
        path = conf.export_dir() / filename
        if not mine.update(total_rows=exporting.count(sheet), file_path=str(path), filename=filename):
            raise JobLost

        def progress(n):
            # The heartbeat's thread writes the count with its next beat: during a COPY this connection is busy.
            heartbeat.check()
            heartbeat.report(done_rows=n)

        if job.fmt == ExportJob.Format.XLSX:
            n = exporting.write_xlsx(path, sheet, progress=progress, extra_sheets=extra)
        else:
            n = exporting.write_csv(path, sheet, progress=progress)
    except JobLost:
        if path is not None:
            _unlink(str(path))
        raise
    except Exception as exc:
        logger.exception("export %s failed", job.pk)
        if path is not None:
            _unlink(str(path))
        mine.update(status=ExportJob.Status.FAILED, failure=ExportJob.Failure.ERROR, message=str(exc)[:500], finished_at=timezone.now())
        raise
    if not mine.update(status=ExportJob.Status.DONE, done_rows=n, finished_at=timezone.now()):
        _unlink(str(path))
        raise JobLost


# --- The sweeper's services (voucherhub/core/jobs.py) and the retry ---------------------------------------


def export_requeue(job: ExportJob) -> bool:
    """A running job whose worker died goes back to the queue (its next attempt writes the file anew)."""
    if not job_take_over(ExportJob, job, status=ExportJob.Status.QUEUED, done_rows=0):
        return False
    transaction.on_commit(lambda: _enqueue(job))
    return True


def export_give_up(job: ExportJob) -> bool:
    """A running job whose worker died on its last attempt fails: "the worker stopped"; it can be retried."""
    taken = job_take_over(
        ExportJob, job, status=ExportJob.Status.FAILED, failure=ExportJob.Failure.WORKER_STOPPED, message="", finished_at=timezone.now()
    )
    if taken:
        _unlink(job.file_path)
    return taken


@transaction.atomic
def export_retry(*, job: ExportJob, actor) -> ExportJob:
    """Queue a failed export again (the person who started it, from the exports page)."""
    updated = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.FAILED).update(
        status=ExportJob.Status.QUEUED, attempts=0, failure="", message="", done_rows=0, finished_at=None
    )
    if not updated:
        raise JobNotRetryable(field="job")
    job.refresh_from_db()
    audit_record(actor=actor, action="export.retry", obj=job, data={"kind": job.kind, "fmt": job.fmt})
    transaction.on_commit(lambda: _enqueue(job))
    return job
