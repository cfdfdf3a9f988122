"""Importing codes: all or nothing vs. the valid rows, duplicates and re-imports caught by the blind index,
the sealed upload and its wiping, the job's steps (each safe to run twice), and no plaintext anywhere."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection, connections
from django.utils import timezone
from django_q.models import OrmQ

from catalog import tasks, vault
from catalog.importing import errors, jobs
from catalog.importing.checks import Reason
from catalog.models import CardCode, CodeBatch, ImportJob
from tests import factories
from tests.catalog.importfiles import csv_bytes, fresh_codes, named, xlsx_bytes
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db

Status = ImportJob.Status


@pytest.fixture
def sku():
    return factories.SkuFactory(code="IMPORT-SKU")


def rows_of(codes, **extra):
    return [(code, extra.get("serial", ""), extra.get("expires_at", "")) for code in codes]


def stored_indexes(sku) -> set[str]:
    return set(CardCode.objects.filter(sku=sku).values_list("blind_index", flat=True))


def index(code: str) -> str:
    return vault.blind_index_of(code)


# --- All or nothing / the valid rows ---------------------------------------------------------------


def test_all_mode_with_one_bad_row_stores_nothing_and_reports_the_row(sku):
    # given a file of 5 codes whose 4th data row (file row 5) is malformed
    codes = fresh_codes(5)
    rows = rows_of(codes)
    rows[3] = ("bad!", "", "")
    # when it is imported all-or-nothing
    with pytest.raises(errors.ImportRefused) as refused:
        jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows)), mode="all")
    # then nothing is stored and the row is reported
    job = refused.value.job
    assert CardCode.objects.count() == 0
    assert CodeBatch.objects.count() == 0
    assert job.status == Status.FAILED and job.failure == ImportJob.Failure.REFUSED
    assert job.errors == [{"row": 5, "reason": Reason.MALFORMED, "hint": "••••", "detail": "too_short"}]
    assert (job.total_rows, job.valid_rows, job.invalid_rows, job.stored_rows) == (5, 4, 1, 0)
    assert AuditLog.objects.filter(action="codes.import_refused", data__job=job.pk, data__bad_rows=1).exists()


def test_all_mode_refusal_reports_every_kind_of_bad_row(sku):
    stored = fresh_codes(1)[0]
    jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of([stored]))), mode="all")
    rows = rows_of(fresh_codes(3)) + [("bad", "", ""), (stored, "", "")]
    with pytest.raises(errors.ImportRefused) as refused:
        jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows)), mode="all")
    job = refused.value.job
    assert [(e["row"], e["reason"]) for e in job.errors] == [(5, Reason.MALFORMED), (6, Reason.ALREADY_IN_VAULT)]
    assert (job.valid_rows, job.invalid_rows) == (3, 2)
    assert CardCode.objects.count() == 1


def test_valid_mode_stores_the_rest_and_reports_the_bad_row(sku):
    codes = fresh_codes(5)
    rows = rows_of(codes, serial="SN", expires_at="2031-12-31")
    rows[3] = ("bad!", "", "")
    job = jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows)), mode="valid")
    assert job.status == Status.DONE
    assert job.stored_rows == 4
    assert [(e["row"], e["reason"]) for e in job.errors] == [(5, Reason.MALFORMED)]
    assert stored_indexes(sku) == {index(c) for i, c in enumerate(codes) if i != 3}
    batch = job.batch
    assert batch.code_count == 4 and batch.source == CodeBatch.Source.IMPORT
    assert batch.file_sha256 == job.file_sha256 and batch.label == "codes.csv"
    code = CardCode.objects.filter(batch=batch).first()
    assert code.serial == "SN" and code.expires_at.year == 2031 and code.status == CardCode.Status.AVAILABLE
    assert AuditLog.objects.filter(action="codes.import", data__stored=4, data__bad_rows=1, object_id=str(batch.pk)).exists()


def test_stored_codes_open_to_the_normalised_plaintext(sku):
    codes = fresh_codes(3)
    jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of([c.lower() for c in codes]))), mode="all")
    ring = vault.keyring()
    opened = {ring.open(ciphertext=c.ciphertext, key_id=c.key_id, blind_index=c.blind_index) for c in CardCode.objects.filter(sku=sku)}
    assert opened == set(codes)
    assert {c.hint for c in CardCode.objects.all()} == {vault.hint_of(c) for c in codes}


def test_xlsx_import(sku):
    codes = fresh_codes(4)
    job = jobs.codes_import(sku=sku, path_or_file=named(xlsx_bytes(rows_of(codes)), "codes.xlsx"), mode="all")
    assert job.stored_rows == 4 and job.file_format == "xlsx"


# --- Duplicates and re-imports -------------------------------------------------------------------


def test_duplicates_across_batches_and_within_a_file_are_caught_by_the_blind_index(sku):
    first = fresh_codes(4)
    jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of(first))), mode="all")
    # a second file repeats two codes of the first batch (written differently) and one of its own
    new = fresh_codes(3)
    rows = rows_of([first[0].lower(), new[0], "-".join([first[1][:8], first[1][8:]]), new[1], new[2], new[1]])
    other_sku = factories.SkuFactory()  # the vault is one: another SKU does not make a code new
    job = jobs.codes_import(sku=other_sku, path_or_file=named(csv_bytes(rows)), mode="valid")
    assert [(e["row"], e["reason"]) for e in job.errors] == [
        (2, Reason.ALREADY_IN_VAULT),
        (4, Reason.ALREADY_IN_VAULT),
        (7, Reason.DUPLICATE_IN_FILE),
    ]
    assert job.stored_rows == 3
    assert CardCode.objects.count() == 7
    assert CardCode.objects.values("blind_index").distinct().count() == 7


def test_reimporting_the_same_file_is_a_no_op(sku):
    data = csv_bytes(rows_of(fresh_codes(6)))
    first = jobs.codes_import(sku=sku, path_or_file=named(data), mode="all")
    assert first.stored_rows == 6
    before = (CardCode.objects.count(), CodeBatch.objects.count())
    # valid mode: every row is already in the vault, nothing stored, no empty batch
    again = jobs.codes_import(sku=sku, path_or_file=named(data), mode="valid")
    assert again.status == Status.DONE and again.stored_rows == 0 and again.batch is None
    assert again.reason_counts == {Reason.ALREADY_IN_VAULT: 6}
    # all mode: refused
    with pytest.raises(errors.ImportRefused):
        jobs.codes_import(sku=sku, path_or_file=named(data), mode="all")
    assert (CardCode.objects.count(), CodeBatch.objects.count()) == before


# --- The admin's steps: upload, dry run, confirm, store -----------------------------------------


def test_upload_is_sealed_and_wiped_once_done(sku, ops_user):
    codes = fresh_codes(3)
    data = csv_bytes(rows_of(codes))
    job = jobs.import_job_create(sku=sku, upload=named(data), actor=ops_user, mode="all")
    payload = bytes(job.payload)
    assert job.status == Status.QUEUED and job.payload_key_id == vault.keyring().current_id
    assert all(code.encode() not in payload for code in codes)
    assert jobs._payload_open(job) == data
    jobs.import_job_validate(job=job)
    assert job.status == Status.PREVIEW and job.payload is not None
    assert CardCode.objects.count() == 0  # the dry run stores nothing
    jobs.import_job_confirm(job=job, actor=ops_user)
    job.refresh_from_db()
    assert job.status == Status.DONE and job.stored_rows == 3
    assert job.payload is None and job.payload_key_id == ""
    assert job.progress == 100 and job.confirmed_by == ops_user


def test_sealed_upload_does_not_open_for_another_file(sku, ops_user):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    job.file_sha256 = "0" * 64
    with pytest.raises(vault.VaultError):
        jobs._payload_open(job)


def test_cancel_wipes_the_upload_and_blocks_every_later_step(sku, ops_user):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    jobs.import_job_validate(job=job)
    jobs.import_job_cancel(job=job, actor=ops_user)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.payload is None
    assert AuditLog.objects.filter(action="codes.import_cancelled", object_id=str(job.pk)).exists()
    with pytest.raises(errors.ImportJobStateError):
        jobs.import_job_confirm(job=job, actor=ops_user)
    with pytest.raises(errors.ImportJobStateError):
        jobs.import_job_cancel(job=job, actor=ops_user)
    assert jobs.import_job_commit(job=job).status == Status.CANCELLED
    assert CardCode.objects.count() == 0


def test_cancel_while_validating_stops_the_dry_run(sku, ops_user):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    ImportJob.objects.filter(pk=job.pk).update(status=Status.VALIDATING)
    progress = jobs._Progress(job, Status.VALIDATING)
    progress(10)
    jobs.import_job_cancel(job=job, actor=ops_user)
    with pytest.raises(jobs._Cancelled):
        progress(20)


def test_a_cancel_that_wins_the_race_stays(sku, ops_user):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    ImportJob.objects.filter(pk=job.pk).update(status=Status.VALIDATING)
    jobs.import_job_cancel(job=job, actor=ops_user)
    finished = jobs._job_finish(job, status=Status.FAILED, actor=None, failure=ImportJob.Failure.ERROR)
    assert finished.status == Status.CANCELLED
    assert not AuditLog.objects.filter(action="codes.import_failed").exists()


def test_all_mode_confirm_with_bad_rows_is_refused_and_can_switch_to_valid(sku, ops_user):
    codes = fresh_codes(3)
    rows = rows_of(codes) + [(codes[0], "", "")]
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows)), actor=ops_user, mode="all")
    jobs.import_job_validate(job=job)
    assert (job.valid_rows, job.invalid_rows) == (3, 1)
    with pytest.raises(errors.AllModeHasBadRows):
        jobs.import_job_confirm(job=job, actor=ops_user)
    job.refresh_from_db()
    assert job.status == Status.PREVIEW
    jobs.import_job_confirm(job=job, actor=ops_user, mode="valid")
    job.refresh_from_db()
    assert job.status == Status.DONE and job.mode == "valid" and job.stored_rows == 3
    assert [(e["row"], e["reason"]) for e in job.errors] == [(5, Reason.DUPLICATE_IN_FILE)]


def test_commit_checks_the_vault_again(sku, ops_user):
    # given a clean preview, all or nothing
    codes = fresh_codes(3)
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(codes))), actor=ops_user, mode="all")
    jobs.import_job_validate(job=job)
    assert job.invalid_rows == 0
    # when another import stores one of its codes before the confirmation
    jobs.codes_import(sku=factories.SkuFactory(), path_or_file=named(csv_bytes(rows_of(codes[1:2]))), mode="all")
    jobs.import_job_confirm(job=job, actor=ops_user)
    job.refresh_from_db()
    # then nothing of this file is stored and the row is reported
    assert job.status == Status.FAILED and job.failure == ImportJob.Failure.REFUSED
    assert [(e["row"], e["reason"]) for e in job.errors] == [(3, Reason.ALREADY_IN_VAULT)]
    assert CardCode.objects.filter(sku=sku).count() == 0


def test_file_errors_are_refused_at_upload(sku, ops_user):
    with pytest.raises(errors.ImportFileRejected) as excinfo:
        jobs.import_job_create(sku=sku, upload=named(csv_bytes([("x",)], header=("serial",))), actor=ops_user)
    assert excinfo.value.failure == ImportJob.Failure.NO_CODE_COLUMN and excinfo.value.field == "file"
    assert not ImportJob.objects.exists()


def test_header_only_file_fails_its_dry_run(sku, ops_user):
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes([])), actor=ops_user)
    jobs.import_job_validate(job=job)
    assert job.status == Status.FAILED and job.failure == ImportJob.Failure.EMPTY and job.payload is None


# --- Background jobs -------------------------------------------------------------------------------


def test_a_large_file_is_checked_and_stored_by_queued_tasks(sku, ops_user, settings, q_sync, django_capture_on_commit_callbacks):
    settings.IMPORT_INLINE_MAX_ROWS = 3
    codes = fresh_codes(5)
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(codes))), actor=ops_user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert jobs.import_job_start(job=job) is True
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == Status.PREVIEW and job.valid_rows == 5
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.import_job_confirm(job=job, actor=ops_user) is True
    job.refresh_from_db()
    assert job.status == Status.DONE and job.stored_rows == 5


def test_a_large_file_waits_in_the_queue_for_a_worker(sku, ops_user, settings, django_capture_on_commit_callbacks):
    settings.IMPORT_INLINE_MAX_BYTES = 10
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    with django_capture_on_commit_callbacks(execute=True):
        jobs.import_job_start(job=job)
    job.refresh_from_db()
    assert job.status == Status.QUEUED
    assert OrmQ.objects.count() == 1
    assert tasks.import_job_validate_task(job.pk) == Status.PREVIEW  # what the worker runs


def test_tasks_are_safe_to_run_twice(sku, ops_user, settings, django_capture_on_commit_callbacks):
    settings.IMPORT_INLINE_MAX_ROWS = 0
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(4)))), actor=ops_user)
    assert tasks.import_job_validate_task(job.pk) == Status.PREVIEW
    assert tasks.import_job_validate_task(job.pk) == Status.PREVIEW
    with django_capture_on_commit_callbacks(execute=False):
        jobs.import_job_confirm(job=job, actor=ops_user)
    assert tasks.import_job_commit_task(job.pk) == Status.DONE
    assert tasks.import_job_commit_task(job.pk) == Status.DONE
    assert CardCode.objects.count() == 4 and CodeBatch.objects.count() == 1
    assert AuditLog.objects.filter(action="codes.import").count() == 1
    assert tasks.import_job_validate_task(10**9) == "gone"


def test_expire_cancels_stale_previews_and_wipes_uploads_kept_for_a_retry_nobody_made(sku, ops_user):
    preview = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    jobs.import_job_validate(job=preview)
    stopped = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    fresh = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(2)))), actor=ops_user)
    ImportJob.objects.filter(pk=preview.pk).update(created_at=timezone.now() - timedelta(days=2))
    two_days_ago = timezone.now() - timedelta(days=2)
    ImportJob.objects.filter(pk=stopped.pk).update(
        status=Status.FAILED, failure=ImportJob.Failure.WORKER_STOPPED, message=Status.IMPORTING, finished_at=two_days_ago
    )
    assert tasks.import_jobs_expire_task() == 2
    preview.refresh_from_db(), stopped.refresh_from_db(), fresh.refresh_from_db()
    assert preview.status == Status.CANCELLED and preview.payload is None
    assert stopped.status == Status.FAILED and stopped.payload is None  # too late to retry now
    assert fresh.status == Status.QUEUED and fresh.payload is not None


# --- No plaintext anywhere -----------------------------------------------------------------------


def _every_value_in_the_database():
    for model in apps.get_models():
        for row in model.objects.all().values():
            for value in row.values():
                yield bytes(value) if isinstance(value, memoryview | bytes) else str(value).encode()


def test_no_plaintext_code_in_any_row(sku, ops_user):
    codes = fresh_codes(6)
    rows = rows_of(codes) + [(codes[0], "", ""), (codes[1] + "X" * 60, "", ""), (fresh_codes(1)[0], "", "2001-01-01")]
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows)), actor=ops_user, mode="valid")
    jobs.import_job_validate(job=job)
    jobs.import_job_confirm(job=job, actor=ops_user)
    jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows)), mode="valid")  # everything refused this time
    secrets = {c.encode() for c in codes} | {c[:12].encode() for c in codes} | {(codes[1] + "X" * 60).encode()}
    leaks = [value for value in _every_value_in_the_database() for secret in secrets if secret in value]
    assert leaks == []
    assert CardCode.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_the_progress_bar_moves_every_chunk_while_rows_are_stored(settings, monkeypatch, ops_user):
    """Issue 13: the page polling a job (its own connection) sees the progress rise chunk by chunk while the
    codes are stored. On PostgreSQL the import's transaction is open all along; on SQLite the chunks are
    checked and sealed before its short write transaction."""
    # given a checked file of six chunks
    settings.IMPORT_CHUNK_ROWS = 5
    sku = factories.SkuFactory()
    job = jobs.import_job_create(sku=sku, upload=named(csv_bytes(rows_of(fresh_codes(30)))), actor=ops_user)
    jobs.import_job_validate(job=job)
    # and a poller on its own connection that reads the job each time a chunk is about to be sealed
    poller = connections.create_connection("default")
    polled, in_transaction = [], []
    seal_many = vault.BulkSealer.seal_many

    def seal_many_polled(self, items):
        with poller.cursor() as cursor:
            cursor.execute("SELECT status, progress FROM catalog_importjob WHERE id = %s", [job.pk])
            polled.append(tuple(cursor.fetchone()))
        in_transaction.append(connection.in_atomic_block)
        return seal_many(self, items)

    monkeypatch.setattr(vault.BulkSealer, "seal_many", seal_many_polled)
    try:
        # when it is stored
        jobs.import_job_confirm(job=job, actor=ops_user)
    finally:
        poller.close()
    # then the poller saw it importing, its progress rising with every chunk, and it ends done at 100
    job.refresh_from_db()
    assert job.status == Status.DONE and job.stored_rows == 30 and job.progress == 100
    assert len(polled) == 6 and {status for status, _progress in polled} == {Status.IMPORTING}
    steps = [progress for _status, progress in polled]
    assert steps == sorted(set(steps)) and steps[-1] > 50, steps
    if connection.vendor == "postgresql":
        assert all(in_transaction)  # seen although the codes were not committed yet
