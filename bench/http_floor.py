"""The ceiling of any Python/gunicorn redeem endpoint on this machine, against the same raw baseline.

    python bench/http_floor.py [--threads 4] [--seconds 10] [--workers 2] [--worker-threads 4] [--worker-class gthread]
    python bench/http_floor.py --asgi    # the same floor as ASGI under uvicorn's worker (needs uvicorn[standard])

redeem_throughput.py compares the signed API with raw single-row UPDATEs. This measures what the API could
reach if a redemption did nothing but one such UPDATE behind gunicorn: bench/floor_app.py, a WSGI app with
no Django, no signature, no idempotency, no risk control and no second row. Same client (keep-alive, one
write per request, headers the size of a signed request), same gunicorn settings, same raw phase; the
two alternate in rounds. No implementation of the redeem endpoint on this stack can beat floor_ratio.
Last line: floor_ratio=<floor/raw> floor_per_s=<n> raw_updates_per_s=<n>
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import redeem_throughput as common  # noqa: E402  (scratch database, keep-alive client, raw phase, CPU counters)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class for the WSGI floor (gthread, gevent ...)")
    parser.add_argument(
        "--asgi",
        action="store_true",
        help="serve bench/floor_asgi.py with uvicorn's gunicorn worker instead (pip install 'uvicorn[standard]' first)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    import psycopg

    if args.asgi:
        try:
            import uvicorn  # noqa: F401
        except ImportError:
            raise SystemExit("--asgi needs uvicorn: pip install 'uvicorn[standard]' (not one of the project's requirements)") from None

    base = common.server_url()
    name = f"vh_bench_floor_{os.getpid()}"
    admin = psycopg.connect(common.psycopg_url(common.with_db(base, "postgres")), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    db_url = common.psycopg_url(common.with_db(base, name))
    server = None
    try:
        # The redeem benchmark's scratch database: migrated, with sold codes in catalog_cardcode (its indexes
        # and all). Both phases update rows of that table, as redeem_throughput.py's raw phase does.
        _terminals, _plaintexts, ids = common.prepare(common.with_db(base, name), args.threads, int(2500 * args.seconds) + 2000)
        rows = len(ids)
        floor_ids, raw_ids = ids[: rows // 2], ids[rows // 2 :]
        port = common.free_port()
        app, worker_class = ("floor_app:application", args.worker_class)
        if args.asgi:
            app, worker_class = "floor_asgi:application", "uvicorn.workers.UvicornWorker"
        server = common.start_floor(common.with_db(base, name), port, args.workers, args.worker_threads, worker_class, app=app)
        floor_slices = [iter(floor_ids[i :: args.threads]) for i in range(args.threads)]
        raw_slices = [iter(raw_ids[i :: args.threads]) for i in range(args.threads)]
        conns = [psycopg.connect(db_url, autocommit=True) for _ in range(args.threads)]
        common.floor_phase(port, [[next(it) for _ in range(50)] for it in floor_slices], 30, warn=False)  # warm-up
        floor_n = raw_n = 0
        floor_s = raw_s = server_cpu = 0.0
        for _round in range(args.rounds):
            before = common.cpu_seconds(server.pid)
            n, s = common.floor_phase(port, floor_slices, args.seconds / args.rounds)
            server_cpu += common.cpu_seconds(server.pid) - before
            floor_n, floor_s = floor_n + n, floor_s + s
            n, s = common.raw_phase(conns, raw_slices, args.seconds / args.rounds)
            raw_n, raw_s = raw_n + n, raw_s + s
        for conn in conns:
            conn.close()
        floor_rate, raw_rate = floor_n / floor_s, raw_n / raw_s
        print(f"floor: {floor_n} requests in {floor_s:.1f}s, gunicorn CPU {1000 * server_cpu / max(floor_n, 1):.2f} ms per request")
        print(f"raw: {raw_n} updates in {raw_s:.1f}s; load average {os.getloadavg()[0]:.2f}")
        print(f"floor_ratio={floor_rate / raw_rate:.3f} floor_per_s={floor_rate:.0f} raw_updates_per_s={raw_rate:.0f}")
    finally:
        if server is not None:
            common.stop(server)
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
