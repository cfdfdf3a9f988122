"""Where one request of each analytics dashboard spends its time, on a database kept by bench/dashboard_scale.py.

    python bench/profile_dashboard.py --name vh_dashscale [--requests 5] [--only ops] [--limit 25]

Django's test client in process (DEBUG off, the cache of CACHE_URL), logged in as the users the bench made; per
dashboard: the mean time of a request, its SQL statements and their time (a connection execute wrapper), and
the cProfile of the timed requests sorted by cumulative time (the slowest statements printed too).
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.update({"DEBUG": "false", "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "testserver,127.0.0.1"})

import dashboard_scale as bench  # noqa: E402
import redeem_throughput as rt  # noqa: E402


class Statements:
    """Every SQL statement a request runs, with its time."""

    def __init__(self):
        self.seen: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        clock = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seen.append(((time.perf_counter() - clock) * 1000, sql))


def profile(client, path: str, requests: int, limit: int) -> None:
    from django.db import connection

    client.get(path)  # warm-up: the cache, the templates, the connection
    statements = Statements()
    profiler = cProfile.Profile()
    clock = time.perf_counter()
    with connection.execute_wrapper(statements):
        profiler.enable()
        for _ in range(requests):
            status = client.get(path).status_code
        profiler.disable()
    mean = (time.perf_counter() - clock) * 1000 / requests
    sql_ms = sum(ms for ms, _sql in statements.seen) / requests
    print(f"\n== {path} status={status} mean_ms={mean:.1f} sql_ms={sql_ms:.1f} statements={len(statements.seen) // requests}")
    for ms, sql in sorted(statements.seen, reverse=True)[:5]:
        print(f"   {ms:7.1f} ms  {sql[:220]}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(limit)
    print(out.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="vh_dashscale")
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--limit", type=int, default=25)
    args = parser.parse_args()
    bench.prepare(rt.with_db(rt.server_url(), args.name))
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    today = timezone.localdate()
    query = f"?start={(today - timedelta(days=89)).isoformat()}&end={today.isoformat()}"
    users = bench.kept_reference().users
    for label, path, role in bench.dashboard_paths(query):
        if path is None or (args.only and label != args.only):
            continue
        client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        client.force_login(get_user_model().objects.get(username=users[role]))
        profile(client, path, args.requests, args.limit)


if __name__ == "__main__":
    main()
