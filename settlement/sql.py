"""Hand-written statements of settlement's hot paths (an order's writes, the ledger's postings).

`run` executes one statement on the request's connection with server-side binding, prepared on first
use: Django's own cursors bind on the client (Python renders every parameter into the text, the server
parses and plans the text each time); for the statements every order runs, a prepared statement with
array parameters (`unnest(%s::bigint[], …)`, so the text stays the same whatever the number of rows)
saves both. Statements still show in `connection.queries` (and CaptureQueriesContext) when Django
logs queries, so query-count tests see them. PostgreSQL only: callers keep an ORM path elsewhere.
"""

import time
from enum import Enum

import psycopg
from django.db import connection


def run(sql: str, params: list) -> list[tuple]:
    """Execute `sql` (psycopg `%s` placeholders) and return its rows (empty for a statement without any)."""
    params = [_plain(p) for p in params]
    connection.ensure_connection()
    started = time.monotonic()
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(connection.connection)
        try:
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows


def _plain(value):
    """Django's choices are Enums, which psycopg would send by name: send their values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
