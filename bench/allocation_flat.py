"""Does a claim stay as fast when a SKU sells out? Sells every code of one SKU through catalog's claim service.

    python bench/allocation_flat.py [--codes 100000] [--threads 8] [--scheme cursor|naive]

1. Creates a scratch PostgreSQL database (next to DATABASE_URL's), migrates it and fills one SKU with
   `--codes` codes sealed in the vault (catalog's codes_insert, COPY), then ANALYZE. Autovacuum as configured.
2. `--threads` threads, each with its own connection, sell one code per transaction until the SKU is sold out:
   `codes_claim(sku=…, quantity=1)` then `code_status_change(… to sold, locked=True)` (a CodeEvent per code).
   `--scheme naive` claims with the query catalog used before its allocation cursor
   (`… status = 'available' ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED` over the whole SKU), for the
   before/after figures in docs/performance.md.
3. Rates by sale count: the first 10% of the codes sold, the last 10%, and ten windows of 10% in between.
Last line: alloc_first_per_s=<n> alloc_last_per_s=<n> alloc_flatness=<last ÷ first> sold=<n> oversold=<n>
The scratch database is dropped at the end (keep it with --keep).
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redeem_throughput as common  # noqa: E402  (shared helpers: scratch database URLs)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", type=int, default=100_000, help="codes of the one SKU, all sold")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--scheme", choices=["cursor", "naive"], default="cursor", help="cursor: catalog.allocation; naive: the old query")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser.parse_args()


def prepare(db_url: str, codes: int):
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({"DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings", "DEBUG": "false"})
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection

    from catalog import codegen, vault
    from catalog.models import CodeBatch, Product, Sku, Supplier
    from catalog.services import NewCode, batch_create, codes_insert

    supplier = Supplier.objects.create(name="bench supplier")
    product = Product.objects.create(supplier=supplier, name="bench flash sale", category=Product.Category.VIDEO)
    sku = Sku.objects.create(
        product=product,
        code="BENCH-FLASH",
        name="bench flash sale",
        face_value=Decimal("30.00"),
        cost_price=Decimal("20.00"),
        valid_days=365,
    )
    batch = batch_create(sku=sku, source=CodeBatch.Source.GENERATED, label="bench")
    ring = vault.keyring()
    for start in range(0, codes, 10_000):
        codes_insert(batch=batch, codes=[NewCode(sealed=ring.seal(codegen.new_code())) for _ in range(min(10_000, codes - start))])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return sku


def naive_claim(*, sku, quantity: int, exclude_ids=()):
    """catalog.allocation.codes_claim as it was before the cursor: one SKIP LOCKED scan over the whole SKU."""
    from django.db.models import Q
    from django.utils import timezone

    from catalog.allocation import CODE_FIELDS, OutOfStock
    from catalog.models import CardCode

    qs = CardCode.objects.select_for_update(skip_locked=True, of=("self",)).filter(sku=sku, status=CardCode.Status.AVAILABLE)
    qs = qs.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    codes = list(qs.order_by("pk").only(*CODE_FIELDS)[:quantity])
    if len(codes) < quantity:
        raise OutOfStock(sku=sku.code, wanted=quantity, found=len(codes))
    return codes


def sell_out(sku, threads: int, claim) -> tuple[float, list[float], list[BaseException]]:
    """Every thread sells one code per transaction until the SKU is sold out. Returns the start time, the
    time each sale committed, and any unexpected error."""
    from django.db import connection, transaction

    from catalog.allocation import OutOfStock
    from catalog.models import CardCode
    from catalog.services import code_status_change

    sold = CardCode.Status.SOLD
    done: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)
    progress = {"sold": 0, "mark": 0.0}
    step = max(CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).count() // 10, 1)
    lock = threading.Lock()

    def tick(now: float) -> None:
        """Print each 10% of the sales as it completes (a run cut short still shows how it went)."""
        with lock:
            progress["sold"] += 1
            if progress["sold"] % step == 0:
                print(f"  {progress['sold']} sold: {step / (now - progress['mark']):.0f} claims/s", flush=True)
                progress["mark"] = now

    def run(index):
        mine = done[index]
        try:
            connection.ensure_connection()
            barrier.wait()
            while True:
                with transaction.atomic():
                    codes = claim(sku=sku, quantity=1)
                    code_status_change(codes=codes, to_status=sold, reference="BENCH", locked=True)
                mine.append(time.perf_counter())
                tick(mine[-1])
        except OutOfStock:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported at the end
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = progress["mark"] = time.perf_counter()
    for worker in workers:
        worker.join()
    return start, sorted(t for times in done for t in times), errors


def rate(times: list[float], begin: int, end: int, start: float) -> float:
    """Sales per second from sale number `begin` to `end` (the clock starts at the sale before `begin`)."""
    since = times[begin - 1] if begin else start
    return (end - begin) / max(times[end - 1] - since, 1e-9)


def oversold(sku) -> int:
    from django.db.models import Count

    from catalog.models import CodeEvent

    doubles = CodeEvent.objects.filter(code__sku=sku, to_status="sold").values("code_id").annotate(n=Count("id")).filter(n__gt=1)
    return doubles.count()


def main():
    args = parse_args()
    import psycopg

    base = common.server_url()
    name = f"vh_bench_alloc_{os.getpid()}"
    admin = psycopg.connect(common.psycopg_url(common.with_db(base, "postgres")), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"preparing {name}: one SKU of {args.codes} codes; scheme {args.scheme}, {args.threads} threads", flush=True)
        sku = prepare(common.with_db(base, name), args.codes)
        from catalog.allocation import codes_claim

        claim = naive_claim if args.scheme == "naive" else codes_claim
        start, times, errors = sell_out(sku, args.threads, claim)
        if errors:
            print(f"errors: {len(errors)}, first: {errors[0]!r}", file=sys.stderr, flush=True)
        n = len(times)
        if n < 10:
            raise SystemExit(f"only {n} codes sold")
        tenth = n // 10
        windows = [f"{rate(times, i * tenth, (i + 1) * tenth, start):.0f}" for i in range(10)]
        print(f"sold {n} codes in {times[-1] - start:.1f}s; per 10% of the sales: {' -> '.join(windows)} claims/s", flush=True)
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
        first, last = rate(times, 0, tenth, start), rate(times, n - tenth, n, start)
        print(
            f"alloc_first_per_s={first:.0f} alloc_last_per_s={last:.0f} alloc_flatness={last / first:.2f} "
            f"sold={n} oversold={oversold(sku)} scheme={args.scheme}",
            flush=True,
        )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
