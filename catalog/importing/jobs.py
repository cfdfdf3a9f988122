"""The ImportJob lifecycle: upload, dry run, confirm, commit, cancel, retry, and the progress the page polls.

    import_job_create    seal the upload (it never rests in plaintext) and record the job
    import_job_start     check it now (a small file) or in the background (django-q2, catalog/tasks.py)
    import_job_validate  the dry run: every bad row with its row number, reason and masked hint
    import_job_confirm   the operator's go-ahead (optionally switching to "store the valid rows")
    import_job_commit    store the good rows: all or nothing, or just the valid ones
    import_job_cancel    give up; the sealed upload is wiped
    import_jobs_expire   cancel stale previews, wipe uploads kept for a retry nobody made
    import_job_requeue / import_job_give_up / import_job_retry   a job whose worker died (the sweeper)
    codes_import         check and store in one pass (the `import_codes` command, the benchmark)

A worker holds a validating or importing job through its heartbeat (voucherhub/core/jobs.py); every write
of the job is conditional on the claim's attempt, so a worker that lost its job stops.

Storing is all or nothing: the batch, its codes and the job's outcome commit in one transaction, so a
worker that dies stored nothing (the sweeper queues the step again) and mode all rolls everything back
when a row is bad. Codes are never committed chunk by chunk: a committed code can be sold at once, and a
later failure could not take it back. The progress bar still moves every chunk while rows are stored:

* PostgreSQL checks, seals and COPYs chunk after chunk inside that transaction; each chunk's progress is
  written through a second connection in its own autocommitted UPDATE (`_Progress(side=True)`), so the
  page sees it at once instead of at the commit.
* SQLite (the laptop demo) allows one writer at a time, so the file is checked and sealed chunk by chunk
  before the write lock is taken, each chunk's progress committed on its own; then one short transaction
  (BEGIN IMMEDIATE) looks the codes up once more and inserts them.
A deadlock between two racing imports is retried.
"""

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext

from catalog import vault
from catalog.importing import store
from catalog.importing.checks import Checked, RowChecker, indexes_in_vault, rows_check
from catalog.importing.errors import AllModeHasBadRows, ImportFileRejected, ImportJobStateError, ImportRefused
from catalog.importing.sources import Source, read_source, source_open
from catalog.models import CodeBatch, ImportJob, Sku
from catalog.services import batch_create
from voucherhub.core.audit import audit_record
from voucherhub.core.jobs import JobHeartbeat, JobLost, JobNotRetryable, job_claim, job_take_over

logger = logging.getLogger(__name__)

Failure = ImportJob.Failure
Status = ImportJob.Status
Mode = ImportJob.Mode


def _inline_limits() -> tuple[int, int]:
    return getattr(settings, "IMPORT_INLINE_MAX_ROWS", 5_000), getattr(settings, "IMPORT_INLINE_MAX_BYTES", 1024 * 1024)


class _Cancelled(Exception):
    """The job was cancelled while it ran."""


# --- Progress -------------------------------------------------------------------------------------


class _Progress:
    """Writes a running job's progress (0-100) where the progress page can see it.

    Outside a transaction the job row is updated directly (the dry run; SQLite's check-and-seal pass). With
    `side=True`, while the import's own transaction is open on PostgreSQL, each update goes through a second
    connection in its own autocommitted statement, so the page sees it at once rather than at the commit; it
    is best effort (a lock wait over 500 ms or a broken connection stops it, never the import). Only
    PostgreSQL stores inside a transaction while progress is written, so `side` writes nothing elsewhere.
    An update that finds the job no longer in `status` (or no longer this attempt's) means it was cancelled
    (or taken over). Each call also asks the worker's heartbeat whether the job is still this attempt's."""

    def __init__(self, job: ImportJob, status: str, heartbeat: JobHeartbeat | None = None):
        self.job_id, self.status, self.attempt, self.heartbeat = job.pk, status, job.attempts, heartbeat
        self.side = None
        self.side_broken = False
        self.last = -1

    def __call__(self, percent: float, *, side: bool = False) -> None:
        percent = max(0, min(99, int(percent)))
        if percent == self.last:
            return
        self.last = percent
        if self.heartbeat is not None:
            self.heartbeat.check()
        if not side:
            mine = ImportJob.objects.filter(pk=self.job_id, status=self.status, attempts=self.attempt)
            updated = mine.update(progress=percent)
            if not updated:
                raise _Cancelled
        elif connection.vendor == "postgresql" and not self.side_broken:
            try:
                if self.side is None:
                    self.side = connections.create_connection(DEFAULT_DB_ALIAS)
                    with self.side.cursor() as cursor:
                        # Never wait on a lock the import's own transaction might hold: progress is best effort.
                        cursor.execute("SET lock_timeout = '500ms'")
                with self.side.cursor() as cursor:  # only while the job is still this attempt's
                    cursor.execute(
                        f"UPDATE {ImportJob._meta.db_table} SET progress = %s WHERE id = %s AND status = %s AND attempts = %s",
                        [percent, self.job_id, self.status, self.attempt],
                    )
            except DatabaseError:
                logger.warning("code import %s: progress not written", self.job_id, exc_info=True)
                self.side_broken = True

    def span(self, start: float, end: float, total: int, *, side: bool = False) -> Callable[[int], None]:
        total = max(total, 1)
        return lambda done: self(start + (end - start) * min(done, total) / total, side=side)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None


def _context(sha256: str) -> str:
    return f"catalog.importjob:{sha256}"


def _payload_open(job: ImportJob) -> bytes:
    if job.payload is None:
        raise ImportJobStateError(gettext("The uploaded file is gone (the job finished or was cancelled)."))
    data = vault.open_bytes(job.payload, key_id=job.payload_key_id, context=_context(job.file_sha256))
    if hashlib.sha256(data).hexdigest() != job.file_sha256:
        raise vault.VaultError("sealed file does not match its hash")
    return data


def _claim(job: ImportJob, *, frm: str, to: str) -> bool:
    """Move the job from `frm` to `to` if nobody else did: a task run twice does the work once. A job left in
    `to` by a worker that died (a stale heartbeat) is taken over (voucherhub/core/jobs.py)."""
    attempt = job_claim(ImportJob, pk=job.pk, frm=[frm], to=to, started_at=timezone.now(), progress=0)
    job.refresh_from_db()
    return attempt is not None


def _heartbeat(job: ImportJob) -> JobHeartbeat:
    """The claimed job's heartbeat (job.attempts is the claim's attempt)."""
    return JobHeartbeat(ImportJob, pk=job.pk, status=job.status, attempt=job.attempts)


def _audit_data(job: ImportJob, **extra) -> dict:
    return {
        "job": job.pk,
        "sku": job.sku.code,
        "mode": job.mode,
        "file_sha256": job.file_sha256,
        "rows": job.total_rows,
        "valid_rows": job.valid_rows,
        "bad_rows": job.invalid_rows,
        "stored": job.stored_rows,
        "reasons": job.reason_counts,
        **extra,
    }


def _job_finish(job: ImportJob, *, status: str, actor, ip=None, failure: str = "", detail: str = "", **fields) -> ImportJob:
    """Record the outcome, wipe the sealed upload, audit (counts only, never a code).

    Only a job still running is finished (or, for a cancel, the job being cancelled): when a cancel won
    the race, it stays cancelled; when another attempt took the job over, it is that attempt's to finish."""
    fields.update(status=status, failure=failure, message=detail[:500], payload=None, payload_key_id="", finished_at=timezone.now())
    if status == Status.DONE:
        fields["progress"] = 100
    expected = [Status.CANCELLED] if status == Status.CANCELLED else list(ImportJob.RUNNING)
    if not ImportJob.objects.filter(pk=job.pk, status__in=expected, attempts=job.attempts).update(**fields):
        job.refresh_from_db()
        return job
    for name, value in fields.items():
        setattr(job, name, value)
    action = {Status.DONE: "codes.import", Status.CANCELLED: "codes.import_cancelled"}.get(
        status, "codes.import_refused" if failure == Failure.REFUSED else "codes.import_failed"
    )
    audit_record(actor=actor, action=action, obj=job.batch or job, ip=ip, data=_audit_data(job, failure=failure))
    return job


def _checked_fields(checked: Checked) -> dict:
    return {
        "total_rows": checked.total,
        "valid_rows": len(checked.good),
        "invalid_rows": len(checked.errors),
        "errors": checked.errors,
        "reason_counts": checked.reason_counts(),
    }


def import_job_create(*, sku: Sku, upload, actor, mode: str = Mode.ALL, ip: str | None = None) -> ImportJob:
    """Take an uploaded file: check its format and header, seal it with the vault key, record the job."""
    data = upload.read() if hasattr(upload, "read") else bytes(upload)
    filename = Path(getattr(upload, "name", "") or "upload.csv").name[:200]
    try:
        source = source_open(data, filename=filename)
    except ImportFileRejected as exc:
        exc.field = "file"
        raise
    sha256 = hashlib.sha256(data).hexdigest()
    blob, key_id = vault.seal_bytes(data, context=_context(sha256))
    job = ImportJob.objects.create(
        sku=sku,
        filename=filename,
        file_sha256=sha256,
        file_size=len(data),
        file_format=source.format,
        payload=blob,
        payload_key_id=key_id,
        mode=mode,
        status=Status.QUEUED,
        total_rows=source.estimate,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    del data
    audit_record(actor=actor, action="codes.import_uploaded", obj=job, ip=ip, data=_audit_data(job, size=job.file_size))
    return job


def import_job_is_small(job: ImportJob) -> bool:
    max_rows, max_size = _inline_limits()
    return job.total_rows <= max_rows and job.file_size <= max_size


def _enqueue(task: str, job: ImportJob, step: str) -> None:
    """Queue a django-q2 task once the job row is committed (the worker must see it)."""
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(task, job.pk, task_name=f"code-import-{job.pk}-{step}", group="code-imports"))


def import_job_start(*, job: ImportJob) -> bool:
    """Run the dry run now for a small file, or queue it. Returns True when it was queued."""
    if import_job_is_small(job):
        import_job_validate(job=job)
        return False
    _enqueue("catalog.tasks.import_job_validate_task", job, "validate")
    return True


def import_job_validate(*, job: ImportJob) -> ImportJob:
    """The dry run: every row checked against the file and the vault; nothing stored. Safe to run twice."""
    if not _claim(job, frm=Status.QUEUED, to=Status.VALIDATING):
        return job
    with _heartbeat(job) as heartbeat:
        return _validate(job, _Progress(job, Status.VALIDATING, heartbeat))


def _validate(job: ImportJob, progress: _Progress) -> ImportJob:
    try:
        source = source_open(_payload_open(job), filename=job.filename)
        checked = rows_check(rows=source.rows, sealer=vault.BulkSealer(), progress=progress.span(0, 100, source.estimate))
    except ImportFileRejected as exc:
        return _job_finish(job, status=Status.FAILED, actor=job.created_by, failure=exc.failure, detail=exc.detail)
    except (_Cancelled, JobLost):
        job.refresh_from_db()
        return job
    except Exception as exc:
        logger.exception("code import %s: the dry run failed", job.pk)
        return _job_finish(job, status=Status.FAILED, actor=job.created_by, failure=Failure.ERROR, detail=type(exc).__name__)
    if checked.total == 0:
        return _job_finish(job, status=Status.FAILED, actor=job.created_by, failure=Failure.EMPTY)
    # Only if still validating under this attempt: a cancel (or a takeover) that came in meanwhile wins.
    ImportJob.objects.filter(pk=job.pk, status=Status.VALIDATING, attempts=job.attempts).update(
        status=Status.PREVIEW, progress=100, file_format=source.format, **_checked_fields(checked)
    )
    job.refresh_from_db()
    return job


def import_job_confirm(*, job: ImportJob, actor, mode: str | None = None, ip: str | None = None) -> bool:
    """The operator confirms the preview: store now (small file) or queue. Returns True when it was queued."""
    mode = Mode(mode or job.mode)
    if mode == Mode.ALL and job.status == Status.PREVIEW and job.invalid_rows:
        raise AllModeHasBadRows(field="mode")
    updated = ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEW).update(
        status=Status.CONFIRMED, mode=mode, progress=0, confirmed_by=actor if getattr(actor, "is_authenticated", False) else None
    )
    if not updated:
        raise ImportJobStateError()
    job.refresh_from_db()
    if import_job_is_small(job):
        import_job_commit(job=job, ip=ip)
        return False
    _enqueue("catalog.tasks.import_job_commit_task", job, "commit")
    return True


def import_job_commit(*, job: ImportJob, ip: str | None = None) -> ImportJob:
    """Store the confirmed job's good rows (see `_commit`). Safe to run twice."""
    if not _claim(job, frm=Status.CONFIRMED, to=Status.IMPORTING):
        return job
    actor = job.confirmed_by or job.created_by
    try:
        data = _payload_open(job)
    except Exception as exc:
        logger.exception("code import %s: the sealed upload does not open", job.pk)
        return _job_finish(job, status=Status.FAILED, actor=actor, failure=Failure.ERROR, detail=type(exc).__name__)
    with _heartbeat(job) as heartbeat:
        return _commit(job, data, actor=actor, ip=ip, heartbeat=heartbeat)


def import_job_cancel(*, job: ImportJob, actor, ip: str | None = None) -> ImportJob:
    """Give up on a job that is not storing codes; its sealed upload is wiped at once."""
    cancellable = [Status.QUEUED, Status.VALIDATING, Status.PREVIEW, Status.CONFIRMED]
    updated = ImportJob.objects.filter(pk=job.pk, status__in=cancellable).update(status=Status.CANCELLED)
    if not updated:
        raise ImportJobStateError()
    job.refresh_from_db()
    return _job_finish(job, status=Status.CANCELLED, actor=actor, ip=ip)


def import_jobs_expire(*, preview_ttl: timedelta = timedelta(hours=24)) -> int:
    """Cancel previews nobody confirmed, and wipe the sealed uploads that jobs whose worker stopped kept for a
    retry nobody made. (Jobs whose worker died are the sweeper's: `import_job_requeue`, `import_job_give_up`.)"""
    cutoff = timezone.now() - preview_ttl
    expired = 0
    for job in ImportJob.objects.filter(status=Status.PREVIEW, created_at__lt=cutoff).select_related("sku"):
        if ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEW).update(status=Status.CANCELLED):
            _job_finish(job, status=Status.CANCELLED, actor=None, detail="expired")
            expired += 1
    expired += ImportJob.objects.filter(
        status=Status.FAILED, failure=Failure.WORKER_STOPPED, finished_at__lt=cutoff, payload__isnull=False
    ).update(payload=None, payload_key_id="", message="")
    return expired


# --- Jobs whose worker died (the sweeper in voucherhub/core/jobs.py), and the retry ---------------------------

_STEP_TASKS = {
    Status.QUEUED: ("catalog.tasks.import_job_validate_task", "validate"),
    Status.CONFIRMED: ("catalog.tasks.import_job_commit_task", "commit"),
}


def import_job_requeue(job: ImportJob) -> bool:
    """A validating or importing job whose worker died is queued again from the start of its step (a commit
    runs in one transaction, so the dead one stored nothing)."""
    waiting = ImportJob.WORKING[job.status]
    if not job_take_over(ImportJob, job, status=waiting, progress=0):
        return False
    task, step = _STEP_TASKS[waiting]
    _enqueue(task, job, step)  # once committed
    return True


def import_job_give_up(job: ImportJob) -> bool:
    """The worker died on the job's last attempt: failed, "the worker stopped". The sealed upload is kept (the
    step that died is in `message`) so that it can be retried; `import_jobs_expire` wipes it after a day."""
    taken = job_take_over(
        ImportJob, job, status=Status.FAILED, failure=Failure.WORKER_STOPPED, message=job.status, finished_at=timezone.now()
    )
    if taken:
        job.refresh_from_db()
        audit_record(actor=None, action="codes.import_failed", obj=job, data=_audit_data(job, failure=Failure.WORKER_STOPPED))
    return taken


def import_job_retry(*, job: ImportJob, actor, ip: str | None = None) -> bool:
    """Run again the step of a job whose worker stopped: now for a small file, else queued (True)."""
    step = {Status.VALIDATING: Status.QUEUED, Status.IMPORTING: Status.CONFIRMED}.get(job.message)
    retryable = ImportJob.objects.filter(pk=job.pk, status=Status.FAILED, failure=Failure.WORKER_STOPPED, payload__isnull=False)
    if step is None or not retryable.update(status=step, attempts=0, failure="", message="", progress=0, finished_at=None):
        raise JobNotRetryable(gettext("Only an import whose worker stopped can be retried (and only within a day)."))
    job.refresh_from_db()
    audit_record(actor=actor, action="codes.import_retried", obj=job, ip=ip, data=_audit_data(job))
    if import_job_is_small(job):
        (import_job_validate if step == Status.QUEUED else import_job_commit)(job=job)
        return False
    task, name = _STEP_TASKS[step]
    _enqueue(task, job, name)
    return True


def _commit(job: ImportJob, data: bytes, *, actor, ip=None, heartbeat: JobHeartbeat) -> ImportJob:
    """Check every row again (the vault moves on) and store: all rows or none (mode all), or the good ones."""
    progress = _Progress(job, Status.IMPORTING, heartbeat)
    try:
        for attempt in range(3):
            try:
                return _store_and_finish(job, data, progress=progress, actor=actor, ip=ip)
            except OperationalError as exc:
                if attempt == 2 or not store.is_retryable(exc):
                    raise
                logger.info("code import %s: retrying after %s", job.pk, type(exc.__cause__).__name__)
    except (JobLost, _Cancelled):
        # Another attempt took the job over (this one was taken for dead): everything here was rolled back.
        logger.warning("code import %s: attempt %s lost the job to another; stopped", job.pk, job.attempts)
        job.refresh_from_db()
        return job
    except ImportFileRejected as exc:
        return _job_finish(job, status=Status.FAILED, actor=actor, ip=ip, failure=exc.failure, detail=exc.detail)
    except _Refused as refused:
        checked = refused.checked
        if refused.failure == Failure.REFUSED:
            # Everything was rolled back: name the good rows that are in the vault too, for a complete report.
            checked.add_in_vault([r for r in checked.good if r.index in indexes_in_vault([r.index for r in checked.good])])
        return _job_finish(job, status=Status.FAILED, actor=actor, ip=ip, failure=refused.failure, **_checked_fields(checked))
    except Exception as exc:
        logger.exception("code import %s: storing failed", job.pk)
        return _job_finish(job, status=Status.FAILED, actor=actor, ip=ip, failure=Failure.ERROR, detail=type(exc).__name__)
    finally:
        progress.close()


class _Refused(Exception):
    """Nothing may be stored (all or nothing with bad rows, or no rows at all): the transaction rolls back."""

    def __init__(self, failure: str, checked: Checked):
        self.failure, self.checked = failure, checked


def _store_and_finish(job: ImportJob, data: bytes, *, progress: _Progress, actor, ip) -> ImportJob:
    """Check the file again (the vault moves on) and store it: the batch, its codes and the job's outcome
    commit together or not at all. Progress is written every chunk (see the module's docstring)."""
    source = source_open(data, filename=job.filename)
    job.file_format = source.format
    if connection.vendor == "postgresql":
        return _store_postgresql(job, source, progress=progress, actor=actor, ip=ip)
    return _store_other(job, source, progress=progress, actor=actor, ip=ip)


@transaction.atomic
def _store_postgresql(job: ImportJob, source: Source, *, progress: _Progress, actor, ip) -> ImportJob:
    """One transaction: chunk after chunk checked, sealed and COPYed; each chunk's progress written aside."""
    sealer = vault.BulkSealer()
    checker = RowChecker(sealer=sealer, lookup=False)  # the unique index decides (store.rows_stream_postgresql)
    chunks = checker.good_chunks(source.rows, progress=progress.span(0, 97, source.estimate, side=True))
    batch = _batch_create(job, actor=actor)
    good, taken = store.rows_stream_postgresql(batch=batch, chunks=chunks, sealer=sealer)
    checker.checked.good = good
    return _stored_finish(job, batch, checker.checked, taken=taken, actor=actor, ip=ip)


def _store_other(job: ImportJob, source: Source, *, progress: _Progress, actor, ip) -> ImportJob:
    """SQLite: check and seal chunk by chunk before taking the write lock (each chunk's progress commits on
    its own), then one short transaction that looks the codes up again and inserts them."""
    sealer = vault.BulkSealer()
    checker = RowChecker(sealer=sealer, lookup=True)
    chunks = checker.good_chunks(source.rows, progress=progress.span(0, 97, source.estimate))
    sealed = sorted((pair for chunk in chunks for pair in store.rows_seal(chunk, sealer=sealer)), key=lambda pair: pair[0].index)
    with transaction.atomic():
        batch = _batch_create(job, actor=actor)
        taken = store.codes_store_other(batch=batch, sealed=sealed)
        checker.checked.good = [row for row, _code in sealed]
        return _stored_finish(job, batch, checker.checked, taken=taken, actor=actor, ip=ip)


def _batch_create(job: ImportJob, *, actor) -> CodeBatch:
    return batch_create(sku=job.sku, source=CodeBatch.Source.IMPORT, label=job.filename, actor=actor, file_sha256=job.file_sha256)


def _stored_finish(job: ImportJob, batch: CodeBatch, checked: Checked, *, taken: list, actor, ip) -> ImportJob:
    """Inside the store transaction: refuse (everything rolls back) or record the outcome with the codes."""
    checked.add_in_vault(taken)
    if checked.total == 0:
        raise _Refused(Failure.EMPTY, checked)
    if job.mode == Mode.ALL and checked.errors:
        raise _Refused(Failure.REFUSED, checked)
    stored = len(checked.good)
    if stored:
        batch.code_count = stored
        batch.save(update_fields=["code_count"])
    else:
        batch.delete()
        batch = None
    job = _job_finish(job, status=Status.DONE, actor=actor, ip=ip, batch=batch, stored_rows=stored, **_checked_fields(checked))
    if job.status != Status.DONE:
        raise JobLost  # another attempt holds the job now: roll this one's codes back
    return job


def codes_import(*, sku: Sku, path_or_file, mode: str = Mode.ALL, actor=None, ip: str | None = None) -> ImportJob:
    """Check and store a file in one pass (no preview): the `import_codes` command and the benchmark.

    Returns the finished job. Raises ImportFileRejected (unusable file) or ImportRefused (mode all with
    bad rows); either way the job is recorded as failed with its report, and nothing was stored."""
    data, filename = read_source(path_or_file)
    job = ImportJob.objects.create(
        sku=sku,
        filename=filename[:200],
        file_sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        mode=mode,
        status=Status.IMPORTING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        attempts=1,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        confirmed_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    with _heartbeat(job) as heartbeat:
        job = _commit(job, data, actor=actor, ip=ip, heartbeat=heartbeat)
    if job.status == Status.FAILED and job.failure == Failure.REFUSED:
        raise ImportRefused(job=job)
    if job.status == Status.FAILED:
        raise ImportFileRejected(job.failure, detail=job.message, job=job)
    return job
