"""The PostgreSQL health check (voucherhub/core/postgres): no round trip while the connection is fine, and a
connection the server has closed is replaced before the request uses it."""

import select
import time

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _sent_statements(monkeypatch) -> list[str]:
    """Every statement psycopg sends through a cursor of this connection (Django's query log misses the
    health check, which runs on a raw psycopg cursor)."""
    sent = []
    original = psycopg.Cursor.execute

    def execute(self, query, *args, **kwargs):
        sent.append(str(query))
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", execute)
    return sent


def _new_request():
    """What Django does around a request: request_finished's check, then the health check on first use."""
    connection.close_if_unusable_or_obsolete()
    connection.close_if_health_check_failed()


def test_the_engine_is_ours_and_still_postgresql():
    assert connection.settings_dict["ENGINE"] == "voucherhub.core.postgres"
    assert connection.vendor == "postgresql"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_a_healthy_connection_is_kept_without_a_round_trip(monkeypatch):
    connection.close()  # a fresh, healthy connection (an earlier test on this worker may have broken the last one)
    connection.ensure_connection()
    raw = connection.connection
    sent = _sent_statements(monkeypatch)
    with CaptureQueriesContext(connection):
        _new_request()
    assert sent == []
    assert connection.connection is raw
    with connection.cursor() as cursor:
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)


def test_a_connection_the_server_closed_is_replaced_before_use():
    connection.ensure_connection()
    raw = connection.connection
    pid = raw.info.backend_pid
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while not select.select([raw.fileno()], [], [], 0.05)[0] and time.monotonic() < deadline:
        pass  # the server's goodbye is on its way
    _new_request()
    with connection.cursor() as cursor:  # a fresh connection, not an OperationalError
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
    assert connection.connection is not raw


def test_a_connection_left_inside_a_transaction_gets_the_full_check(monkeypatch):
    connection.ensure_connection()
    connection.connection.execute("BEGIN")
    sent = _sent_statements(monkeypatch)
    assert connection.is_usable() is True
    assert sent == ["SELECT 1"]
    connection.connection.execute("ROLLBACK")
