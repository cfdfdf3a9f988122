"""How much risk control adds to a purchase: risk_evaluate() with the 21-rule starting set (storefront purchases).

    python bench/risk_overhead.py [--count 5000] [--mix shop|stress]

Runs in a throw-away test database (test_<your database>, created and dropped here) against the
configured cache (Redis when CACHE_URL says so) under its own key prefix, deleted at the end, so
it never touches your data. Each evaluation
is what a purchase pays, timed end to end in this process: the rule snapshot, the lists, the window
counters (one Redis round trip, refusals included), and recording the RiskEvent: one INSERT for every
outcome (outside a transaction, as here, it commits without waiting for the disk; see riskcontrol/eventlog.py).
Prints `risk_eval_us_p50=<n> risk_eval_us_p99=<n>` (microseconds). On stderr: per-outcome
percentiles, this thread's CPU time per evaluation, how many evaluations waited more than 1 ms for
a CPU (the machine's other load; Linux's schedstat), and the garbage collector's pauses.
"""

import argparse
import gc
import os
import random
import statistics
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voucherhub.settings")


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _schedstat():
    """A reader of this thread's time spent waiting for a CPU (ns), or None off Linux."""
    path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
    if not os.path.exists(path):
        return None
    handle = open(path)  # noqa: SIM115 - kept open for the whole run, read thousands of times

    def read() -> int:
        handle.seek(0)
        return int(handle.read().split()[1])

    return read


def _gc_timer(pauses: list):
    started = [0.0]

    def callback(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], (time.perf_counter() - started[0]) * 1_000_000))

    return callback


def _cache_keys_drop() -> None:
    """Delete this run's cache keys (its own prefix: ~200,000 counters), so runs do not pile up in Redis."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return
    client = backend._cache.get_client(None, write=True)
    batch = []
    for key in client.scan_iter(match=f"{backend.key_prefix}:*", count=5000):
        batch.append(key)
        if len(batch) == 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="evaluations to time (after 300 warm-up ones)")
    parser.add_argument(
        "--mix",
        choices=["shop", "stress"],
        default="shop",
        help="shop: a shop's traffic, about 1-2 %% held or refused; stress: the rules fire on most requests (~60 %% are "
        "challenged, held or blocked, each written at once)",
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import get_runner, setup_test_environment

    settings.CACHES["default"]["KEY_PREFIX"] = f"riskbench-{os.getpid()}"
    setup_test_environment()
    runner = get_runner(settings)(verbosity=0, interactive=False)
    old_config = runner.setup_databases()
    try:
        from django.utils import timezone

        from catalog.models import Product, Sku, Supplier
        from riskcontrol.decision import RiskContext
        from riskcontrol.models import RiskEvent, RiskRule
        from riskcontrol.ruleset import ruleset_install
        from riskcontrol.services import risk_evaluate

        ruleset_install()
        from riskcontrol import engine

        engine.rules_changed()
        supplier = Supplier.objects.create(name="bench")
        product = Product.objects.create(supplier=supplier, name="bench")
        skus = [
            Sku.objects.create(
                product=product, code=f"BENCH-{i}", name=f"bench {i}", face_value=Decimal("30"), cost_price=Decimal("20"), valid_days=30
            ).pk
            for i in range(5)
        ]
        rules = RiskRule.objects.filter(active=True).count()
        rng = random.Random(7)
        now = timezone.now()
        # A crowd of shoppers; a few heavy ones hit the limits, some come from listed sources.
        shoppers = [
            {
                "ip": f"39.{rng.randint(1, 250)}.{rng.randint(1, 250)}.{rng.randint(1, 250)}",
                "device": f"dev-{n:05d}",
                "account_id": f"c{n}",
                "phone": f"138{n:08d}",
                "email": f"user{n}@example.com",
                "account_created_at": now - timedelta(days=rng.choice([0, 3, 30, 400])),
            }
            for n in range(2000)
        ]
        listed = [{"ip": "203.0.113.9"}, {"device": "emu-bluestacks-5"}, {"email": "x@mailinator.com"}, {"ip": "10.8.1.2"}]

        def stress_context(i):
            who = dict(rng.choice(shoppers[:50]) if i % 5 == 0 else rng.choice(shoppers))
            if i % 50 == 0:
                who.update(rng.choice(listed))
            return RiskContext(
                action="purchase",
                sku_id=rng.choice(skus),
                quantity=rng.choice([1, 1, 1, 2, 5]),
                amount=Decimal(rng.choice(["19.90", "30.00", "88.00", "600.00", "6000.00"])),
                distributor_id=rng.randint(1, 20),
                storefront_id=rng.randint(1, 60),
                channel="storefront",
                reference=f"BENCH-{i}",
                **who,
            )

        def shop_context(i):
            # Most shoppers buy one or two cheap codes; one request in 100 comes from a heavy buyer, one in 300
            # from a listed source; a few are new accounts, a few buy expensive ones. The time is compressed
            # (5,000 purchases in seconds), so they spread over 500 distributors and 2,000 storefronts.
            who = dict(rng.choice(shoppers[:20]) if i % 100 == 0 else rng.choice(shoppers))
            if i % 300 == 0:
                who.update(rng.choice(listed))
            if rng.random() < 0.97:
                who["account_created_at"] = now - timedelta(days=rng.choice([30, 400]))
            return RiskContext(
                action="purchase",
                sku_id=rng.choice(skus),
                quantity=rng.choice([1, 1, 1, 1, 2, 3]),
                amount=Decimal(rng.choices(["19.90", "30.00", "88.00", "600.00", "6000.00"], weights=[40, 30, 20, 9.7, 0.3])[0]),
                distributor_id=rng.randint(1, 500),
                storefront_id=rng.randint(1, 2000),
                channel="storefront",
                reference=f"BENCH-{i}",
                **who,
            )

        context = shop_context if args.mix == "shop" else stress_context
        contexts = [context(i) for i in range(args.count + 300)]
        for ctx in contexts[:300]:
            risk_evaluate(ctx=ctx)
        timings, cpu_times = [], []
        by_outcome: dict[str, list[float]] = {}
        waited = 0  # evaluations that spent more than 1 ms runnable but without a CPU
        schedstat = _schedstat()
        pauses: list[tuple[int, float]] = []
        gc.callbacks.append(_gc_timer(pauses))
        for ctx in contexts[300:]:
            queued_before = schedstat() if schedstat else 0
            cpu_before = time.thread_time()
            started = time.perf_counter()
            decision = risk_evaluate(ctx=ctx)
            elapsed = (time.perf_counter() - started) * 1_000_000
            cpu_times.append((time.thread_time() - cpu_before) * 1_000_000)
            if schedstat and schedstat() - queued_before > 1_000_000:
                waited += 1
            timings.append(elapsed)
            by_outcome.setdefault(str(decision.outcome), []).append(elapsed)
        gc.callbacks.clear()
        from django.core.cache import caches

        recorded = RiskEvent.objects.count()
        print(
            f"# mix {args.mix}: {len(timings)} evaluations, {rules} active rules, database {connection.vendor}, "
            f"cache {caches['default'].__class__.__name__}, "
            f"events recorded {recorded} of {len(contexts)}, load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}",
            file=sys.stderr,
        )
        for outcome, values in sorted(by_outcome.items()):
            p50, p99 = _percentiles(values)
            print(f"#   {outcome:9} n={len(values):5} p50={p50:.0f} us p99={p99:.0f} us", file=sys.stderr)
        cpu_p50, cpu_p99 = _percentiles(cpu_times)
        print(
            f"# cpu of this thread per evaluation p50={cpu_p50:.0f} us p99={cpu_p99:.0f} us; "
            f"waited > 1 ms for a CPU: {waited if schedstat else 'unknown'}; "
            + "gc pauses: "
            + ", ".join(
                f"gen{gen} n={sum(1 for g, _ in pauses if g == gen)} max={max([d for g, d in pauses if g == gen], default=0):.0f} us"
                for gen in (0, 1, 2)
            ),
            file=sys.stderr,
        )
        p50, p99 = _percentiles(timings)
        print(f"risk_eval_us_p50={p50:.0f} risk_eval_us_p99={p99:.0f}")
    finally:
        runner.teardown_databases(old_config)
        _cache_keys_drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
