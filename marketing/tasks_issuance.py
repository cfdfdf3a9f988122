"""django-q2 entry points of targeted issuance (marketing/services/issuance.py). Each is safe to run twice.

Schedules (registered by marketing/apps.py): `issuance_notices_retry_task` every 10 minutes. A running
issuance whose worker died is picked up by the jobs sweeper (voucherhub/core/jobs.py), which
`marketing.issuance_setup.issuance_ready` registers.
"""

from marketing.services import issuance


def issuance_run_task(issuance_id: int) -> str:
    job = issuance.issuance_run(issuance_id=issuance_id)
    return f"issuance {job.pk}: {job.status} done={job.done} failed={job.failed}"


def issuance_notices_retry_task() -> int:
    return issuance.issuance_notices_retry()
