"""Direct top-ups through the signed API against the supplier simulator with faults, until every one is final.

    python bench/topup_faults.py --orders 5000 [--threads 8] [--workers 2] [--worker-threads 4] [--q-workers 4]

1. Creates a scratch PostgreSQL database (next to DATABASE_URL's), migrates it and fills it: a TOPUP SKU (phone
   credit, face value 50) with its profile and a chain of two upstreams at the simulator (V2 first, gateway
   second), a distributor level and price, a distributor with a funded wallet and an API key.
2. Starts the supplier simulator in this process (a real HTTP server in threads). The first supplier's product
   has the issue's faults: 10% timeouts (answered after the upstream's 1 s timeout; the order exists all the
   same), 5% lost callbacks, 5% duplicated callbacks, 5% failures (one roll for the callback faults, one for
   the failure, one for the timeout, each order on its own). The second supplier works.
3. Starts the site under gunicorn (the API and supply's callback endpoint, DEBUG off) and a django-q2 cluster
   (submissions are its tasks: `topup_request` queues them on commit), with short supply timings (query backoff
   1, 2, 3, 5 s; a processing attempt waits 3 s for its callback before it is queried; failover after 0.5 s).
   This process plays the scheduler: it runs `topups_poll` every half second (the minute schedule in production).
4. `--threads` client threads place `--orders` top-ups with signed POST /api/v1/topups/ (a fresh Idempotency-Key
   and phone number each), then it waits (at most `--wait` s) for every top-up to reach a final state.
5. Checks: double_topups = our orders that the simulator topped up under more than one attempt number (it keeps
   every order it received; a number sent twice is never topped up twice); lost = placed top-ups that did not end
   final, plus final ones whose outcome disagrees with the simulator's (we say success and it topped up nothing,
   or the reverse); ledger_ok = settlement's ledger_check holds after all of it.
Last line: topups=<placed> final=<final> double_topups=<n> lost=<n> ledger_ok=<1|0> p95_final_s=<created -> final,
95th percentile> topups_per_s=<final top-ups / seconds from the first placement to the last final state>
The scratch database is dropped at the end (keep it with --keep).

Measured 2026-12-07 on the 2-core development machine shared with other jobs (load average 9 to 12), defaults:
placed 5000 in 440 s (11/s, the API under that load is the bottleneck), faults met 508 timeouts, 246 lost and
258 duplicated callbacks, 246 failures (each failed over to the second supplier and succeeded there):
topups=5000 final=5000 double_topups=0 lost=0 ledger_ok=1 p95_final_s=125.10 topups_per_s=10.1
The times to final are mostly queueing: orders arrive faster than the 4 job workers submit them (a timeout holds a
worker for the upstream's 1 s), so the median top-up waited 75 s; p95_final_s is a property of that backlog, not
of the state machine. Without a backlog (`--orders 40 --threads 1`, load average 4.4): median 3.3 s to final,
p95_final_s=6.24 (the job queue's pick-up, the 3 s wait for a lost callback, the query backoff after a timeout).
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redeem_throughput as common  # noqa: E402  (shared helpers: scratch database, gunicorn, keep-alive client)

SKU_CODE = "BENCH-CM-50"
# The supply timings of the run (settings read from the environment by voucherhub/settings/apps.py).
SUPPLY_ENV = {
    "SUPPLY_QUERY_BACKOFF_SECONDS": "1,2,3,5",
    "SUPPLY_PROCESSING_CHECK_SECONDS": "3",
    "SUPPLY_SUBMIT_WINDOW_SECONDS": "20",
    "SUPPLY_FAILOVER_DELAY_SECONDS": "0.5",
    "SUPPLY_SYNC": "false",
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8, help="client threads placing top-ups")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument("--q-workers", type=int, default=4, help="django-q2 workers (submissions)")
    parser.add_argument("--wait", type=float, default=900, help="seconds to wait for the last final state")
    parser.add_argument("--seed", type=int, default=15, help="the simulator's fault dice")
    parser.add_argument("--timeouts", type=float, default=0.10)
    parser.add_argument("--lost", type=float, default=0.05)
    parser.add_argument("--duplicated", type=float, default=0.05)
    parser.add_argument("--failures", type=float, default=0.05)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser.parse_args()


def prepare(db_url: str, sim_url: str) -> dict:
    """Migrate and fill the scratch database; returns the API key, the SKU and each upstream's simulator setup."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=os.environ, check=True)
    import django

    django.setup()
    from catalog.models import Product, Sku, Supplier
    from channels.models import DistributorLevel, PriceEntry
    from channels.services import api_key_issue, distributor_create
    from settlement.services.wallets import wallet_for, wallet_topup_record
    from supply.models import TopupProfile, Upstream, UpstreamProduct

    supplier = Supplier.objects.create(name="bench mobile")
    product = Product.objects.create(supplier=supplier, name="bench mobile credit", category=Product.Category.TOPUP)
    sku = Sku.objects.create(
        product=product, code=SKU_CODE, name="bench ¥50 credit", face_value=Decimal("50.00"), cost_price=Decimal("48.00"),
        valid_days=1, fulfilment=Sku.Fulfilment.TOPUP,
    )  # fmt: skip
    TopupProfile.objects.create(sku=sku, account_kind=TopupProfile.AccountKind.PHONE, on_exhausted=TopupProfile.OnExhausted.REFUND)
    upstreams = []
    for position, (protocol, prefix) in enumerate((("v2", "/v2"), ("gateway", "/gateway")), start=1):
        api_secret, callback_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        upstream = Upstream(
            supplier=Supplier.objects.create(name=f"bench upstream {position} ({protocol})"),
            protocol=protocol, base_url=sim_url + prefix, app_key=f"bench-{position}", timeout_seconds=1,
        )  # fmt: skip
        upstream.secrets_set(api_secret=api_secret, callback_secret=callback_secret)
        upstream.save()
        UpstreamProduct.objects.create(
            upstream=upstream, sku=sku, their_product_id=f"CM50-{position}", face_value=sku.face_value,
            cost=Decimal("47.50") + position / Decimal(10), position=position,
        )  # fmt: skip
        upstreams.append({"app_key": upstream.app_key, "secret": api_secret, "callback_secret": callback_secret,
                          "product_id": f"CM50-{position}", "cost": Decimal("47.50") + position / Decimal(10)})  # fmt: skip
    level = DistributorLevel.objects.create(name="bench level", position=1)
    PriceEntry.objects.create(
        level=level, sku=sku, purchase_price=Decimal("49.00"), suggested_retail=Decimal("49.90"), price_floor=Decimal("49.00")
    )
    distributor = distributor_create(name="bench distributor", level=level)
    wallet_topup_record(wallet=wallet_for(distributor), amount=Decimal("100000000.00"), actor=None, reference="BENCH")
    key, secret = api_key_issue(distributor=distributor, label="bench")
    from django.db import connections

    connections.close_all()
    return {"key_id": key.key_id, "secret": secret, "upstreams": upstreams}


def simulator_setup(simulator, upstreams: list[dict], args) -> None:
    """One account per upstream at the simulator; the first supplier's product carries the faults."""
    from supply.simulator import Faults

    faulty = Faults(
        processing_seconds=0.2,
        timeout_rate=args.timeouts,
        timeout_sleep=1.5,
        failure_rate=args.failures,
        callback_lost_rate=args.lost,
        callback_duplicate_rate=args.duplicated,
    )
    for upstream, faults in zip(upstreams, (faulty, Faults(processing_seconds=0.2)), strict=True):
        simulator.account(upstream["app_key"], secret=upstream["secret"], callback_secret=upstream["callback_secret"],
                          balance=Decimal("100000000.00"))  # fmt: skip
        simulator.product(upstream["product_id"], face_value=Decimal("50.00"), cost=upstream["cost"], faults=faults)


def qcluster_start(q_workers: int) -> subprocess.Popen:
    env = {**os.environ, "Q_WORKERS": str(q_workers), "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def place(port: int, key_id: str, secret: str, orders: int, threads: int) -> tuple[list[str], dict, float]:
    """Place the top-ups from `threads` keep-alive clients; (order numbers placed, refusals by code, seconds)."""
    from voucherhub.core.apisign import signed_headers

    placed: list[str] = []
    refused: dict[str, int] = {}
    lock = threading.Lock()
    numbers = iter(range(orders))

    def run():
        http = common.KeepAliveHttp(port)
        path = "/api/v1/topups/"
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                break
            body = json.dumps({"sku": SKU_CODE, "account": f"138{n:08d}", "customer_ref": f"bench-{n}"}).encode()
            headers = signed_headers(key_id=key_id, secret=secret, method="POST", path=path, body=body)
            headers.update({"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
            status, content = http.request("POST", path, headers, body)
            answer = json.loads(content or b"{}")
            with lock:
                if status == 201:
                    placed.append(answer["number"])
                else:
                    code = answer.get("error", {}).get("code", str(status)) if isinstance(answer, dict) else str(status)
                    refused[code] = refused.get(code, 0) + 1
        http.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return placed, refused, time.perf_counter() - started


def poller(stop: threading.Event) -> None:
    """The scheduler's part: topups_poll every half second (queries of lost callbacks and timeouts, failovers)."""
    from django.db import close_old_connections

    from supply.services.topups import topups_poll

    while not stop.wait(0.5):
        try:
            topups_poll(limit=500)
        except Exception as trouble:  # noqa: BLE001 - the bench keeps polling; the failure is shown
            print(f"poller: {trouble!r}", file=sys.stderr, flush=True)
        finally:
            close_old_connections()


def wait_final(placed: list[str], seconds: float) -> None:
    from supply.models import Topup

    deadline = time.monotonic() + seconds
    last = -1
    while time.monotonic() < deadline:
        final = Topup.objects.filter(reference__in=placed, status__in=Topup.FINAL).count()
        if final != last:
            print(f"  {final}/{len(placed)} final", flush=True)
            last = final
        if final == len(placed):
            return
        time.sleep(2)


def outcomes(placed: list[str], simulator) -> dict:
    """The numbers of the last line, from our database and the simulator's own record of what it topped up."""
    from supply.models import Topup

    topped: dict[str, int] = {}
    met = {"timeouts": 0, "lost": 0, "duplicate": 0, "failed": 0}
    for order in simulator.orders_for():
        met["timeouts"] += order.fate.timeout
        met["failed"] += order.state == "failed"
        if order.fate.callback in met:
            met[order.fate.callback] += 1
        if order.topups:
            reference = order.number.rsplit("-A", 1)[0]
            topped[reference] = topped.get(reference, 0) + order.topups
    topups = list(Topup.objects.filter(reference__in=placed).values("reference", "status", "created_at", "finished_at"))
    final = [t for t in topups if t["status"] in Topup.FINAL]
    disagree = sum(1 for t in final if (t["status"] == Topup.Status.FAILED) != (topped.get(t["reference"], 0) == 0))
    durations = sorted((t["finished_at"] - t["created_at"]).total_seconds() for t in final)
    span = (max(t["finished_at"] for t in final) - min(t["created_at"] for t in topups)).total_seconds() if final else 0
    by_status: dict[str, int] = {}
    for t in topups:
        by_status[t["status"]] = by_status.get(t["status"], 0) + 1
    return {
        "final": len(final),
        "double_topups": sum(1 for count in topped.values() if count > 1),
        "lost": len(placed) - len(final) + disagree,
        "disagree": disagree,
        "p50": statistics.median(durations) if durations else 0.0,
        "p95": statistics.quantiles(durations, n=20)[-1] if len(durations) >= 2 else (durations[0] if durations else 0.0),
        "per_s": len(final) / span if span else 0.0,
        "by_status": by_status,
        "faults_met": met,
    }


def ledger_holds() -> bool:
    from settlement.selectors.ledger import ledger_check

    report = ledger_check()
    if not report.ok:
        print(f"ledger: {report.mismatched[:3]} {report.unbalanced_transfers[:3]} {report.limit_breaches[:3]}", file=sys.stderr)
    return report.ok


def run(args, db_url: str) -> None:
    from supply.simulator import SupplierSimulator

    port = common.free_port()
    cache_url = common.redis_url()
    os.environ.update({**SUPPLY_ENV, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings",
                       "SUPPLY_CALLBACK_BASE_URL": f"http://127.0.0.1:{port}", "ALLOWED_HOSTS": "127.0.0.1,localhost"})  # fmt: skip
    if cache_url:
        os.environ["CACHE_URL"] = cache_url
    os.environ["GUNICORN_CMD_ARGS"] = "--access-logfile=/dev/null"  # gunicorn.conf.py logs every request otherwise
    simulator = SupplierSimulator(port=0, seed=args.seed, callback_workers=8).start()
    setup = prepare(db_url, simulator.url)
    simulator_setup(simulator, setup["upstreams"], args)
    server = common.start_gunicorn(db_url, port, args.workers, args.worker_threads, cache_url, entry="site")
    cluster = qcluster_start(args.q_workers)
    stop = threading.Event()
    polling = threading.Thread(target=poller, args=(stop,), daemon=True)
    polling.start()
    try:
        print(f"gunicorn {args.workers}x{args.worker_threads} on :{port}, {args.q_workers} job workers, simulator {simulator.url}, "
              f"cache {'redis' if cache_url else 'local memory'}, {os.cpu_count()} CPUs", flush=True)  # fmt: skip
        placed, refused, seconds = place(port, setup["key_id"], setup["secret"], args.orders, args.threads)
        print(f"placed {len(placed)} top-ups in {seconds:.1f}s ({len(placed) / seconds:.0f}/s), refused {refused}", flush=True)
        wait_final(placed, args.wait)
        simulator.wait_idle(30)
        result = outcomes(placed, simulator)
        ok = ledger_holds()
        print(f"faults met at the simulator {result['faults_met']}", flush=True)
        print(f"top-ups by status {result['by_status']}; simulator {simulator.summary()}; disagreeing {result['disagree']}; "
              f"median to final {result['p50']:.2f}s; load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        print(
            f"topups={len(placed)} final={result['final']} double_topups={result['double_topups']} lost={result['lost']} "
            f"ledger_ok={int(ok)} p95_final_s={result['p95']:.2f} topups_per_s={result['per_s']:.1f}",
            flush=True,
        )
    finally:
        stop.set()
        polling.join(5)
        for process in (cluster, server):
            common.stop(process)
        simulator.stop()


def main():
    args = parse_args()
    import psycopg

    base = common.server_url()
    name = f"vh_bench_topups_{os.getpid()}"
    admin = psycopg.connect(common.psycopg_url(common.with_db(base, "postgres")), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        run(args, common.with_db(base, name))
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
