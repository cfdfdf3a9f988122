"""An export whose worker dies is never left "running": the sweeper queues it again (or fails it after its last
attempt, "the worker stopped", with a retry button), and a redelivered task takes the dead worker's job over.
See voucherhub/core/jobs.py."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override
from openpyxl import load_workbook

from settlement import tasks
from settlement.models import Entry, ExportJob
from tests.settlement.conftest import fund
from voucherhub.core.jobs import WORKER_STOPPED_LABEL, jobs_sweep
from voucherhub.core.models import AuditLog

BASE_DIR = Path(django_settings.BASE_DIR)


def _rows(path: str) -> int:
    return sum(1 for _ in load_workbook(path, read_only=True).active.iter_rows()) - 1


def _wait_for(condition, *, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _subprocess_env() -> dict:
    """This test database, for a second process."""
    params = connection.settings_dict
    url = f"postgres://{params['USER']}:{params['PASSWORD']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_is_killed_mid_run_is_queued_again_and_finished(tree, finance_user, settings, q_sync):
    # given: ledger rows, and an XLSX ledger export that a separate worker process is running
    for amount in ("100.00", "50.00", "25.00"):
        fund(tree.seller, amount, actor=finance_user)
    job = ExportJob.objects.create(kind=ExportJob.Kind.LEDGER, fmt=ExportJob.Format.XLSX, created_by=finance_user)
    # The worker is held inside its run (after claiming the job) by a lock on the ledger table, so it dies
    # exactly where the fault injection caught one: running, 0 rows written.
    locker = psycopg.connect(**connection.get_connection_params())
    locker.execute(f"LOCK TABLE {Entry._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    script = f"import django; django.setup(); from settlement.tasks import export_run; export_run({job.pk})"
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=BASE_DIR, env=_subprocess_env())
    try:
        _wait_for(lambda: ExportJob.objects.get(pk=job.pk).status == ExportJob.Status.RUNNING, what="the worker's claim")
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass"
        _wait_for(lambda: locker.execute(waiting, [Entry._meta.db_table]).fetchone()[0] > 0, what="the worker to reach the ledger")
        # when: the worker is killed (SIGKILL: no cleanup of any kind)
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=30) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
        locker.close()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.done_rows) == (ExportJob.Status.RUNNING, 1, 0)

    # then: while its heartbeat is recent the sweeper leaves it alone ...
    assert str(jobs_sweep()) == "requeued=0 failed=0"
    settings.JOBS_STALE_SECONDS = 1
    time.sleep(1.2)
    # ... once it is stale, the job is queued again and the next attempt (q_sync: at once) writes the whole file
    result = jobs_sweep()
    assert (result.requeued, result.failed) == (1, 0)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.failure) == (ExportJob.Status.DONE, 2, "")
    entries = Entry.objects.count()
    assert entries > 0 and job.total_rows == job.done_rows == entries == _rows(job.file_path)
    assert jobs_sweep().requeued == 0  # nothing left to do


@pytest.mark.django_db
def test_a_redelivered_task_takes_over_a_job_left_running_by_a_dead_worker(tree, finance_user):
    """django-q2 redelivers an unacknowledged task after `retry`: it used to skip the job because it was
    "running" (at 0/19,134 rows, with nobody working on it)."""
    fund(tree.seller, "100.00", actor=finance_user)
    stale = timezone.now() - timedelta(minutes=10)
    running = {"kind": ExportJob.Kind.LEDGER, "status": ExportJob.Status.RUNNING, "attempts": 1, "created_by": finance_user}
    dead = ExportJob.objects.create(**running, total_rows=19134, heartbeat_at=stale)
    alive = ExportJob.objects.create(**running, heartbeat_at=timezone.now())

    tasks.export_run(dead.pk)
    tasks.export_run(alive.pk)

    dead.refresh_from_db(), alive.refresh_from_db()
    assert (dead.status, dead.attempts) == (ExportJob.Status.DONE, 2)
    assert dead.done_rows == dead.total_rows == Entry.objects.count() == _rows(dead.file_path)
    assert (alive.status, alive.attempts) == (ExportJob.Status.RUNNING, 1)  # its worker is alive: left to it


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_died_on_its_last_attempt_fails_and_its_owner_can_retry_it(tree, finance_user, finance_client, q_sync):
    fund(tree.seller, "100.00", actor=finance_user)
    job = ExportJob.objects.create(
        kind=ExportJob.Kind.LEDGER,
        status=ExportJob.Status.RUNNING,
        attempts=django_settings.JOBS_MAX_ATTEMPTS,
        heartbeat_at=timezone.now() - timedelta(minutes=10),
        created_by=finance_user,
    )

    result = jobs_sweep()

    assert (result.requeued, result.failed) == (0, 1)
    job.refresh_from_db()
    assert (job.status, job.failure) == (ExportJob.Status.FAILED, ExportJob.Failure.WORKER_STOPPED)
    # the person who started it sees what happened, in either language, and a retry button
    retry_url = reverse("settlement:finance-export-retry", args=[job.pk])
    for language in ("zh-hans", "en"):
        page = finance_client.get(reverse("settlement:finance-exports"), HTTP_ACCEPT_LANGUAGE=language).content.decode()
        with override(language):
            assert str(WORKER_STOPPED_LABEL) in page
        assert f'action="{retry_url}"' in page
    # another finance user cannot retry it
    from tests import factories
    from voucherhub.core import roles

    other = factories.UserFactory(username="finance2", role=roles.FINANCE, is_staff=True)
    client = finance_client.__class__()
    client.force_login(other)
    assert client.post(retry_url).status_code == 404

    response = finance_client.post(retry_url)

    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.attempts, job.failure) == (ExportJob.Status.DONE, 1, "")
    assert job.done_rows == Entry.objects.count() == _rows(job.file_path)
    assert AuditLog.objects.filter(action="export.retry", object_id=str(job.pk)).count() == 1
    # a job that is not failed is not retried
    assert finance_client.post(retry_url).status_code == 302
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ExportJob.Status.DONE, 1)
