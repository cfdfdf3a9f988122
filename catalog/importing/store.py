"""Writing checked rows into the vault: `catalog_cardcode`, catalog's own table, through catalog's services
(`codes_insert`) or, on PostgreSQL, one binary COPY that is this module's raw-SQL fast path.

The caller (jobs) holds the transaction that makes an import all or nothing; nothing here commits.

* PostgreSQL, `rows_stream_postgresql`: each checked chunk is sealed and sent with a binary COPY
  (psycopg, a writer thread) while PostgreSQL indexes the previous one, and the chunk generator writes the
  job's progress as each chunk goes out. There is no vault lookup first: the unique blind index decides.
  A code already in the vault (or stored by a concurrent import after our check) makes the COPY fail; then
  every row goes through a staging table and `INSERT ... ON CONFLICT (blind_index) DO NOTHING` in
  blind-index order, and the codes that were taken are reported as already in the vault. About ten times
  faster than INSERT for a big file (bench/import_codes.py, docs/performance.md).
* Other databases (SQLite, the laptop demo), `rows_seal` + `codes_store_other`: the rows are sealed a
  chunk at a time before the write lock is taken; under the lock one more lookup is authoritative and
  `codes_insert` stores the rest.
"""

import logging

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from catalog import vault
from catalog.importing.checks import GoodRow, by_index, chunk_rows
from catalog.models import CardCode, CodeBatch
from catalog.services import NewCode, codes_insert, existing_indexes

logger = logging.getLogger(__name__)

_COLUMNS = (
    "ciphertext",
    "key_id",
    "blind_index",
    "hint",
    "serial",
    "expires_at",
    "status",
    "order_ref",
    "created_at",
    "status_changed_at",
    "batch_id",
    "sku_id",
)
_TYPES = (
    "bytea",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "timestamptz",
    "varchar",
    "varchar",
    "timestamptz",
    "timestamptz",
    "int8",
    "int8",
)
_STAGE = "vh_import_stage"


def _records(rows: list[GoodRow], *, sealer: vault.BulkSealer, batch: CodeBatch):
    """COPY records of the rows, sealed a chunk at a time."""
    now = timezone.now()
    key_id, batch_id, sku_id, available = sealer.key_id, batch.pk, batch.sku_id, CardCode.Status.AVAILABLE.value
    size = chunk_rows()
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        blobs = sealer.seal_many([(r.code, r.index) for r in chunk])
        for r, blob in zip(chunk, blobs, strict=True):
            yield (blob, key_id, r.index, r.hint, r.serial, r.expires_at, available, "", now, now, batch_id, sku_id)


def records_copy(table: str, records) -> None:
    """Binary COPY of `records` into `table` (psycopg), inside the caller's transaction."""
    from psycopg.copy import QueuedLibpqWriter

    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        # A thread sends the data while this one goes on checking and sealing the next rows.
        sql = f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
            copy.set_types(_TYPES)
            write = copy.write_row
            for record in records:
                write(record)


def rows_stream_postgresql(*, batch: CodeBatch, chunks, sealer: vault.BulkSealer) -> tuple[list[GoodRow], list[GoodRow]]:
    """COPY each checked chunk into the vault as soon as it is checked and sealed, so that checking and sealing
    here overlap PostgreSQL's index work. Returns (good rows, those a concurrent import stored first).

    There is no vault lookup first: the unique blind index decides. A code already in the vault makes the
    COPY fail; then every row goes through a staging table and `INSERT ... ON CONFLICT DO NOTHING`."""
    good: list[GoodRow] = []

    def records():
        for chunk in chunks:
            chunk.sort(key=by_index)
            good.extend(chunk)
            yield from _records(chunk, sealer=sealer, batch=batch)

    try:
        with transaction.atomic():
            records_copy(CardCode._meta.db_table, records())
        return good, []
    except IntegrityError:
        logger.info("import into batch %s met codes already in the vault; inserting what is new", batch.pk)
    for chunk in chunks:  # the rest of the file, if the COPY stopped early
        good.extend(chunk)
    good.sort(key=by_index)  # one global order: racing imports wait on each other instead of deadlocking
    return good, _insert_missing(batch=batch, rows=good, sealer=sealer)


def _insert_missing(*, batch: CodeBatch, rows: list[GoodRow], sealer: vault.BulkSealer) -> list[GoodRow]:
    """Stage the rows, insert those whose blind index is not taken; returns the rows that were taken."""
    table, columns = CardCode._meta.db_table, ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        # Same column types as the vault, no constraints; dropped when the transaction ends.
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")
        cursor.execute(f"TRUNCATE {_STAGE}")
    records_copy(_STAGE, _records(rows, sealer=sealer, batch=batch))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE} ORDER BY blind_index "
            "ON CONFLICT (blind_index) DO NOTHING RETURNING blind_index"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute(f"TRUNCATE {_STAGE}")
    return [r for r in rows if r.index not in inserted]


def rows_seal(rows: list[GoodRow], *, sealer: vault.BulkSealer) -> list[tuple[GoodRow, NewCode]]:
    """Seal a chunk of checked rows for `codes_store_other` (before the write lock is taken)."""
    blobs = sealer.seal_many([(r.code, r.index) for r in rows])
    return [
        (
            r,
            NewCode(
                sealed=vault.SealedCode(blind_index=r.index, ciphertext=blob, key_id=sealer.key_id, hint=r.hint),
                serial=r.serial,
                expires_at=r.expires_at,
            ),
        )
        for r, blob in zip(rows, blobs, strict=True)
    ]


def codes_store_other(*, batch: CodeBatch, sealed: list[tuple[GoodRow, NewCode]]) -> list[GoodRow]:
    """SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so one more lookup is authoritative.
    Stores the sealed rows whose code is not in the vault; returns the rows that were taken."""
    taken = existing_indexes([r.index for r, _code in sealed])
    codes_insert(batch=batch, codes=[code for r, code in sealed if r.index not in taken])
    return [r for r, _code in sealed if r.index in taken]


def is_retryable(exc: OperationalError) -> bool:
    """A deadlock or a serialization failure: the whole store can run again."""
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}
