"""The data migrations of issue 14 that moved the apps' idempotency records into core's table (settlement
0010, redemption 0002/0003), run for real on the test database: migrated back to before them with rows in the
old tables, forward (the rows land in core's table, marked legacy), and back again (the rows return)."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

CORE = ("core", "0004_idempotency_reference_and_legacy_fingerprint")
BEFORE = [("settlement", "0009_exportjob_heartbeat_attempts_failure"), ("redemption", "0001_merchants_redemptions_holdings"), CORE]
AFTER = [("settlement", "0010_idempotency_records_move_to_core"), ("redemption", "0003_delete_idempotencyrecord")]
AT = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def _migrate(targets):
    """Migrate the test database to `targets`; the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def test_the_apps_idempotency_records_move_to_core_and_back():
    try:
        # given the old tables with their records: settlement's (an answered order, one never answered) and
        # redemption's (an answer about a redemption row, here none)
        apps = _migrate(BEFORE)
        apps.get_model("settlement", "IdempotencyRecord").objects.bulk_create(
            [
                apps.get_model("settlement", "IdempotencyRecord")(
                    scope="api-order:7", key="k-1", request_hash="a" * 64, status_code=201, response={"order": "VH1"}, created_at=AT
                ),
                apps.get_model("settlement", "IdempotencyRecord")(
                    scope="api-order:7", key="k-2", request_hash="b" * 64, status_code=None, response=None, created_at=AT
                ),
            ]
        )
        apps.get_model("redemption", "IdempotencyRecord").objects.create(
            scope="terminal:3", key="r-1", request_hash="c" * 64, status_code=409, response={"error": "used"}, created_at=AT
        )
        # (settlement's created_at was auto_now_add: set the old date after the insert; records are pruned by age)
        apps.get_model("settlement", "IdempotencyRecord").objects.update(created_at=AT)

        # when the migrations run
        apps = _migrate(AFTER)

        # then core holds the answered records with their old fingerprints, marked legacy; the unanswered one is gone
        core = apps.get_model("core", "IdempotencyRecord")
        moved = {
            (r.scope, r.key): (r.fingerprint, r.fingerprint_legacy, r.status_code, r.response, r.reference_id, r.created_at)
            for r in core.objects.all()
        }
        assert moved == {
            ("api-order:7", "k-1"): ("a" * 64, True, 201, {"order": "VH1"}, None, AT),
            ("redemption:terminal:3", "r-1"): ("c" * 64, True, 409, {"error": "used"}, None, AT),
        }
        tables = connection.introspection.table_names()
        assert "settlement_idempotencyrecord" not in tables and "redemption_idempotencyrecord" not in tables

        # and migrated back, the records return to the apps' tables and leave core's
        apps = _migrate(BEFORE)
        assert not apps.get_model("core", "IdempotencyRecord").objects.filter(fingerprint_legacy=True).exists()
        back = apps.get_model("settlement", "IdempotencyRecord").objects.get()
        assert (back.scope, back.key, back.request_hash, back.status_code) == ("api-order:7", "k-1", "a" * 64, 201)
        assert back.response == {"order": "VH1"}
        back = apps.get_model("redemption", "IdempotencyRecord").objects.get()
        assert (back.scope, back.key, back.request_hash, back.status_code, back.redemption_id) == ("terminal:3", "r-1", "c" * 64, 409, None)
    finally:
        _migrate(_latest())  # the schema every other test expects
