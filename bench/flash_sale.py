"""A flash-sale burst through the real HTTP stack, against the floor of that stack, in the same run.

    python bench/flash_sale.py --attempts 20000 --stock 1000 --consumers 2000 [--clients 4] [--client-threads 8]
                               [--workers 4] [--worker-threads 4] [--keep]

1. Creates a scratch PostgreSQL database (next to DATABASE_URL's) and migrates it; a distributor with a price list
   and a storefront listing a SKU with `--stock` + 10% codes; a platform-funded flash sale of that SKU with one
   running slot of `--stock` places and a limit of 1 per consumer; `--consumers` consumers, each signed in with a
   session written straight into the session store. The Redis gate is built from the database before the burst.
2. Starts the site under gunicorn (DEBUG off, the Redis cache of BENCH_CACHE_URL, default redis://127.0.0.1:6379/14),
   and beside it bench/flash_floor_app.py under the same gunicorn settings: a bare WSGI app answering the same
   request with one Redis DECR.
3. Burst: `--clients` processes x `--client-threads` threads, each on a keep-alive connection, send `--attempts`
   POST /s/<slug>/flash/<id>/buy/ (settlement's endpoint: session cookie, CSRF cookie and header, quantity=1),
   consumer i % consumers for attempt i, all released together. Then the same requests to the floor app, whose
   counter starts at `--stock`.
4. Checks the database: reservations held, the slot's `taken`, orders; a consumer holding more than the limit
   counts in over_limit.
Last line: sold=<201 answers> over_limit=<consumers past the limit> p99_ms=<buy latency, 99th percentile>
attempts_per_s=<buy attempts answered per second> floor_per_s=<floor requests per second> flash_ratio=<ratio>
(issue 16's target: sold=stock over_limit=0 flash_ratio >= 0.5). The scratch database is dropped (keep it with --keep).
"""

import argparse
import json
import multiprocessing
import os
import secrets
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redeem_throughput as common  # noqa: E402  (scratch database, gunicorn, keep-alive client, process groups)

SLUG = "flash-bench"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=20000)
    parser.add_argument("--stock", type=int, default=1000)
    parser.add_argument("--consumers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--client-threads", type=int, default=8, help="threads (keep-alive connections) per client process")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (both servers)")
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser.parse_args()


def prepare(db_url: str, cache_url: str, stock: int, consumers: int) -> tuple[int, list[str]]:
    """The shop, the codes, the flash sale and the signed-in consumers. Returns (campaign id, session keys)."""
    import subprocess

    env = {**os.environ, "DATABASE_URL": db_url, "CACHE_URL": cache_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({"DATABASE_URL": db_url, "CACHE_URL": cache_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"})
    import django

    django.setup()
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.utils import timezone

    from catalog.models import Product, Sku, Supplier
    from catalog.services import codes_generate
    from channels.models import DistributorLevel, PriceEntry, Storefront, StorefrontItem
    from channels.services import distributor_create
    from marketing.gate import gate_rebuild
    from marketing.models import Campaign, Consumer, FlashSlot

    supplier = Supplier.objects.create(name="bench supplier")
    product = Product.objects.create(supplier=supplier, name="bench video", category=Product.Category.VIDEO)
    sku = Sku.objects.create(
        product=product, code="BENCH-FLASH", name="bench flash", face_value=Decimal("30.00"), cost_price=Decimal("20.00"), valid_days=365
    )
    level = DistributorLevel.objects.create(name="bench level", position=1)
    PriceEntry.objects.create(
        level=level, sku=sku, purchase_price=Decimal("25.00"), suggested_retail=Decimal("29.90"), price_floor=Decimal("27.00")
    )
    distributor = distributor_create(name="bench distributor", level=level)
    storefront = Storefront.objects.create(distributor=distributor, slug=SLUG, title="bench shop")
    StorefrontItem.objects.create(storefront=storefront, sku=sku, retail_price=Decimal("29.90"))
    codes_generate(sku=sku, count=stock + stock // 10)
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="bench flash sale",
        kind=Campaign.Kind.FLASH_SALE,
        status=Campaign.Status.ACTIVE,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=2),
        sku=sku,
        price=Decimal("9.90"),
        per_consumer_limit=1,
        payment_minutes=15,
    )
    FlashSlot.objects.create(campaign=campaign, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1), stock=stock)
    people = Consumer.objects.bulk_create([Consumer(phone=f"139{n:08d}") for n in range(consumers)])
    expire = now + timedelta(days=1)
    encode = SessionStore().encode
    sessions = [Session(session_key=secrets.token_hex(16), session_data=encode({"vh_consumer": c.pk}), expire_date=expire) for c in people]
    Session.objects.bulk_create(sessions, batch_size=1000)
    gate_rebuild(campaign=campaign)
    connection.close()
    return campaign.pk, [s.session_key for s in sessions]


def _client_process(port, path, jobs, threads, start_at, out):
    """One client process: `threads` keep-alive connections share `jobs` (session keys), waiting for `start_at`."""
    csrf = secrets.token_hex(16)  # 32 characters: a CSRF secret Django accepts as cookie and header alike
    body = b"quantity=1"
    todo = iter(jobs)
    lock = threading.Lock()
    results = []

    def run():
        http = common.KeepAliveHttp(port)
        mine = []
        while time.time() < start_at.value:
            time.sleep(0.0005)
        while True:
            with lock:
                session = next(todo, None)
            if session is None:
                break
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"sessionid={session}; csrftoken={csrf}",
                "X-CSRFToken": csrf,
                "Accept": "application/json",
            }
            began = time.perf_counter()
            try:
                status, content = http.request("POST", path, headers, body)
            except (OSError, common.HttpError):
                status, content = 599, b"{}"
            elapsed = time.perf_counter() - began
            code = ""
            if status != 201:
                try:
                    code = json.loads(content or b"{}").get("code", "")
                except ValueError:
                    code = "not-json"
            mine.append((session, status, code, elapsed, time.time()))
        http.close()
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(results)


def burst(port, path, sessions, attempts, clients, threads) -> tuple[list, float]:
    """Every attempt once, from `clients` processes x `threads` threads released together. (results, seconds)."""
    jobs = [sessions[i % len(sessions)] for i in range(attempts)]
    start_at = multiprocessing.Value("d", 0.0)
    start_at.value = time.time() + 2.0 + 0.2 * clients  # every process connected and waiting
    out = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_client_process, args=(port, path, jobs[i::clients], threads, start_at, out)) for i in range(clients)
    ]
    for process in processes:
        process.start()
    results = []
    for _ in processes:
        results.extend(out.get())
    for process in processes:
        process.join()
    seconds = max(r[4] for r in results) - start_at.value
    return results, seconds


def start_floor(port, workers, worker_threads, redis_url, key):
    env = {**os.environ, "FLOOR_REDIS_URL": redis_url, "FLOOR_REDIS_KEY": key}
    command = [
        str(common.VENV_BIN / "gunicorn"), "flash_floor_app:application", "--chdir", str(ROOT / "bench"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
        "--threads", str(worker_threads), "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    server = common.spawn(command, cwd=ROOT, env=env)
    deadline = time.time() + 30
    while True:
        probe = common.KeepAliveHttp(port, timeout=2)
        try:
            probe.request("POST", "/", {}, b"")
            return server
        except OSError:
            if time.time() > deadline:
                common.stop(server)
                raise SystemExit("the floor's gunicorn did not start") from None
            time.sleep(0.2)
        finally:
            probe.close()


def p99(values) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


def check_database(db_url: str, campaign_id: int, limit: int = 1) -> dict:
    import psycopg

    with psycopg.connect(common.psycopg_url(db_url)) as conn:
        taken, stock = conn.execute("SELECT taken, stock FROM marketing_flashslot WHERE campaign_id = %s", [campaign_id]).fetchone()
        held = conn.execute(
            "SELECT count(*), count(DISTINCT consumer_id) FROM marketing_flashreservation r JOIN marketing_flashslot s ON s.id = r.slot_id"
            " WHERE s.campaign_id = %s AND r.status IN ('held', 'paid')",
            [campaign_id],
        ).fetchone()
        over = conn.execute(
            "SELECT count(*) FROM (SELECT consumer_id FROM marketing_flashreservation r JOIN marketing_flashslot s ON s.id = r.slot_id"
            " WHERE s.campaign_id = %s AND r.status IN ('held', 'paid') GROUP BY consumer_id HAVING sum(r.quantity) > %s) t",
            [campaign_id, limit],
        ).fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM settlement_order WHERE promotion_id = %s", [campaign_id]).fetchone()[0]
    return {"taken": taken, "stock": stock, "reservations": held[0], "consumers": held[1], "over": over, "orders": orders}


def main() -> int:
    args = parse_args()
    common.end_on_signals()
    import psycopg

    cache_url = common.redis_url()
    if cache_url is None:
        raise SystemExit("the flash-sale bench needs Redis (BENCH_CACHE_URL, default redis://127.0.0.1:6379/14)")
    base = common.server_url()
    scratch = f"vh_bench_flash_{os.getpid()}"
    admin = common.psycopg_url(common.with_db(base, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    db_url = common.with_db(base, scratch)
    servers = []
    floor_key = f"flash-floor:{os.getpid()}:left"
    try:
        t0 = time.perf_counter()
        campaign_id, sessions = prepare(db_url, cache_url, args.stock, args.consumers)
        print(f"prepared in {time.perf_counter() - t0:.1f}s: {args.stock} places, {args.consumers} signed-in consumers", flush=True)
        port, floor_port = common.free_port(), common.free_port()
        servers.append(common.start_gunicorn(db_url, port, args.workers, args.worker_threads, cache_url, entry="site"))
        servers.append(start_floor(floor_port, args.workers, args.worker_threads, cache_url, floor_key))
        path = f"/s/{SLUG}/flash/{campaign_id}/buy/"
        results, seconds = burst(port, path, sessions, args.attempts, args.clients, args.client_threads)
        import redis

        floor_redis = redis.Redis.from_url(cache_url)
        floor_redis.set(floor_key, args.stock, ex=3600)
        floor_results, floor_seconds = burst(floor_port, path, sessions, args.attempts, args.clients, args.client_threads)
        floor_redis.delete(floor_key)
        facts = check_database(db_url, campaign_id)
        sold = sum(1 for r in results if r[1] == 201)
        per_session = {}
        for session, status, *_rest in results:
            per_session[session] = per_session.get(session, 0) + (status == 201)
        over_limit = max(facts["over"], sum(1 for n in per_session.values() if n > 1))
        refusals = {}
        for _session, status, code, *_rest in results:
            if status != 201:
                refusals[f"{status} {code}"] = refusals.get(f"{status} {code}", 0) + 1
        floor_ok = sum(1 for r in floor_results if r[1] == 201)
        print(
            f"flash: {len(results)} attempts in {seconds:.2f}s; answers: 201 x {sold}, {refusals}; database: slot taken "
            f"{facts['taken']}/{facts['stock']}, {facts['reservations']} reservations of {facts['consumers']} consumers, "
            f"{facts['orders']} orders; p50 {1000 * sorted(r[3] for r in results)[len(results) // 2]:.1f} ms"
        )
        print(
            f"floor: {len(floor_results)} requests in {floor_seconds:.2f}s (bench/flash_floor_app.py, one Redis DECR, the same "
            f"gunicorn settings: {args.workers} workers x {args.worker_threads} threads); 201 x {floor_ok}; "
            f"p99 {1000 * p99(r[3] for r in floor_results):.1f} ms; load average {os.getloadavg()[0]:.2f}"
        )
        last_sale = max((r[4] for r in results if r[1] == 201), default=0.0)
        after = [r for r in results if r[4] > last_sale]
        if after:
            span = max(r[4] for r in after) - last_sale
            rate_after = len(after) / max(span, 1e-9)
            print(f"the last place sold after {seconds - span:.2f}s; then {len(after)} refusals in {span:.2f}s ({rate_after:.0f}/s)")
        if sold != facts["reservations"] or facts["taken"] != facts["reservations"]:
            print(f"WARNING: answers and database disagree: sold={sold} {facts}", file=sys.stderr)
        rate, floor_rate = len(results) / seconds, len(floor_results) / floor_seconds
        print(
            f"sold={sold} over_limit={over_limit} p99_ms={1000 * p99(r[3] for r in results):.1f} attempts_per_s={rate:.0f} "
            f"floor_per_s={floor_rate:.0f} flash_ratio={rate / floor_rate:.3f}"
        )
    finally:
        common.teardown(servers, admin, scratch, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
