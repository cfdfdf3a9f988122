"""Export ledger lines to XLSX through the real export path, and time COPY … TO STDOUT of the same rows.

    DATABASE_URL=postgres://… python bench/export_statement.py --lines 1000000

Loads `--lines` ledger entries (balanced transfers between two platform accounts, COPY-loaded, in a
scratch database that is dropped afterwards), then:
  * exports them with settlement.exporting.write_xlsx (the path the export job uses: PostgreSQL renders the
    worksheet XML through COPY, settlement/xlsx.py streams it into the zip);
  * times `COPY (<the same SELECT>) TO STDOUT WITH CSV` through psycopg.
Last line: export_ratio=<copy seconds ÷ export seconds> export_rows_per_s=<n> peak_rss_mb=<n>
"""

import argparse
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/voucherhub")
    if not base.startswith("postgres"):
        print("this benchmark needs PostgreSQL (DATABASE_URL)", file=sys.stderr)
        return 2
    scratch = f"vh_bench_export_{os.getpid()}"
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + scratch
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voucherhub.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        from settlement import exporting
        from settlement.models import Account
        from settlement.services.ledger import platform_account

        a = platform_account(Account.Kind.BANK)
        b = platform_account(Account.Kind.REVENUE)
        n_transfers = args.lines // 2
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            raw = connection.connection
            with raw.cursor() as cur:
                with cur.copy("COPY settlement_transfer (id, kind, reference, memo, created_at) FROM STDIN") as copy:
                    for i in range(1, n_transfers + 1):
                        copy.write_row((i, "sale", f"VH250101{i:010d}", "bench", "2026-01-01 00:00:00+00"))
                with cur.copy(
                    "COPY settlement_entry (transfer_id, account_id, amount, currency, balance_after, created_at) FROM STDIN"
                ) as copy:
                    for i in range(1, n_transfers + 1):
                        copy.write_row((i, a.pk, "-26.00", "CNY", f"{-26 * i}.00", "2026-01-01 00:00:00+00"))
                        copy.write_row((i, b.pk, "26.00", "CNY", f"{26 * i}.00", "2026-01-01 00:00:00+00"))
            cursor.execute("SELECT setval('settlement_transfer_id_seq', %s)", [n_transfers])
            cursor.execute("ANALYZE settlement_entry")
        connection.commit() if not connection.get_autocommit() else None
        print(f"loaded {2 * n_transfers} ledger lines in {time.perf_counter() - t0:.1f}s", flush=True)

        sheet = exporting.ledger_sheet()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ledger.xlsx"
            t0 = time.perf_counter()
            from django.db import transaction

            with transaction.atomic():
                rows = exporting.write_xlsx(path, sheet)
            export_s = time.perf_counter() - t0
            size_mb = path.stat().st_size / 1e6
        print(f"xlsx: {rows} rows in {export_s:.2f}s ({size_mb:.1f} MB)", flush=True)

        with psycopg.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
            query = cur.mogrify(sheet.sql, sheet.params) if sheet.params else sheet.sql
            sink = io.BytesIO()
            t0 = time.perf_counter()
            copied = 0
            with cur.copy(f"COPY ({query}) TO STDOUT WITH CSV") as copy:
                for block in copy:
                    copied += bytes(block).count(b"\n")
                    sink.write(b"")  # discard: we time the database side and the transfer
            copy_s = time.perf_counter() - t0
        print(f"copy csv: {copied} rows in {copy_s:.2f}s", flush=True)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"export_ratio={copy_s / export_s:.3f} export_rows_per_s={rows / export_s:.0f} peak_rss_mb={peak_mb:.0f}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
