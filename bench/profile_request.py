"""Where one signed API request spends its time: cProfile over N orders or redemptions, in process.

    python bench/profile_request.py order  [--requests 300] [--sort cumulative] [--limit 40]
    python bench/profile_request.py redeem [--requests 300] [--own] [--callers PATTERN]

Fills a scratch database (next to DATABASE_URL's) as bench/order_throughput.py or bench/redeem_throughput.py
does, then sends signed requests through Django's test client under the API entry's settings
(voucherhub/settings/api_only.py: its URLconf and middleware; DEBUG off; the cache of CACHE_URL) and prints the
profile of the timed requests (after a warm-up). The test client adds a little of its own; the figures are
for finding where the time goes, the benches measure it (the statements one request runs are listed by the
budget tests: tests/settlement/test_order_queries.py, tests/redemption/test_redeem_rows.py).
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.update({"DEBUG": "false", "LOG_LEVEL": "WARNING", "CONN_MAX_AGE": "600", "ALLOWED_HOSTS": "testserver,127.0.0.1"})

import redeem_throughput as common  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["order", "redeem"])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--limit", type=int, default=45)
    parser.add_argument("--callers", default="", help="also print who calls the functions matching this pattern")
    parser.add_argument("--own", action="store_true", help="also list the project's own functions by cumulative time")
    args = parser.parse_args()
    import psycopg

    base = common.server_url()
    name = f"vh_bench_profile_{os.getpid()}"
    admin = psycopg.connect(common.psycopg_url(common.with_db(base, "postgres")), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return run(args, common.with_db(base, name))
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run(args, db_url: str) -> int:
    warm = 20
    if args.kind == "order":
        import order_throughput

        key_id, secret, sku, _raw, _floor = order_throughput.prepare(db_url, args.requests + warm + 10, 1, 10, 10)
        path, bodies = "/api/v1/orders/", [{"sku": sku, "quantity": 1}] * (args.requests + warm + 1)
    else:
        terminals, plaintexts, _raw = common.prepare(db_url, 1, args.requests + warm + 10)
        (key_id, secret), path = terminals[0], "/api/v1/redemptions/"
        bodies = [{"code": code} for code in plaintexts]
    from django.test import Client
    from django.test.utils import override_settings

    from voucherhub.core.apisign import signed_headers
    from voucherhub.settings import api_only

    def send(client, body):
        raw = json.dumps(body).encode()
        headers = signed_headers(key_id=key_id, secret=secret, method="POST", path=path, body=raw)
        headers["Idempotency-Key"] = uuid.uuid4().hex
        response = client.post(path, raw, content_type="application/json", headers=headers)
        assert response.status_code == 201, response.content

    with override_settings(ROOT_URLCONF=api_only.ROOT_URLCONF, MIDDLEWARE=api_only.MIDDLEWARE):
        client = Client()
        bodies = iter(bodies)
        for _ in range(warm):
            send(client, next(bodies))
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            send(client, next(bodies))
        profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats(args.sort).print_stats(args.limit)
    if args.callers:
        stats.print_callers(args.callers)
    if args.own:
        stats.sort_stats("cumulative").print_stats(str(ROOT) + r"/(?!\.venv)", 80)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
