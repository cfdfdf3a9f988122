"""Benchmark: importing card codes through the real import path against a raw COPY of the same rows.

    DATABASE_URL=postgres://... python bench/import_codes.py --count 200000

1. Generates `count` fresh codes (with check digits) into an in-memory CSV (not timed).
2. Times `catalog.jobs.codes_import`: parse the CSV, check every row against the file and the
   vault, seal each code (AES-GCM + HMAC blind index), COPY into catalog_cardcode, commit (with the
   foreign-key checks), record the job and the audit entry.
3. Times a raw binary COPY of the same number of pre-built rows of the same shape (45-byte blobs,
   64-hex indexes, hints, timestamps) into a scratch table with the same columns and indexes as
   catalog_cardcode (LIKE ... INCLUDING ALL: no foreign keys), committed. It runs before and after
   the import and the faster of the two is the baseline.

The last line is
    import_ratio=<vault rows/s / raw COPY rows/s> vault_rows_per_s=<n> raw_rows_per_s=<n>
The bench rows are deleted afterwards (--keep leaves them).
"""

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voucherhub.settings")


def database_ensure() -> None:
    """Create DATABASE_URL's PostgreSQL database when it does not exist yet (a fresh machine has none)."""
    from urllib.parse import urlsplit, urlunsplit

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(scheme="postgresql", path="/postgres")), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


database_ensure()

import django  # noqa: E402

django.setup()

from decimal import Decimal  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog import codegen, vault  # noqa: E402
from catalog.importing import jobs, store  # noqa: E402
from catalog.models import CardCode, CodeBatch, ImportJob, Product, Sku, Supplier  # noqa: E402

SCRATCH = "bench_raw_cardcode"


def generate_csv(count: int) -> bytes:
    lines = ["code"]
    lines += [codegen.new_code() for _ in range(count)]
    return ("\n".join(lines) + "\n").encode()


def bench_sku() -> Sku:
    supplier, _ = Supplier.objects.get_or_create(name="Benchmark supplier")
    product, _ = Product.objects.get_or_create(name="Benchmark product", supplier=supplier)
    code = f"BENCH-{int(time.time() * 1000)}"
    return Sku.objects.create(product=product, code=code, name=code, face_value=Decimal("10.00"), cost_price=Decimal("5.00"), valid_days=30)


def raw_rows(count: int, *, batch_id: int, sku_id: int) -> list[tuple]:
    """Rows shaped like the vault's: blob = 12-byte nonce + 17-byte code + 16-byte tag."""
    now = timezone.now()
    blobs = os.urandom(45 * count)
    indexes = os.urandom(32 * count).hex()
    return [
        (
            blobs[45 * i : 45 * (i + 1)],
            "0123abcd",
            indexes[64 * i : 64 * (i + 1)],
            "••••WXYZ",
            "",
            None,
            "available",
            "",
            now,
            now,
            batch_id,
            sku_id,
        )
        for i in range(count)
    ]


def raw_copy(rows: list[tuple], *, temp: bool) -> float:
    """Rows per second of a binary COPY into a fresh scratch table shaped like catalog_cardcode."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cursor.execute(f"CREATE {'TEMP ' if temp else ''}TABLE {SCRATCH} (LIKE {CardCode._meta.db_table} INCLUDING ALL)")
    started = time.perf_counter()
    with transaction.atomic():
        store.records_copy(SCRATCH, iter(rows))
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {SCRATCH}")
    return len(rows) / elapsed


def cleanup(sku: Sku) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM catalog_codeevent WHERE code_id IN (SELECT id FROM catalog_cardcode WHERE sku_id = %s)",
            [sku.pk],
        )
        cursor.execute("DELETE FROM catalog_cardcode WHERE sku_id = %s", [sku.pk])
    ImportJob.objects.filter(sku=sku).delete()
    CodeBatch.objects.filter(sku=sku).delete()
    sku.delete()
    vacuum()


def vacuum() -> None:
    """Dead rows of earlier runs would bloat the vault's indexes; the scratch table is always fresh."""
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {CardCode._meta.db_table}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--temp-baseline", action="store_true", help="COPY the raw rows into a TEMP (unlogged) table instead")
    parser.add_argument("--keep", action="store_true", help="keep the imported codes")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("this benchmark needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)
    vacuum()
    vault.keyring()  # keys decoded before timing

    data = generate_csv(args.count)
    sku = bench_sku()
    batch_for_raw = CodeBatch.objects.create(sku=sku, source=CodeBatch.Source.IMPORT, label="bench raw")
    rows = raw_rows(args.count, batch_id=batch_for_raw.pk, sku_id=sku.pk)
    baseline = "TEMP" if args.temp_baseline else "logged"
    print(f"{args.count} codes, CSV {len(data) / 1e6:.1f} MB; PostgreSQL {connection.pg_version}; baseline table: {baseline}")

    try:
        raw_before = raw_copy(rows, temp=args.temp_baseline)
        print(f"raw COPY (before): {raw_before:,.0f} rows/s")

        upload = io.BytesIO(data)
        upload.name = "bench.csv"
        started = time.perf_counter()
        job = jobs.codes_import(sku=sku, path_or_file=upload, mode=ImportJob.Mode.ALL)
        elapsed = time.perf_counter() - started
        assert job.stored_rows == args.count, (job.stored_rows, job.reason_counts)
        assert CardCode.objects.filter(batch=job.batch).count() == args.count
        vault_rate = args.count / elapsed
        print(f"import through codes_import: {elapsed:.2f} s, {vault_rate:,.0f} rows/s (job #{job.pk}, batch #{job.batch_id})")

        raw_after = raw_copy(rows, temp=args.temp_baseline)
        print(f"raw COPY (after): {raw_after:,.0f} rows/s")
    finally:
        if not args.keep:
            cleanup(sku)

    raw_rate = max(raw_before, raw_after)
    print(f"import_ratio={vault_rate / raw_rate:.3f} vault_rows_per_s={vault_rate:.0f} raw_rows_per_s={raw_rate:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
