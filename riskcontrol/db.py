"""Database helpers of risk control."""

from django.db import connection
from django.db.models import AutoField, BigAutoField

_SQL_CACHE: dict = {}


def _insert_sql(model) -> tuple[str, list]:
    """INSERT ... SELECT with typed placeholders, run after set_config('synchronous_commit', 'off', true).

    One statement, one round trip: in autocommit it is its own transaction, and the setting applies
    to that transaction only, so its commit does not wait for the disk.
    """
    cached = _SQL_CACHE.get(model)
    if cached is None:
        quote = connection.ops.quote_name
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, (AutoField, BigAutoField))]
        columns = ", ".join(quote(f.column) for f in fields)
        values = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
            f"SELECT {values} FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit "
            f"RETURNING {quote(model._meta.pk.column)}"
        )
        cached = _SQL_CACHE[model] = (sql, fields)
    return cached


def insert_quickly(row) -> None:
    """Insert a telemetry row (an event, a failed verification) as cheaply as the database allows.

    Inside a caller's transaction it simply joins it. Outside one, on PostgreSQL, the row is
    committed without waiting for the disk: a crash may lose the last few milliseconds of events,
    never corrupt anything (PostgreSQL's asynchronous commit).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        row.save(force_insert=True)
        return
    sql, fields = _insert_sql(type(row))
    params = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row.pk = cursor.fetchone()[0]
    row._state.adding = False
    row._state.db = connection.alias
