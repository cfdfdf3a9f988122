"""Hand-written statements for what every signed API order runs, prepared on the server (PostgreSQL).

`run` executes one statement (written with `%s` placeholders) on the request's connection with
server-side binding, prepared on first use. Django's own cursors bind on the client (Python renders
every parameter into the text, the server parses and plans the text each time) and the ORM compiles
each query anew; for the few statements every order makes, a prepared statement with array parameters
(`unnest(%s::bigint[], …)`, so the text stays the same whatever the number of rows) saves both.
Statements still show in `connection.queries` (and CaptureQueriesContext) when Django logs queries,
so query-count tests see them.

Django opens its psycopg connections with `prepare_threshold=None`, which turns preparing off for the whole
connection, `prepare=True` included (psycopg answers "no" before looking at the flag). `connection_setup`,
called by our database backend (voucherhub.core.postgres) on every new connection, sets a threshold high
enough that psycopg never prepares on its own, so only these statements are prepared; and it makes
PostgreSQL plan each of them once (`plan_cache_mode = force_generic_plan`: left to itself PostgreSQL keeps
re-planning a long statement on every execution, which cost an order more than running it). Django's own
queries bind on the client and are never prepared, so the setting reaches only the statements run here.
No value is ever written into a statement's text: every value is a bound parameter, so a statement is
prepared once per connection whatever the values (issue 14 removed the order write that wrote its SKU and
quantity into its text, one prepared statement per pair). A query whose best plan depends on its values
(the code claim: how many codes a SKU has) is not run here: it stays an ORM query, planned on each
execution with its values (catalog.allocation). PREPARED_STATEMENTS=False keeps every
statement unprepared (a pooler in transaction mode that does not track prepared statements, such as
PgBouncer before 1.21, needs that).
"""

import time
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

# Prepared statements a connection keeps (psycopg deallocates the least recently used past this many).
PREPARED_MAX = 100
# A threshold psycopg never reaches: nothing is prepared unless asked for with prepare=True.
_NEVER_BY_ITSELF = 2**31 - 1


def available() -> bool:
    return connection.vendor == "postgresql"


def wanted() -> bool:
    return bool(getattr(settings, "PREPARED_STATEMENTS", True))


def connection_setup(raw) -> bool:
    """Prepare on `raw` (a new psycopg connection) what `run` asks for, each statement planned once.
    Whether a statement was sent (the caller commits it outside autocommit)."""
    if not wanted():
        return False
    raw.prepare_threshold = _NEVER_BY_ITSELF
    raw.prepared_max = PREPARED_MAX
    raw.execute("SET plan_cache_mode = force_generic_plan")
    return True


def run(sql: str, params: list) -> list[tuple]:
    """Execute `sql` (psycopg `%s` placeholders) and return its rows (empty for a statement without any)."""
    params = [_plain(p) for p in params]
    connection.ensure_connection()
    started = time.monotonic()
    with connection.wrap_database_errors:
        cursor = psycopg.RawCursor(connection.connection)
        try:
            cursor.execute(_native(sql), params, prepare=wanted())
            # (not cursor.description: building it costs a Column object per column on every call)
            result = cursor.pgresult
            rows = cursor.fetchall() if result is not None and result.status == psycopg.pq.ExecStatus.TUPLES_OK else []
        finally:
            cursor.close()
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows


@lru_cache(maxsize=256)
def _native(sql: str) -> bytes:
    """`%s` placeholders as PostgreSQL's own `$1, $2 …`, converted once per statement: psycopg's own
    conversion re-parses statements longer than 4 KB or with more than 50 parameters on every call."""
    parts = sql.split("%s")
    return (parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))).encode()


# Types psycopg sends as they are (an order passes ~70 parameters, most of them these).
_AS_IS = frozenset({str, int, bool, float, Decimal, datetime, date, bytes, type(None)})


def _plain(value):
    """Django's choices are Enums, which psycopg would send by name: send their values."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is list:
        return value if all(type(v) in _AS_IS for v in value) else [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def select_list(model, alias: str) -> str:
    """`alias."column", …` for every concrete field of `model`, in the model's field order."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields)


def loader(model):
    """A function turning the values of `select_list(model, …)` into an instance, as the ORM would.
    Kept per thread's connection (the converters belong to it)."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    loaders = wrapper.__dict__.setdefault("_vh_prepared_loaders", {})
    if model not in loaders:
        fields = list(model._meta.concrete_fields)
        attnames = [f.attname for f in fields]
        plans = []
        for field in fields:
            col = field.get_col(model._meta.db_table)
            plans.append((col, wrapper.ops.get_db_converters(col) + col.get_db_converters(wrapper)))

        def load(values, alias=wrapper.alias):
            converted = []
            for value, (col, converters) in zip(values, plans, strict=True):
                for converter in converters:
                    value = converter(value, col, wrapper)
                converted.append(value)
            return model.from_db(alias, attnames, converted)

        loaders[model] = (load, len(fields))
    return loaders[model]
