"""Redemption's one raw-SQL write: a redemption and its attempt row in one statement (both tables are
redemption's own; docs/architecture.md, "Where the raw SQL is")."""

from functools import lru_cache

from django.db import connection

from redemption.models import Redemption, RedemptionAttempt
from voucherhub.core import prepared


def redemption_with_attempt_insert(*, redemption: Redemption, attempt: RedemptionAttempt) -> None:
    """Insert a new redemption and its attempt row (`attempt.redemption` is `redemption`); both come back
    with their primary keys, as `save()` leaves them.

    PostgreSQL: one prepared statement, `WITH r AS (INSERT INTO redemption … RETURNING id) INSERT INTO attempt
    … VALUES (…, (SELECT id FROM r))`, where the ORM makes two INSERTs: a plain redeem goes from 9 to 8
    statements (tests/redemption/test_redeem_rows.py). Measured on the loaded 2-core machine, main against the
    branch that brought it, interleaved: 8.36 -> 7.29 and 11.21 -> 9.95 ms of server CPU per redeem, 0.073 ->
    0.130 and 0.064 -> 0.070 redeem_vs_floor (noisy; docs/performance.md, "Issue 14's loose ends"). Elsewhere
    (SQLite, `make run`), or with PREPARED_STATEMENTS off, the ORM's two INSERTs."""
    if not (prepared.available() and prepared.wanted()):
        redemption.save(force_insert=True)
        attempt.redemption = redemption
        attempt.save(force_insert=True)
        return
    sql, redemption_fields, attempt_fields = _insert_sql()
    params = [_db_value(field, redemption) for field in redemption_fields]
    params += [_db_value(field, attempt) for field in attempt_fields]
    [(redemption_id, attempt_id)] = prepared.run(sql, params)
    for row, pk in ((redemption, redemption_id), (attempt, attempt_id)):
        row.pk = pk
        row._state.adding = False  # written: a later save() is an UPDATE (Django's documented Model._state)
        row._state.db = connection.alias
    attempt.redemption = redemption


def _db_value(field, row):
    """A field's value as `save()` would send it (Field.pre_save, then get_db_prep_save)."""
    return field.get_db_prep_save(field.pre_save(row, True), connection)


def _columns(model, *, skip: str = "") -> list:
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.attname != skip]


@lru_cache(maxsize=1)
def _insert_sql() -> tuple[str, list, list]:
    """The statement (its text the same for every redemption: values are parameters) and the fields it binds."""
    quote = connection.ops.quote_name
    redemption_fields = _columns(Redemption)
    attempt_fields = _columns(RedemptionAttempt, skip="redemption_id")

    def names(fields):
        return ", ".join(quote(f.column) for f in fields)

    def slots(fields):
        return ", ".join(["%s"] * len(fields))

    sql = (
        f"WITH r AS (INSERT INTO {quote(Redemption._meta.db_table)} ({names(redemption_fields)})"
        f" VALUES ({slots(redemption_fields)}) RETURNING id)"
        f" INSERT INTO {quote(RedemptionAttempt._meta.db_table)} ({names(attempt_fields)}, {quote('redemption_id')})"
        f" VALUES ({slots(attempt_fields)}, (SELECT id FROM r)) RETURNING redemption_id, id"
    )
    return sql, redemption_fields, attempt_fields
