"""Order throughput through the signed API, against the HTTP floor and a raw SQL claim on the same database.

    python bench/order_throughput.py [--threads 4] [--seconds 8] [--workers 4] [--worker-threads 2]

1. Creates a scratch PostgreSQL database (next to DATABASE_URL's), migrates it and fills it: a distributor
   level and price list, a distributor with a funded wallet and an API key, a SKU with a pool of codes sealed in
   the vault; for the raw phase one SKU pool per round (loaded, then VACUUM ANALYZE: each round claims from a
   fresh pool, never from one it drained before, whose claimed rows' index entries a claim would step over);
   for the floor, sold rows of another SKU.
2. Starts the app under gunicorn (DEBUG off; Redis cache when it answers) on a free port, and beside it the
   bare HTTP floor (bench/floor_app.py, as bench/http_floor.py measures it: a WSGI app doing one raw UPDATE by
   primary key) under the same gunicorn settings on another free port.
3. API: `--threads` client threads, each with a keep-alive connection, place orders of one code with signed
   POST /api/v1/orders/ (a fresh Idempotency-Key each): risk check, price, claim, wallet debit, double-entry
   postings, commission, delivery, webhooks, the codes in the response.
4. Floor: the same number of client threads send requests of a signed request's size to the floor app.
5. Raw: the same number of psycopg connections run
   `UPDATE catalog_cardcode SET status='sold' … WHERE id = (SELECT id … FOR UPDATE SKIP LOCKED) RETURNING id`
   (autocommit) on the round's fresh pool. 3, 4 and 5 alternate in `--rounds` rounds adding up to `--seconds` each.
6. oversold = codes in more than one live order line + codes the API returned twice + raw rows claimed twice.
Last line: order_vs_floor=<api orders/s ÷ floor requests/s> order_ratio=<api/raw> api_orders_per_s=<n>
floor_per_s=<n> raw_claims_per_s=<n> oversold=<n>   (issue 14's target: order_vs_floor >= 0.05, oversold=0)
The scratch database is dropped at the end (keep it with --keep).
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redeem_throughput as common  # noqa: E402  (shared helpers: scratch database, gunicorn, keep-alive client)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=4, help="client threads = raw connections")
    parser.add_argument("--seconds", type=float, default=8.0, help="time spent on each of the two measurements")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-threads", type=int, default=2)
    parser.add_argument("--codes", type=int, default=20000, help="codes in the pool for the API phase")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def prepare(db_url: str, codes: int, rounds: int, raw_rows: int, floor_rows: int):
    import subprocess

    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({"DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"})
    import django

    django.setup()
    from decimal import Decimal

    from django.db import connection

    from catalog import codegen, vault
    from catalog.models import CodeBatch, Product, Sku, Supplier
    from catalog.services import NewCode, batch_create, codes_insert
    from channels.models import DistributorLevel, PriceEntry
    from channels.services import api_key_issue, distributor_create
    from settlement.services.wallets import wallet_for, wallet_topup_record

    supplier = Supplier.objects.create(name="bench supplier")
    product = Product.objects.create(supplier=supplier, name="bench video", category=Product.Category.VIDEO)
    sku = Sku.objects.create(
        product=product,
        code="BENCH-VIDEO",
        name="bench video month",
        face_value=Decimal("30.00"),
        cost_price=Decimal("20.00"),
        valid_days=365,
    )
    raw_skus = [
        Sku.objects.create(
            product=product,
            code=f"BENCH-RAW-{n}",
            name="bench raw",
            face_value=Decimal("30.00"),
            cost_price=Decimal("20.00"),
            valid_days=365,
        )
        for n in range(1, rounds + 1)
    ]
    floor_sku = Sku.objects.create(
        product=product, code="BENCH-FLOOR", name="bench floor", face_value=Decimal("30.00"), cost_price=Decimal("20.00"), valid_days=365
    )
    level = DistributorLevel.objects.create(name="bench level", position=1)
    PriceEntry.objects.create(
        level=level, sku=sku, purchase_price=Decimal("25.00"), suggested_retail=Decimal("29.00"), price_floor=Decimal("27.00")
    )
    distributor = distributor_create(name="bench distributor", level=level)
    wallet_topup_record(wallet=wallet_for(distributor), amount=Decimal("100000000.00"), actor=None, reference="BENCH")
    key, secret = api_key_issue(distributor=distributor, label="bench")
    # Every order's answer opens its code; past the hourly reveal limit (50 by default) the API answers
    # codes_withheld and records a refused reveal instead: the bench measures orders answered with their codes.
    from riskcontrol.models import RiskSettings
    from riskcontrol.services import settings_update

    risk = RiskSettings.objects.get_or_create(pk=1)[0]
    risk.reveal_limit_per_hour = 10_000_000
    settings_update(values=risk, actor=None)
    batch = batch_create(sku=sku, source=CodeBatch.Source.GENERATED, label="bench")
    codes_insert(batch=batch, codes=[NewCode(sealed=vault.seal(codegen.new_code())) for _ in range(codes)])
    pools = [(raw_sku, "available", raw_rows) for raw_sku in raw_skus] + [(floor_sku, "sold", floor_rows)]
    with connection.cursor() as cursor:
        for pool_sku, status, rows in pools:
            pool_batch = batch_create(sku=pool_sku, source=CodeBatch.Source.GENERATED, label="bench pool")
            cursor.execute(
                """
                INSERT INTO catalog_cardcode (sku_id, batch_id, ciphertext, key_id, blind_index, hint, serial, status,
                                              order_ref, created_at, status_changed_at)
                SELECT %s, %s, '\\x00'::bytea, 'raw', md5(%s || g) || md5('x' || g), '••••', '', %s, '', now(), now()
                FROM generate_series(1, %s) AS g
                """,
                [pool_sku.pk, pool_batch.pk, pool_sku.code, status, rows],
            )
        cursor.execute("VACUUM ANALYZE catalog_cardcode")  # (autocommit) every pool fresh: visible, no dead entries
        cursor.execute("SELECT id FROM catalog_cardcode WHERE sku_id = %s ORDER BY id", [floor_sku.pk])
        floor_ids = [row[0] for row in cursor.fetchall()]
    connection.close()
    return key.key_id, secret, sku.code, [raw_sku.pk for raw_sku in raw_skus], floor_ids


class Client:
    def __init__(self, port: int, key_id: str, secret: str):
        from voucherhub.core.apisign import signed_headers

        self.sign = signed_headers
        self.key_id, self.secret = key_id, secret
        self.conn = common.NoDelayConnection("127.0.0.1", port, timeout=30)

    def order(self, sku: str) -> tuple[int, dict]:
        body = json.dumps({"sku": sku, "quantity": 1}).encode()
        headers = self.sign(key_id=self.key_id, secret=self.secret, method="POST", path="/api/v1/orders/", body=body)
        headers.update({"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
        self.conn.request("POST", "/api/v1/orders/", body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, {}


def api_phase(port, key_id, secret, sku, threads, seconds, seen: list, errors: dict):
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def run(index):
        client = Client(port, key_id, secret)
        while time.perf_counter() < stop:
            status, body = client.order(sku)
            if status == 201 and "codes_withheld" in body:  # placed, but its code not shown: not what is measured
                errors["codes_withheld"] = errors.get("codes_withheld", 0) + 1
            elif status == 201:
                done[index] += 1
                seen.extend(c.get("hint", "") + "|" + str(c.get("serial", "")) + "|" + c["code"] for c in body.get("codes", []))
            else:
                code = body.get("error", {}).get("code", str(status)) if isinstance(body, dict) else str(status)
                errors[code] = errors.get(code, 0) + 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done), time.perf_counter() - start


def raw_phase(conns, raw_sku_id, seconds, claimed: list):
    done = [0] * len(conns)
    stop = time.perf_counter() + seconds
    sql = (
        "UPDATE catalog_cardcode SET status = 'sold', order_ref = %s, status_changed_at = now() WHERE id = ("
        "SELECT id FROM catalog_cardcode WHERE sku_id = %s AND status = 'available' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ") RETURNING id"
    )

    def run(index):
        conn = conns[index]
        with conn.cursor() as cur:
            while time.perf_counter() < stop:
                cur.execute(sql, (f"RAW-{index}", raw_sku_id))
                row = cur.fetchone()
                if row:
                    claimed.append(row[0])
                    done[index] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done), time.perf_counter() - start


def start_floor(db_url: str, port: int, workers: int, worker_threads: int):
    """bench/floor_app.py under the API's gunicorn settings (as bench/http_floor.py starts it)."""

    env = {**os.environ, "FLOOR_DATABASE_URL": common.psycopg_url(db_url)}
    command = [
        str(common.VENV_BIN / "gunicorn"), "floor_app:application", "--chdir", str(ROOT / "bench"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
        "--threads", str(worker_threads), "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    server = common.spawn(command, cwd=ROOT, env=env)
    deadline = time.time() + 30
    while True:
        probe = common.KeepAliveHttp(port, timeout=2)
        try:
            probe.request("POST", "/", common.FLOOR_HEADERS, b'{"id": 0}')
            return server
        except OSError:
            if time.time() > deadline:
                common.stop(server)
                raise SystemExit("the floor's gunicorn did not start") from None
            time.sleep(0.2)
        finally:
            probe.close()


def main() -> int:
    args = parse_args()
    common.end_on_signals()
    import psycopg

    base = common.server_url()
    scratch = f"vh_bench_orders_{os.getpid()}"
    admin = psycopg_admin = common.psycopg_url(common.with_db(base, "postgres"))
    with psycopg.connect(psycopg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    db_url = common.with_db(base, scratch)
    servers = []
    per_round = args.seconds / args.rounds
    # Enough rows that no phase runs dry: a fresh raw pool per round, floor rows for every round.
    raw_rows = max(args.codes, int(8000 * per_round) + 5000)
    floor_rows = int(5000 * args.seconds) + 5000
    try:
        t0 = time.perf_counter()
        key_id, secret, sku, raw_sku_ids, floor_ids = prepare(db_url, args.codes, args.rounds, raw_rows, floor_rows)
        print(f"prepared in {time.perf_counter() - t0:.1f}s: {args.codes} codes, {args.rounds} raw pools of {raw_rows}", flush=True)
        port, floor_port = common.free_port(), common.free_port()
        servers.append(common.start_gunicorn(db_url, port, args.workers, args.worker_threads, common.redis_url()))
        servers.append(start_floor(db_url, floor_port, args.workers, args.worker_threads))
        floor_slices = [iter(floor_ids[i :: args.threads]) for i in range(args.threads)]
        # warm up every worker (imports, connections, rule snapshot)
        api_phase(port, key_id, secret, sku, args.threads, 1.0, [], {})
        common.floor_phase(floor_port, [[next(it) for _ in range(50)] for it in floor_slices], 30)
        conns = [psycopg.connect(common.psycopg_url(db_url), autocommit=True) for _ in range(args.threads)]
        api_n = raw_n = floor_n = 0
        api_s = raw_s = floor_s = 0.0
        seen, claimed, errors = [], [], {}
        server_cpu = client_cpu = api_pg_cpu = raw_client_cpu = raw_pg_cpu = 0.0
        with psycopg.connect(admin, autocommit=True) as watcher:
            for raw_sku_id in raw_sku_ids:
                postgres = common.PostgresCpu(watcher, scratch)
                before, client_before = common.cpu_seconds(servers[0].pid), time.process_time()
                n, s = api_phase(port, key_id, secret, sku, args.threads, per_round, seen, errors)
                server_cpu += common.cpu_seconds(servers[0].pid) - before
                client_cpu += time.process_time() - client_before
                api_pg_cpu += postgres.lap()
                api_n, api_s = api_n + n, api_s + s
                n, s = common.floor_phase(floor_port, floor_slices, per_round)
                floor_n, floor_s = floor_n + n, floor_s + s
                postgres.lap()
                client_before = time.process_time()
                n, s = raw_phase(conns, raw_sku_id, per_round, claimed)
                raw_client_cpu += time.process_time() - client_before
                raw_pg_cpu += postgres.lap()
                raw_n, raw_s = raw_n + n, raw_s + s
        for conn in conns:
            conn.close()
        with psycopg.connect(common.psycopg_url(db_url)) as conn:
            twice_in_orders = conn.execute(
                "SELECT count(*) FROM (SELECT code_id FROM settlement_orderitem WHERE state IN ('reserved', 'delivered')"
                " GROUP BY code_id HAVING count(*) > 1) t"
            ).fetchone()[0]
            orders = conn.execute("SELECT count(*) FROM settlement_order WHERE status = 'delivered'").fetchone()[0]
        oversold = twice_in_orders + (len(seen) - len(set(seen))) + (len(claimed) - len(set(claimed)))
        api_rate, raw_rate, floor_rate = api_n / api_s, raw_n / raw_s, floor_n / floor_s
        print(
            f"api: {api_n} orders in {api_s:.1f}s ({orders} delivered orders in the database); refusals: {errors or 'none'}; "
            f"CPU per order: gunicorn {1000 * server_cpu / max(api_n, 1):.2f} ms, client {1000 * client_cpu / max(api_n, 1):.2f} ms, "
            f"PostgreSQL {1000 * api_pg_cpu / max(api_n, 1):.2f} ms"
        )
        print(f"floor: {floor_n} requests in {floor_s:.1f}s (bench/floor_app.py, the same gunicorn settings)")
        print(
            f"raw: {raw_n} claims in {raw_s:.1f}s on {args.threads} connections, a fresh pool each round; CPU per claim: client "
            f"{1000 * raw_client_cpu / max(raw_n, 1):.3f} ms, PostgreSQL {1000 * raw_pg_cpu / max(raw_n, 1):.3f} ms; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print(
            f"order_vs_floor={api_rate / floor_rate:.3f} order_ratio={api_rate / raw_rate:.3f} api_orders_per_s={api_rate:.0f} "
            f"floor_per_s={floor_rate:.0f} raw_claims_per_s={raw_rate:.0f} oversold={oversold}"
        )
    finally:
        common.teardown(servers, admin, scratch, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
