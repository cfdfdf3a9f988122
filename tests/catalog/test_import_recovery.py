"""A code import whose worker dies is never left validating or importing: the sweeper queues its step again,
or fails it after the last attempt ("the worker stopped") keeping the sealed upload for a retry from the job's
page; a redelivered task takes the dead worker's job over. See voucherhub/core/jobs.py."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from catalog import tasks
from catalog.importing import jobs
from catalog.models import CardCode, CodeBatch, ImportJob
from tests import factories
from tests.catalog.importfiles import csv_bytes, fresh_codes, named
from voucherhub.core.jobs import WORKER_STOPPED_LABEL, jobs_sweep
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
Status = ImportJob.Status


@pytest.fixture
def sku():
    return factories.SkuFactory(code="RECOVER-SKU")


def left_by_a_dead_worker(job: ImportJob, status: str, *, attempts: int = 1, actor=None) -> None:
    """The row as a killed worker leaves it: in its working status, with a heartbeat long past."""
    ImportJob.objects.filter(pk=job.pk).update(
        status=status, attempts=attempts, heartbeat_at=timezone.now() - timedelta(minutes=10), confirmed_by=actor
    )
    job.refresh_from_db()


def test_a_dry_run_whose_worker_died_is_queued_again_and_finishes(sku, ops_user, q_sync, django_capture_on_commit_callbacks):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes([(c, "", "") for c in fresh_codes(3)])), actor=ops_user)
    left_by_a_dead_worker(job, Status.VALIDATING)

    with django_capture_on_commit_callbacks(execute=True):
        result = jobs_sweep()

    assert (result.requeued, result.failed) == (1, 0)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.valid_rows) == (Status.PREVIEW, 2, 3)


def test_an_import_whose_worker_is_alive_is_left_alone(sku, ops_user):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes([(c, "", "") for c in fresh_codes(3)])), actor=ops_user)
    ImportJob.objects.filter(pk=job.pk).update(status=Status.IMPORTING, attempts=1, heartbeat_at=timezone.now())

    assert str(jobs_sweep()) == "requeued=0 failed=0"
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Status.IMPORTING, 1)
    assert tasks.import_job_commit_task(job.pk) == Status.IMPORTING  # a second delivery leaves it to its worker


def test_a_redelivered_commit_takes_over_an_import_left_by_a_dead_worker(sku, ops_user):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes([(c, "", "") for c in fresh_codes(4)])), actor=ops_user)
    jobs.import_job_validate(job=job)
    left_by_a_dead_worker(job, Status.IMPORTING, actor=ops_user)

    assert tasks.import_job_commit_task(job.pk) == Status.DONE

    job.refresh_from_db()
    assert (job.attempts, job.stored_rows) == (2, 4)
    assert CardCode.objects.filter(sku=sku).count() == 4 and CodeBatch.objects.filter(sku=sku).count() == 1


def test_an_import_whose_worker_died_on_its_last_attempt_fails_and_can_be_retried_from_its_page(sku, ops_user, ops_client):
    codes = fresh_codes(5)
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes([(c, "", "") for c in codes])), actor=ops_user)
    jobs.import_job_validate(job=job)
    left_by_a_dead_worker(job, Status.IMPORTING, attempts=settings.JOBS_MAX_ATTEMPTS, actor=ops_user)

    result = jobs_sweep()

    assert (result.requeued, result.failed) == (0, 1)
    job.refresh_from_db()
    assert (job.status, job.failure) == (Status.FAILED, ImportJob.Failure.WORKER_STOPPED)
    assert job.payload is not None  # kept for the retry
    assert AuditLog.objects.filter(action="codes.import_failed", data__job=job.pk, data__failure="worker_stopped").exists()
    assert CardCode.objects.filter(sku=sku).count() == 0
    page_url = reverse("admin:catalog_importjob_change", args=[job.pk])
    retry_url = reverse("admin:catalog_importjob_retry", args=[job.pk])
    for language in ("zh-hans", "en"):
        html = ops_client.get(page_url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        with translation.override(language):
            assert str(WORKER_STOPPED_LABEL) in html
        assert f'action="{retry_url}"' in html and 'data-testid="import-retry"' in html
        for code in codes:
            assert code not in html

    response = ops_client.post(retry_url)

    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.stored_rows, job.attempts) == (Status.DONE, 5, 1)
    assert job.payload is None
    assert CardCode.objects.filter(sku=sku).count() == 5
    assert AuditLog.objects.filter(action="codes.import_retried", data__job=job.pk).count() == 1
    # only once: the job is done now
    ops_client.post(retry_url)
    job.refresh_from_db()
    assert job.status == Status.DONE and CardCode.objects.filter(sku=sku).count() == 5
    assert 'data-testid="import-retry"' not in ops_client.get(page_url).content.decode()
