"""The shared long-job mechanism (voucherhub/core/jobs.py): the heartbeat, the claim's token, the sweeper's
schedule and the settings it relies on. The recovery of each kind of job is tested with it:
tests/settlement/test_export_recovery.py, tests/catalog/test_import_recovery.py."""

import time
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from settlement.models import ExportJob
from voucherhub.core import jobs


def eventually(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_writes_while_the_work_runs_and_notices_a_takeover(settings):
    settings.JOBS_HEARTBEAT_SECONDS = 0.05
    job = ExportJob.objects.create(kind=ExportJob.Kind.ORDERS)
    attempt = jobs.job_claim(ExportJob, pk=job.pk, frm=[ExportJob.Status.QUEUED], to=ExportJob.Status.RUNNING)
    assert attempt == 1
    claimed_at = ExportJob.objects.get(pk=job.pk).heartbeat_at

    with jobs.JobHeartbeat(ExportJob, pk=job.pk, status=ExportJob.Status.RUNNING, attempt=attempt) as heartbeat:
        heartbeat.report(done_rows=7)
        eventually(lambda: ExportJob.objects.filter(pk=job.pk, heartbeat_at__gt=claimed_at, done_rows=7).exists())
        heartbeat.check()  # still ours
        # another attempt takes the job over (this worker had been taken for dead)
        ExportJob.objects.filter(pk=job.pk).update(attempts=2)
        eventually(lambda: heartbeat._lost.is_set())
        with pytest.raises(jobs.JobLost):
            heartbeat.check()


@pytest.mark.django_db
def test_a_claim_takes_only_a_waiting_job_or_a_working_one_whose_heartbeat_is_stale(settings):
    queued = ExportJob.objects.create(kind=ExportJob.Kind.ORDERS)
    alive = ExportJob.objects.create(kind=ExportJob.Kind.ORDERS, status=ExportJob.Status.RUNNING, attempts=1, heartbeat_at=timezone.now())
    stale = ExportJob.objects.create(
        kind=ExportJob.Kind.ORDERS,
        status=ExportJob.Status.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.JOBS_STALE_SECONDS + 1),
    )
    done = ExportJob.objects.create(kind=ExportJob.Kind.ORDERS, status=ExportJob.Status.DONE)

    def claim(job):
        return jobs.job_claim(ExportJob, pk=job.pk, frm=[ExportJob.Status.QUEUED], to=ExportJob.Status.RUNNING)

    assert [claim(queued), claim(alive), claim(stale), claim(done)] == [1, None, 2, None]
    assert claim(queued) is None  # a second delivery of the same task


def test_the_settings_check_refuses_a_retry_not_above_the_timeout_and_a_too_short_stale_window(settings):
    assert not [m for m in run_checks() if m.id in {"core.E101", "core.E102"}]
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 1900, "retry": 1800}
    settings.JOBS_STALE_SECONDS = 20
    assert {m.id for m in run_checks()} >= {"core.E101", "core.E102"}


@pytest.mark.django_db
def test_the_sweeper_runs_every_minute_and_knows_every_long_job():
    from django_q.models import Schedule

    from catalog.models import ImportJob
    from marketing.models import Issuance

    Schedule.objects.filter(name=jobs.SWEEP_SCHEDULE_NAME).delete()
    jobs.jobs_sweep_schedule_ensure()
    jobs.jobs_sweep_schedule_ensure()
    schedule = Schedule.objects.get(name=jobs.SWEEP_SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (jobs.SWEEP_TASK, Schedule.MINUTES, 1, -1)
    assert jobs.jobs_sweep_task() == "requeued=0 failed=0"
    assert set(jobs.jobs_registered()) == {ExportJob, ImportJob, Issuance}
