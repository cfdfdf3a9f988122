"""django-q2 entry points. Each calls a service and is safe to run twice (the service claims the job
by a status change, so a second run finds nothing to do)."""

from catalog.importing import jobs
from catalog.models import ImportJob


def import_job_validate_task(job_id: int) -> str:
    """The dry run of an uploaded file (queued for files too large to check during the upload)."""
    job = ImportJob.objects.select_related("sku").filter(pk=job_id).first()
    if job is None:
        return "gone"
    return jobs.import_job_validate(job=job).status


def import_job_commit_task(job_id: int) -> str:
    """Store a confirmed import's good rows."""
    job = ImportJob.objects.select_related("sku", "confirmed_by", "created_by").filter(pk=job_id).first()
    if job is None:
        return "gone"
    return jobs.import_job_commit(job=job).status


def import_jobs_expire_task() -> int:
    """Cancel stale previews and wipe uploads kept for a retry nobody made (jobs whose worker died are the
    sweeper's, voucherhub/core/jobs.py)."""
    return jobs.import_jobs_expire()
