"""50 parallel purchases against a limit of 10 let exactly 10 through (PostgreSQL + Redis in CI)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from riskcontrol.models import Dimension, Outcome, RiskEvent, RiskRule
from riskcontrol.services import risk_evaluate, risk_release
from tests import factories
from tests.riskcontrol.conftest import make_rule, purchase

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _burst(n: int, ctx_for) -> list:
    barrier = threading.Barrier(n)

    def one(i):
        try:
            barrier.wait(timeout=30)
            return risk_evaluate(ctx=ctx_for(i))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_fifty_parallel_requests_against_a_limit_of_ten():
    # given a per-account limit of 10 items of one SKU per hour
    sku = factories.SkuFactory()
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.ACCOUNT, sku=sku, window_seconds=3600, limit=10)
    # when 50 requests of that account arrive at once
    decisions = _burst(50, lambda i: purchase(account_id="scalper", sku_id=sku.pk, reference=f"ORD-{i}"))
    # then exactly 10 are allowed and 40 blocked, and every one is recorded
    outcomes = [d.outcome for d in decisions]
    assert outcomes.count(Outcome.ALLOW) == 10
    assert outcomes.count(Outcome.BLOCK) == 40
    assert RiskEvent.objects.filter(account_id="scalper", outcome=Outcome.ALLOW).count() == 10
    # and the blocked ones did not use the allowance: releasing one allowed purchase lets exactly one more in
    allowed = next(d for d in decisions if d.allowed)
    assert risk_release(decision=allowed)
    again = _burst(10, lambda i: purchase(account_id="scalper", sku_id=sku.pk, reference=f"RETRY-{i}"))
    assert [d.outcome for d in again].count(Outcome.ALLOW) == 1


def test_parallel_velocity_by_amount_never_overshoots():
    from decimal import Decimal

    make_rule(
        kind=RiskRule.Kind.VELOCITY,
        dimension=Dimension.DISTRIBUTOR,
        window_seconds=3600,
        measure=RiskRule.Measure.AMOUNT,
        amount_threshold=Decimal("1000.00"),
    )
    decisions = _burst(30, lambda i: purchase(distributor_id=77, amount=Decimal("100.00"), reference=f"D-{i}"))
    assert [d.outcome for d in decisions].count(Outcome.ALLOW) == 10


def test_parallel_requests_right_after_a_redis_flush_count_the_history_once(own_redis):
    # given a 3-per-hour velocity rule and 2 purchases recorded
    make_rule(kind=RiskRule.Kind.VELOCITY, dimension=Dimension.ACCOUNT, window_seconds=3600, limit=3, measure=RiskRule.Measure.ORDERS)
    assert all(risk_evaluate(ctx=purchase(account_id="refill", reference=f"OLD-{i}")).allowed for i in range(2))
    # when Redis loses everything and 20 requests arrive at once, each finding the counts missing
    own_redis.flush()
    decisions = _burst(20, lambda i: purchase(account_id="refill", reference=f"NEW-{i}"))
    # then the history is counted once: exactly one more is allowed
    assert [d.outcome for d in decisions].count(Outcome.ALLOW) == 1
