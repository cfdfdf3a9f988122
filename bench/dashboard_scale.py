"""The analytics dashboards at ten million orders: rollups against the naive aggregates, and the rollup lag.

    python bench/dashboard_scale.py --orders 10000000 [--redemptions 4000000] [--keep] [--lag-seconds 30]

1. Creates a scratch PostgreSQL database next to DATABASE_URL's (default postgres://postgres@127.0.0.1:5432),
   migrates it and creates the reference rows with the apps' services and the ORM: 40 SKUs, 1000 distributors
   in a tree (10 总代 > 90 省代 > 900 推广员) with wallets and storefronts, 200 merchants x 3 stores, 5
   campaigns, 3 upstreams, and the users the bench logs in as (bench/scale_data.py).
2. Loads the facts with COPY (psycopg 3 `cursor.copy`, rows generated in Python streams from precomputed
   order templates) in sessions with `SET session_replication_role = replica`, so foreign keys and triggers
   are not checked during the load (every id written comes from the reference rows or the stream itself); the
   big tables' secondary indexes are dropped first and built again after the load. N orders over the last 90
   days (all paid; 2.5 % refunded, 1.5 % partly refunded; channels portal / API / storefront / campaign;
   daily growth, busier weekends, lunch and evening peaks), the transfers and entries settlement posts for a
   paid order (sale, cost, commission, refund), the commission accruals, `--redemptions` redeemed card codes
   and their redemptions (1 % reversed), risk decisions and direct top-ups. What is left out is listed in
   bench/scale_data.py. Then VACUUM ANALYZE. Prints the load time and the rows of each kind.
3. Builds the rollups (`analytics.rollups.rollups_rebuild` over the 90 days), prints the build time, and
   ANALYZEs the rollup tables (as autovacuum would soon after).
4. Starts the site under gunicorn (production settings, DEBUG off, the Redis cache when CACHE_URL or
   BENCH_CACHE_URL answers; bench/redeem_throughput.py's helpers) and, for each dashboard with a URL (ops,
   finance, campaigns, a 总代's portal dashboard, a merchant's dashboard), requests it 50 times on a 90-day
   range with a logged-in session cookie over one keep-alive connection: `p95_ms`. Beside it, the naive
   aggregates the same page would need without rollups (SQL over settlement_order, redemption_redemption,
   settlement_commissionaccrual ...), each run 3 times, the minimum kept, summed per dashboard: `naive_ms`.
   Each dashboard's naive statements compute what that page shows (the same charts and KPIs: its series per
   day, rankings, shares, heatmap, commission, payables, expense, visits) straight from the source tables.
   Per dashboard: `speedup` = its naive_ms ÷ its p95_ms (what the rollups save that page).
   The floor is the same server answering /healthz and the login page (p95): a dashboard near it is as fast as
   this stack answers anything. Last line of this part:
       dash_p95_ms_max=… dash_speedup=…   (dash_speedup = the smallest per-dashboard speedup)
   Targets (issue 17): dash_speedup >= 20 and every p95 < 100 ms.
5. Rollup lag: a writer thread inserts paid orders at 500 per second (COPY batches into settlement_order,
   paid_at = status_changed_at = now) for --lag-seconds while another thread runs `rollups_refresh()` in a
   loop. rollup_lag_s = the largest delay between an order's paid_at and the end of the first refresh that
   started after its commit; rollup_rate = orders written ÷ seconds the refreshes ran. After a last refresh the
   orders the rollups count for the day are compared with the source table (`counts_match`). Prints
       rollup_lag_s=… rollup_rate=… counts_match=…

Develop with --orders 200000; the full run (10 M orders, ~85 M ledger entries) needs tens of GB: `df -h /`
first. The scratch database is dropped at the end unless --keep.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redeem_throughput as rt  # noqa: E402
import scale_data  # noqa: E402

PAID = "('paid', 'delivered', 'partially_refunded', 'refunded')"
LOCAL = "AT TIME ZONE 'Asia/Shanghai'"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--redemptions", type=int, default=0, help="default: 40 %% of --orders")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--lag-rate", type=int, default=500, help="orders per second the writer inserts")
    parser.add_argument("--requests", type=int, default=50, help="requests per dashboard")
    parser.add_argument("--name", default="vh_dashscale", help="the scratch database's name")
    parser.add_argument("--load-only", action="store_true", help="load the scratch database and stop (implies --keep; then --measure-only)")
    parser.add_argument(
        "--measure-only", action="store_true", help="time the dashboards again (part 4) on a database kept with --keep --name …"
    )
    parser.add_argument("--rebuild-rollups", action="store_true", help="with --measure-only: rebuild the rollups (part 3) before measuring")
    parser.add_argument("--with-lag", action="store_true", help="with --measure-only: run the rollup lag test (part 5) after")
    return parser.parse_args()


# --- The dashboards and what they would cost without rollups -----------------------------------------------

# (label, URL names to try, query string, the user's role, naive SQL statements [with %(since)s etc.])
DASHBOARDS = [
    (
        "ops",
        ["dashboards:ops-analytics"],
        "ops",
        [
            f"SELECT (paid_at {LOCAL})::date, count(*), sum(total), sum(quantity) FROM settlement_order "
            f"WHERE status IN {PAID} AND paid_at >= %(since)s GROUP BY 1",
            f"SELECT sku_id, sum(total), sum(quantity) FROM settlement_order WHERE status IN {PAID} AND paid_at >= %(since)s "
            "GROUP BY 1 ORDER BY 2 DESC",
            f"SELECT sku_id, sum(quantity) FROM settlement_order WHERE status IN {PAID} AND paid_at >= %(week)s GROUP BY 1",
            f"SELECT channel, promotion_id IS NOT NULL, count(*), sum(total) FROM settlement_order WHERE status IN {PAID} "
            "AND paid_at >= %(since)s GROUP BY 1, 2",
            f"SELECT distributor_id, sum(total) FROM settlement_order WHERE status IN {PAID} AND paid_at >= %(since)s "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            f"SELECT extract(isodow FROM created_at {LOCAL}), extract(hour FROM created_at {LOCAL}), count(*) "
            "FROM redemption_redemption WHERE created_at >= %(since)s AND status = 'completed' GROUP BY 1, 2",
            "SELECT sku_id, count(*) FROM redemption_redemption WHERE created_at >= %(since)s GROUP BY 1",
            f"SELECT (created_at {LOCAL})::date, outcome, count(*) FROM riskcontrol_riskevent WHERE created_at >= %(since)s GROUP BY 1, 2",
            f"SELECT (created_at {LOCAL})::date, count(*) FROM redemption_remindersent WHERE outcome = 'sent' "
            "AND created_at >= %(since)s GROUP BY 1",
        ],
    ),
    (
        "finance",
        ["dashboards:finance-analytics"],
        "ops",
        [
            f"SELECT (paid_at {LOCAL})::date, sum(total), sum(unit_cost * quantity), sum(refunded_amount) "
            f"FROM settlement_order WHERE status IN {PAID} AND paid_at >= %(since)s GROUP BY 1",
            f"SELECT (created_at {LOCAL})::date, sum(amount), sum(frozen_remaining) FROM settlement_commissionaccrual "
            "WHERE created_at >= %(since)s GROUP BY 1",
            "SELECT wallet_id, sum(amount) FROM settlement_commissionaccrual WHERE created_at >= %(since)s "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            f"SELECT (finished_at {LOCAL})::date, upstream_id, sum(cost) FROM supply_topup WHERE finished_at >= %(since)s GROUP BY 1, 2",
            f"SELECT promotion_id, sum(discount_platform) FROM settlement_order WHERE status IN {PAID} AND promotion_id IS NOT NULL "
            "AND paid_at >= %(since)s GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
        ],
    ),
    (
        "campaigns",
        ["dashboards:campaign-analytics"],
        "ops",
        [
            f"SELECT promotion_id, channel, (paid_at {LOCAL})::date, count(*), sum(total), sum(discount_platform) "
            f"FROM settlement_order WHERE status IN {PAID} AND promotion_id IS NOT NULL AND paid_at >= %(since)s GROUP BY 1, 2, 3",
        ],
    ),
    (
        "distributor",
        ["dashboards:portal-analytics"],
        "distributor",
        [
            f"SELECT (o.paid_at {LOCAL})::date, o.distributor_id = %(top)s, o.channel, o.promotion_id IS NOT NULL, count(*), "
            "sum(o.total) FROM settlement_order o JOIN channels_distributor d ON d.id = o.distributor_id "
            f"WHERE d.path LIKE %(path)s AND o.status IN {PAID} AND o.paid_at >= %(since)s GROUP BY 1, 2, 3, 4",
            f"SELECT o.distributor_id, sum(o.total) FROM settlement_order o JOIN channels_distributor d ON d.id = o.distributor_id "
            f"WHERE d.path LIKE %(path)s AND o.status IN {PAID} AND o.paid_at >= %(since)s GROUP BY 1 ORDER BY 2 DESC LIMIT 20",
            f"SELECT o.sku_id, sum(o.total) FROM settlement_order o JOIN channels_distributor d ON d.id = o.distributor_id "
            f"WHERE d.path LIKE %(path)s AND o.status IN {PAID} AND o.paid_at >= %(since)s GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
            f"SELECT (a.created_at {LOCAL})::date, a.depth, sum(a.amount) FROM settlement_commissionaccrual a "
            "WHERE a.wallet_id = %(wallet)s AND a.created_at >= %(since)s GROUP BY 1, 2",
            "SELECT day, count(*) FROM analytics_storefrontvisit WHERE day >= %(since_day)s AND storefront_id IN "
            "(SELECT id FROM channels_storefront WHERE distributor_id = %(top)s) GROUP BY 1",
        ],
    ),
    (
        "merchant",
        ["dashboards:merchant-analytics"],
        "merchant",
        [
            f"SELECT (created_at {LOCAL})::date, store_id, count(*), sum(amount_owed) FROM redemption_redemption "
            "WHERE merchant_id = %(merchant)s AND created_at >= %(since)s AND status = 'completed' GROUP BY 1, 2",
            f"SELECT extract(isodow FROM created_at {LOCAL}), extract(hour FROM created_at {LOCAL}), count(*) "
            "FROM redemption_redemption WHERE merchant_id = %(merchant)s AND created_at >= %(since)s GROUP BY 1, 2",
        ],
    ),
]


def dashboard_paths(query: str) -> list[tuple[str, str | None, str]]:
    """(label, path or None when no URL name resolves yet, role) of each dashboard."""
    from django.urls import NoReverseMatch, reverse

    found = []
    for label, names, role, _sql in DASHBOARDS:
        path = None
        for name in names:
            try:
                path = reverse(name) + query
                break
            except NoReverseMatch:
                continue
        found.append((label, path, role))
    return found


def naive_times(dsn: str, params: dict) -> dict[str, float]:
    """Per dashboard: the sum over its naive statements of each one's best of 3 runs (ms)."""
    import psycopg

    result = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for label, _names, _role, statements in DASHBOARDS:
            total = 0.0
            for sql in statements:
                best = float("inf")
                for _ in range(3):
                    clock = time.perf_counter()
                    conn.execute(sql, params).fetchall()
                    best = min(best, (time.perf_counter() - clock) * 1000)
                total += best
            result[label] = total
    return result


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def measure(port: int, path: str, cookie: str, count: int) -> tuple[float, float, int]:
    """(p95 ms, median ms, last status) of `count` GETs of `path` on one keep-alive connection (2 warm-ups)."""
    http = rt.KeepAliveHttp(port, timeout=60)
    headers = {"Cookie": cookie, "Accept-Language": "zh-hans"} if cookie else {"Accept-Language": "zh-hans"}
    samples, status = [], 0
    try:
        for index in range(count + 2):
            clock = time.perf_counter()
            status, _body = http.request("GET", path, headers)
            if index >= 2:
                samples.append((time.perf_counter() - clock) * 1000)
    finally:
        http.close()
    return p95(samples), statistics.median(samples), status


def session_cookies(ref) -> dict[str, str]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    cookies = {}
    for role, username in ref.users.items():
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        cookies[role] = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return cookies


def dashboards_part(db_url: str, dsn: str, ref, requests: int) -> None:
    from django.utils import timezone

    from channels.models import Distributor

    today = timezone.localdate()
    since_day = today - timedelta(days=89)
    query = f"?start={since_day.isoformat()}&end={today.isoformat()}"
    top = Distributor.objects.get(pk=ref.top_distributor)
    params = {
        "since": scale_data.datetime.combine(since_day, scale_data.datetime.min.time(), tzinfo=timezone.get_current_timezone()),
        "top": top.pk,
        "path": top.path + "%",
        "wallet": ref.wallets[top.pk],
        "merchant": ref.merchant,
        "since_day": since_day,
        "week": scale_data.datetime.combine(
            today - timedelta(days=6), scale_data.datetime.min.time(), tzinfo=timezone.get_current_timezone()
        ),
    }
    naive = naive_times(dsn, params)
    cookies = session_cookies(ref)
    port = rt.free_port()
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["GUNICORN_CMD_ARGS"] = "--access-logfile /dev/null"
    server = rt.start_gunicorn(db_url, port, 2, 4, rt.redis_url(), entry="site")
    try:
        floor = {path: measure(port, path, "", requests) for path in ("/healthz", "/accounts/login/")}
        for path, (p95_ms, median_ms, status) in floor.items():
            print(f"floor {path}: p95_ms={p95_ms:.1f} median_ms={median_ms:.1f} status={status}")
        floor_p95 = max(value[0] for value in floor.values())
        measured = []
        for label, path, role in dashboard_paths(query):
            if path is None:
                print(f"{label}: no URL yet (not merged); naive_ms={naive[label]:.1f}")
                continue
            p95_ms, median_ms, status = measure(port, path, cookies.get(role, ""), requests)
            near = "  (near the floor)" if p95_ms < 2 * floor_p95 else ""
            speedup = naive[label] / p95_ms if p95_ms else float("nan")
            print(
                f"{label}: {path} status={status} p95_ms={p95_ms:.1f} median_ms={median_ms:.1f} naive_ms={naive[label]:.1f} "
                f"speedup={speedup:.1f}{near}"
            )
            if status == 200:
                measured.append((p95_ms, speedup))
    finally:
        rt.stop(server)
    if measured:
        worst = max(p95_ms for p95_ms, _speedup in measured)
        print(f"dash_p95_ms_max={worst:.1f} dash_speedup={min(speedup for _p95, speedup in measured):.1f}")
    else:
        print("dash_p95_ms_max=n/a dash_speedup=n/a  (no dashboard answered 200)")


# --- Rollup lag --------------------------------------------------------------------------------------------


def lag_part(dsn: str, ref, seconds: float, rate: int) -> None:
    """A writer at `rate` paid orders per second against the incremental job in a loop."""
    from django.db import connection
    from django.utils import timezone

    from analytics.rollups import rollups_refresh

    rollups_refresh()  # the watermarks start now, not at the load
    stop = threading.Event()
    batches: list[tuple[float, float, int]] = []  # (commit time, first paid_at as epoch, rows)
    runs: list[tuple[float, float]] = []
    lag_start = timezone.now()
    writer = threading.Thread(target=_writer, args=(dsn, ref, rate, stop, batches), daemon=True)

    def refresher():
        try:
            while not stop.is_set():
                started = time.time()
                rollups_refresh()
                runs.append((started, time.time()))
                stop.wait(0.1)  # the job's pause between two runs
        finally:
            connection.close()

    refresh = threading.Thread(target=refresher, daemon=True)
    writer.start()
    refresh.start()
    time.sleep(seconds)
    stop.set()
    writer.join()
    refresh.join()
    started = time.time()
    rollups_refresh()
    runs.append((started, time.time()))
    lags = []
    for committed, paid, _rows in batches:
        first = next((end for start, end in runs if start >= committed), None)
        lags.append((first - paid) if first else float("inf"))
    written = sum(rows for _c, _p, rows in batches)
    busy = sum(end - start for start, end in runs[:-1]) or 1e-9
    match = _counts_match(lag_start)
    print(f"lag: {written} orders in {len(batches)} batches, {len(runs)} refreshes ({busy:.1f} s refreshing)")
    print(f"rollup_lag_s={max(lags) if lags else float('nan'):.2f} rollup_rate={written / busy:.0f} counts_match={match}")


def _writer(dsn: str, ref, rate: int, stop: threading.Event, batches: list) -> None:
    import psycopg

    rng = random.Random(500)
    templates = scale_data.templates_make(ref, rng, 512)
    columns = (
        "number, channel, chain, campaign, referrer, customer_ref, quantity, currency, unit_price, total, purchase_unit_price, "
        "unit_cost, refunded_amount, refunded_quantity, pay_method, status, hold, risk_outcome, risk_reasons, contact, "
        "contact_key, lookup_password, created_at, paid_at, delivered_at, status_changed_at, distributor_id, sku_id, "
        "storefront_id, topup_account, topup_region, basket, discount, discount_distributor, discount_platform, list_total, promotion_id"
    )
    per_batch, serial = max(1, rate // 10), 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        next_at = time.time()
        while not stop.is_set():
            now = time.time()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}+00"
            rows = []
            for _ in range(per_batch):
                tpl = templates[serial % len(templates)]
                rows.append(
                    f"L{os.getpid()}-{serial}\t{tpl.head}0.00\t0\t{tpl.pay_method}\tdelivered\t\tallow\t[]\t\t\t\t"
                    f"{stamp}\t{stamp}\t{stamp}\t{stamp}\t{tpl.tail}\n"
                )
                serial += 1
            with conn.cursor().copy(f"COPY settlement_order ({columns}) FROM STDIN") as copy:
                copy.write("".join(rows))
            batches.append((time.time(), now, len(rows)))
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.time()))


def _counts_match(since) -> str:
    """Orders paid since the lag test's start hour: the source table against SalesHour."""
    from django.db.models import Sum

    from analytics.models import SalesHour
    from settlement.models import Order

    hour = since.replace(minute=0, second=0, microsecond=0)
    paid = Order.objects.filter(paid_at__gte=hour, status__in=["paid", "delivered", "partially_refunded", "refunded"]).count()
    rolled = SalesHour.objects.filter(hour__gte=hour).aggregate(n=Sum("orders"))["n"] or 0
    return f"{'yes' if paid == rolled else 'NO'}(source={paid},rollup={rolled})"


# --- Main --------------------------------------------------------------------------------------------------


def prepare(db_url: str):
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({"DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"})
    cache = rt.redis_url()
    if cache:
        os.environ["CACHE_URL"] = cache
    import django

    django.setup()


def rollups_part() -> None:
    from django.utils import timezone

    from analytics.rollups import all_rollups, rollups_rebuild

    names = [rollup.name for rollup in all_rollups()]
    clock = time.monotonic()
    days = rollups_rebuild(timezone.localdate() - timedelta(days=90))
    print(f"rollups: {names or 'none registered yet (wt-rsales / wt-rredeem not merged)'}; days {days}")
    print(f"rollup_build_s={time.monotonic() - clock:.1f}")
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum does soon after a bulk write: the planner's statistics
        for table in connection.introspection.table_names(cursor):
            if table.startswith("analytics_"):
                cursor.execute(f'ANALYZE "{table}"')
    connection.close()


def kept_reference():
    """The few reference ids the measurements need, read back from a kept database."""
    from channels.models import DistributorStaff
    from redemption.models import MerchantClerk
    from settlement.models import Wallet

    ref = scale_data.Reference(users={"ops": "bench-ops", "distributor": "bench-top", "merchant": "bench-merchant"})
    ref.top_distributor = DistributorStaff.objects.get(user__username="bench-top").distributor_id
    ref.merchant = MerchantClerk.objects.get(user__username="bench-merchant").merchant_id
    ref.wallets = dict(Wallet.objects.values_list("distributor_id", "pk"))
    return ref


def kept_reference_full():
    """kept_reference() and what the lag test's writer needs (scale_data.templates_make): SKUs, distributors,
    their accounts, the platform accounts and the campaigns, read back from a kept database."""
    from decimal import Decimal

    from catalog.models import Sku
    from channels.models import Distributor, Storefront
    from marketing.models import Campaign
    from settlement.models import Account

    ref = kept_reference()
    share = {"总代": Decimal("0.55"), "省代": Decimal("0.70"), "推广员": Decimal("0.82")}  # as scale_data._skus_and_levels
    for sku in Sku.objects.filter(code__startswith="BENCH-").order_by("pk"):
        purchase = {name: scale_data.cents(sku.cost_price + (sku.face_value - sku.cost_price) * s) for name, s in share.items()}
        topup = sku.fulfilment == Sku.Fulfilment.TOPUP
        ref.skus.append((sku.pk, scale_data.cents(sku.face_value), scale_data.cents(sku.cost_price), purchase, topup))
    storefronts = dict(Storefront.objects.values_list("distributor_id", "pk"))
    wallet_of = {wallet: dist for dist, wallet in ref.wallets.items()}
    for wallet_id, kind, pk in Account.objects.filter(wallet__isnull=False).values_list("wallet_id", "kind", "pk"):
        if wallet_id in wallet_of:
            ref.wallet_accounts.setdefault(wallet_of[wallet_id], {})[kind] = pk
    for kind, pk in Account.objects.filter(wallet__isnull=True).values_list("kind", "pk"):
        ref.platform.setdefault(kind, pk)
    for pk, level, path in Distributor.objects.order_by("pk").values_list("pk", "level__name", "path"):
        uplines = [int(p) for p in path.strip("/").split("/") if p][:-1][::-1]
        ref.distributors.append((pk, level, uplines, storefronts.get(pk)))
    for pk, funding in Campaign.objects.filter(name__startswith="bench campaign").order_by("pk").values_list("pk", "funding"):
        ref.campaigns.append((pk, funding == Campaign.Funding.PLATFORM))
    return ref


def measure_only(args) -> None:
    db_url = rt.with_db(rt.server_url(), args.name)
    prepare(db_url)
    ref = kept_reference_full() if args.with_lag else kept_reference()
    if args.rebuild_rollups:
        rollups_part()
    dashboards_part(db_url, rt.psycopg_url(db_url), ref, args.requests)
    if args.with_lag and args.lag_seconds > 0:
        lag_part(rt.psycopg_url(db_url), ref, args.lag_seconds, args.lag_rate)


def main():
    args = parse_args()
    if args.load_only:
        args.keep = True
    rt.end_on_signals()
    if args.measure_only:
        return measure_only(args)
    import psycopg

    base = rt.server_url()
    admin = psycopg.connect(rt.psycopg_url(rt.with_db(base, "postgres")), autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{args.name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{args.name}"')
    db_url = rt.with_db(base, args.name)
    dsn = rt.psycopg_url(db_url)
    try:
        clock = time.monotonic()
        prepare(db_url)
        ref = scale_data.reference_create(random.Random(17))
        print(f"reference rows: {time.monotonic() - clock:.1f} s (migrate included)")
        from django.db import connections

        connections.close_all()
        clock = time.monotonic()
        loaded = scale_data.load(dsn, ref, args.orders, args.redemptions or args.orders * 2 // 5)
        print(
            "loaded: " + " ".join(f"{key}={value:.1f}" if isinstance(value, float) else f"{key}={value}" for key, value in loaded.items())
        )
        size = admin.execute("SELECT pg_size_pretty(pg_database_size(%s))", [args.name]).fetchone()[0]
        print(f"load_s={time.monotonic() - clock:.1f} database_size={size}")
        if args.load_only:
            return
        rollups_part()
        dashboards_part(db_url, dsn, ref, args.requests)
        if args.lag_seconds > 0:
            lag_part(dsn, ref, args.lag_seconds, args.lag_rate)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin.execute(f'DROP DATABASE IF EXISTS "{args.name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
