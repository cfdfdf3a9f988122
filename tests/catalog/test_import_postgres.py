"""PostgreSQL: the bulk path is a binary COPY, racing imports never store a code twice nor crash, and the
progress of an import's open transaction is visible to the page polling it."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from catalog import vault
from catalog.importing import errors, jobs
from catalog.importing.checks import Reason
from catalog.models import CardCode, CodeBatch, ImportJob
from tests import factories
from tests.catalog.importfiles import csv_bytes, fresh_codes, named

pytestmark = pytest.mark.postgres


def rows_of(codes):
    return [(code, "", "") for code in codes]


def in_thread(target, *args, **kwargs):
    """Run `target` in a thread with its own database connection; returns (thread, result dict)."""
    result = {}

    def run():
        try:
            result["value"] = target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def wait_until_blocked_on_a_lock(timeout=10.0) -> None:
    """Until some other backend waits on a lock (our import's COPY waiting on the uncommitted code)."""
    probe = connections.create_connection("default")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with probe.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                if cursor.fetchone()[0]:
                    return
            time.sleep(0.05)
        raise AssertionError("nobody waited on a lock")
    finally:
        probe.close()


@pytest.mark.django_db
def test_bulk_path_is_copy_not_inserts():
    sku = factories.SkuFactory()
    codes = fresh_codes(2500)
    with CaptureQueriesContext(connection) as queries:
        job = jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of(codes))), mode="all")
    assert job.stored_rows == 2500
    statements = [q["sql"].upper() for q in queries.captured_queries]
    assert not [s for s in statements if s.startswith('INSERT INTO "CATALOG_CARDCODE"') or s.startswith("INSERT INTO CATALOG_CARDCODE")]
    assert CardCode.objects.filter(batch=job.batch).count() == 2500
    ring = vault.keyring()
    sample = CardCode.objects.filter(batch=job.batch).order_by("?")[:20]
    assert {ring.open(ciphertext=c.ciphertext, key_id=c.key_id, blind_index=c.blind_index) for c in sample} <= set(codes)


def _hold_uncommitted_import(sku, codes, release: threading.Event, stored: threading.Event):
    with transaction.atomic():
        jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of(codes)), "first.csv"), mode="all")
        stored.set()
        release.wait(20)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["valid", "all"])
def test_a_code_stored_by_a_concurrent_import_after_our_check_is_reported_not_crashed(mode):
    # given another import that has stored X but not yet committed
    sku = factories.SkuFactory()
    x, y, z = fresh_codes(3)
    release, stored = threading.Event(), threading.Event()
    holder, held = in_thread(_hold_uncommitted_import, sku, [x], release, stored)
    assert stored.wait(20)
    # when our import (Y, X, Z) copies X and has to wait on the other's lock
    ours, result = in_thread(jobs.codes_import, sku=sku, path_or_file=named(csv_bytes(rows_of([y, x, z]))), mode=mode)
    wait_until_blocked_on_a_lock()
    release.set()  # the other import commits X
    holder.join(20)
    ours.join(30)
    assert "error" not in held
    # then X is reported as already in the vault, and stored exactly once
    if mode == "valid":
        job = result["value"]
        assert job.status == ImportJob.Status.DONE and job.stored_rows == 2
        assert [(e["row"], e["reason"]) for e in job.errors] == [(3, Reason.ALREADY_IN_VAULT)]
        assert CardCode.objects.count() == 3
    else:
        assert isinstance(result.get("error"), errors.ImportRefused)
        job = result["error"].job
        assert job.status == ImportJob.Status.FAILED and job.failure == ImportJob.Failure.REFUSED
        assert [(e["row"], e["reason"]) for e in job.errors] == [(3, Reason.ALREADY_IN_VAULT)]
        assert CardCode.objects.count() == 1
    assert CardCode.objects.filter(blind_index=vault.blind_index_of(x)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_overlapping_imports_in_threads_store_every_code_once():
    sku = factories.SkuFactory()
    codes = fresh_codes(9000)
    files = [codes[0:5000], codes[2000:7000], codes[4000:9000]]
    barrier = threading.Barrier(len(files))

    def run(part, n):
        barrier.wait(10)
        return jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of(part)), f"part{n}.csv"), mode="valid")

    threads = [in_thread(run, part, n) for n, part in enumerate(files)]
    for thread, _result in threads:
        thread.join(60)
    finished = [result["value"] for _thread, result in threads]
    assert all(job.status == ImportJob.Status.DONE for job in finished)
    assert CardCode.objects.count() == 9000
    assert CardCode.objects.values("blind_index").distinct().count() == 9000
    assert sum(job.stored_rows for job in finished) == 9000
    assert sum(job.reason_counts.get(Reason.ALREADY_IN_VAULT, 0) for job in finished) == 15000 - 9000
    assert sum(job.batch.code_count for job in finished if job.batch) == 9000


@pytest.mark.django_db(transaction=True)
def test_racing_all_or_nothing_imports_one_wins_whole():
    sku = factories.SkuFactory()
    codes = fresh_codes(6000)
    files = [codes[:4000], codes[2000:]]
    barrier = threading.Barrier(2)

    def run(part, n):
        barrier.wait(10)
        return jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of(part)), f"part{n}.csv"), mode="all")

    threads = [in_thread(run, part, n) for n, part in enumerate(files)]
    for thread, _result in threads:
        thread.join(60)
    outcomes = [result.get("value") or result.get("error") for _thread, result in threads]
    winners = [o for o in outcomes if isinstance(o, ImportJob)]
    losers = [o for o in outcomes if isinstance(o, errors.ImportRefused)]
    assert len(winners) == 1 and len(losers) == 1
    assert winners[0].stored_rows == 4000 and losers[0].job.stored_rows == 0
    assert CardCode.objects.count() == 4000
    assert losers[0].job.reason_counts == {Reason.ALREADY_IN_VAULT: 2000}


@pytest.mark.django_db(transaction=True)
def test_progress_inside_the_import_transaction_is_visible_to_others():
    sku = factories.SkuFactory()
    job = ImportJob.objects.create(sku=sku, filename="x.csv", file_sha256="0" * 64, status=ImportJob.Status.IMPORTING)
    progress = jobs._Progress(job, ImportJob.Status.IMPORTING)
    observer = connections.create_connection("default")
    try:
        with transaction.atomic():
            CodeBatch.objects.create(sku=sku, source=CodeBatch.Source.IMPORT)  # the import's open transaction
            progress(63, side=True)
            with observer.cursor() as cursor:
                cursor.execute("SELECT progress FROM catalog_importjob WHERE id = %s", [job.pk])
                assert cursor.fetchone()[0] == 63
            # Were the job row ever locked by the import's own transaction, progress gives up instead of waiting forever.
            ImportJob.objects.filter(pk=job.pk).update(message="locked")
            started = time.monotonic()
            progress(64, side=True)
            assert time.monotonic() - started < 5 and progress.side_broken
    finally:
        progress.close()
        observer.close()


@pytest.mark.django_db(transaction=True)
def test_imports_meeting_in_opposite_order_survive_a_deadlock(settings):
    # Small chunks, the shared codes in opposite orders: each import locks what the other needs next.
    settings.IMPORT_CHUNK_ROWS = 50
    sku = factories.SkuFactory()
    shared = sorted(fresh_codes(2000), key=vault.blind_index_of)
    own = [fresh_codes(500), fresh_codes(500)]
    files = [own[0] + shared, own[1] + shared[::-1]]
    barrier = threading.Barrier(2)

    def run(part, n):
        barrier.wait(10)
        return jobs.codes_import(sku=sku, path_or_file=named(csv_bytes(rows_of(part)), f"part{n}.csv"), mode="valid")

    # (PostgreSQL usually detects a deadlock here; the victim's transaction is retried and finds the codes taken)
    threads = [in_thread(run, part, n) for n, part in enumerate(files)]
    for thread, _result in threads:
        thread.join(60)
    finished = [result["value"] for _thread, result in threads]
    assert all(job.status == ImportJob.Status.DONE for job in finished)
    assert CardCode.objects.count() == 3000
    assert sum(job.stored_rows for job in finished) == 3000
    assert sum(job.reason_counts.get(Reason.ALREADY_IN_VAULT, 0) for job in finished) == 2000


@pytest.mark.django_db(transaction=True)
def test_storing_a_file_of_several_chunks_writes_progress_every_chunk(settings, tmp_path):
    """A trigger logs every progress value the job row gets; the page polling it sees each chunk go by."""
    settings.IMPORT_CHUNK_ROWS = 5
    sku = factories.SkuFactory()
    path = tmp_path / "codes.csv"
    path.write_bytes(csv_bytes(rows_of(fresh_codes(30))))
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE vh_test_progress_log (id serial PRIMARY KEY, progress int)")
        cursor.execute(
            "CREATE FUNCTION vh_test_progress_log() RETURNS trigger AS $$ BEGIN "
            "IF NEW.progress IS DISTINCT FROM OLD.progress THEN INSERT INTO vh_test_progress_log (progress) VALUES (NEW.progress); END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER vh_test_progress_log AFTER UPDATE ON catalog_importjob FOR EACH ROW EXECUTE FUNCTION vh_test_progress_log()"
        )
    try:
        job = jobs.codes_import(sku=sku, path_or_file=path)
        assert job.status == ImportJob.Status.DONE and job.stored_rows == 30
        with connection.cursor() as cursor:
            cursor.execute("SELECT progress FROM vh_test_progress_log ORDER BY id")
            seen = [row[0] for row in cursor.fetchall()]
        # six chunks of five rows: at least one step per chunk before the end, rising, then 100
        assert seen[-1] == 100
        steps = seen[:-1]
        assert steps == sorted(steps) and len(set(steps)) >= 6, seen
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS vh_test_progress_log ON catalog_importjob")
            cursor.execute("DROP FUNCTION IF EXISTS vh_test_progress_log()")
            cursor.execute("DROP TABLE IF EXISTS vh_test_progress_log")
