"""voucherhub/core/dbrouter.py: rollup reads go to the replica when one is configured; nothing else does."""

from datetime import date

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from analytics.models import RollupState, SkuSalesDay, StorefrontVisit
from analytics.periods import Period
from analytics.selectors.ops import ops_dashboard
from settlement.models import Order
from voucherhub.core.dbrouter import ReplicaRouter


@pytest.fixture
def replica_alias(monkeypatch):
    """A "replica" alias in the settings for one test (settings.DATABASES is the dict the connection handler
    reads), a test mirror of default."""
    mirror = {**connections["default"].settings_dict, "TEST": {"MIRROR": "default"}}
    monkeypatch.setitem(connections.settings, "replica", mirror)
    assert settings.DATABASES["replica"] is mirror
    yield "replica"
    if "replica" in connections._connections.__dict__:
        del connections["replica"]


@pytest.fixture
def replica(replica_alias):
    """The replica's connection. Like Django's own test mirrors it reads the test database: its wrapper uses
    default's open connection, so it sees the test's rows and needs no second set-up, and the queries sent to it
    are still captured on connections["replica"]. Request it after the database fixture."""
    connections["default"].ensure_connection()
    connections[replica_alias].connection = connections["default"].connection
    yield connections[replica_alias]
    connections[replica_alias].connection = None  # default's connection stays open for the rest of the session


def test_without_a_replica_every_read_stays_on_default():
    router = ReplicaRouter()
    assert router.db_for_read(SkuSalesDay) is None
    assert router.db_for_write(SkuSalesDay) == "default"


def test_with_a_replica_only_rollup_reads_outside_a_transaction_go_there(replica_alias):
    router = ReplicaRouter()
    assert router.db_for_read(SkuSalesDay) == "replica"
    assert router.db_for_read(Order) is None
    # the job's own table and the visits the middleware writes are not rollups
    assert router.db_for_read(RollupState) is None
    assert router.db_for_read(StorefrontVisit) is None
    # writes always go to the primary, migrations run only there, relations across both are allowed
    assert router.db_for_write(SkuSalesDay) == "default"
    assert router.allow_migrate("default", "analytics", "skusalesday") is True
    assert router.allow_migrate("replica", "analytics", "skusalesday") is False
    assert router.allow_relation(Order(), SkuSalesDay()) is True


def test_inside_a_transaction_on_default_rollup_reads_stay_on_default(db, replica):
    # the rollup job sums a day's hours inside its transaction: the replica could not see those rows
    assert ReplicaRouter().db_for_read(SkuSalesDay) is None


def test_a_dashboard_query_of_the_rollups_is_sent_to_the_replica(transactional_db, replica):
    with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(connections["default"]) as on_default:
        totals = SkuSalesDay.objects.filter(day__gte=date(2026, 1, 1)).aggregate(revenue=Sum("revenue"))
    assert totals == {"revenue": None}
    assert len(on_replica.captured_queries) == 1
    assert "analytics_skusalesday" in on_replica.captured_queries[0]["sql"]
    assert on_default.captured_queries == []


def test_the_ops_dashboard_reads_its_rollups_on_the_replica(transactional_db, replica):
    # a dashboard selector (analytics/selectors/ops.py): every rollup query on the replica, none on the primary
    with CaptureQueriesContext(replica) as on_replica, CaptureQueriesContext(connections["default"]) as on_default:
        ops_dashboard(Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert any("analytics_skusalesday" in query["sql"] for query in on_replica.captured_queries)
    assert not [query["sql"] for query in on_default.captured_queries if '"analytics_' in query["sql"]]
