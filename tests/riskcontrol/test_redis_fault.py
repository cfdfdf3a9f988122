"""Lockouts and limits that protect codes survive a Redis restart or flush (issue 12).

Each test runs the cache on a Redis server of its own (tests/conftest.py `own_redis`) and injects the fault
there: a FLUSHALL, or a restart without persistence. PostgreSQL holds the failures and the lockouts.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog import services as catalog_services
from catalog.services import codes_generate
from riskcontrol import counters, protection
from riskcontrol.errors import LockedOut, RevealLimitExceeded
from riskcontrol.models import Dimension, Outcome, RiskRule
from riskcontrol.services import failure_record, lockout_check, risk_evaluate, risk_release, second_factor_verify
from tests import factories
from tests.factories import PASSWORD
from tests.riskcontrol.conftest import make_rule, purchase, settings_set
from voucherhub.core import roles

pytestmark = pytest.mark.django_db


def test_a_locked_terminal_stays_locked_after_a_flush_and_a_restart(own_redis, clock):
    # given a terminal locked for brute force
    settings_set(bf_terminal_failures=3, bf_lockout_minutes=15)
    for _ in range(3):
        failure_record(terminal="T1", ip="198.51.100.20", store="S1")
    clock.advance(60)
    # when Redis loses everything
    own_redis.flush()
    # then the lock holds, with the time it has left
    with pytest.raises(LockedOut) as caught:
        lockout_check(terminal="T1", ip="198.51.100.21", store="S1")
    assert caught.value.retry_after == 14 * 60
    own_redis.restart()
    with pytest.raises(LockedOut):
        lockout_check(terminal="T1")
    # and it still ends on time
    clock.advance(14 * 60 + 1)
    lockout_check(terminal="T1")


def test_failures_before_a_flush_still_count(own_redis, clock):
    settings_set(bf_terminal_failures=3)
    failure_record(terminal="T2")
    failure_record(terminal="T2")
    own_redis.flush()
    assert failure_record(terminal="T2") == ["terminal"]
    with pytest.raises(LockedOut):
        lockout_check(terminal="T2")


def test_a_lifted_lock_stays_lifted_after_a_flush(own_redis, clock):
    settings_set(bf_terminal_failures=1)
    failure_record(terminal="T3")
    protection.lockout_clear(terminal="T3")
    own_redis.flush()
    lockout_check(terminal="T3")


def test_the_second_verification_keeps_its_failures_and_its_lock(own_redis, clock):
    settings_set(second_factor_failures=3, bf_lockout_minutes=5)
    user = factories.UserFactory(username="guesser")
    assert second_factor_verify(user=user, password="nope") is False
    assert second_factor_verify(user=user, password="nope") is False
    own_redis.flush()
    assert second_factor_verify(user=user, password="nope") is False  # the third: locked
    own_redis.restart()
    with pytest.raises(LockedOut):
        second_factor_verify(user=user, password=PASSWORD)


def test_the_hourly_reveal_limit_is_not_reset_by_a_flush(own_redis):
    settings_set(reveal_limit_per_hour=3)
    revealer = factories.UserFactory(username="revealer", role=roles.OPS, is_staff=True)
    codes = list(codes_generate(sku=factories.SkuFactory(), count=5).codes.order_by("pk"))
    for code in codes[:3]:
        catalog_services.codes_reveal(codes=[code], actor=revealer, reason="support ticket 7", ip="10.0.0.9")
    own_redis.flush()
    with pytest.raises(RevealLimitExceeded):
        catalog_services.codes_reveal(codes=[codes[3]], actor=revealer, reason="support ticket 7", ip="10.0.0.9")


def test_a_login_lockout_survives_a_flush(own_redis, client, settings):
    factories.UserFactory(username="victim")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(reverse("login"), {"username": "victim", "password": "guess"})
    assert response.status_code == 429
    own_redis.flush()
    assert client.post(reverse("login"), {"username": "victim", "password": PASSWORD}).status_code == 429


def _deploy_warnings() -> set[str]:
    from django.core import checks

    return {message.id for message in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.caches])}


def test_check_deploy_says_when_redis_would_lose_lockouts(own_redis):
    import redis

    server = redis.Redis.from_url(own_redis.url)
    # a server that keeps nothing on disk and never evicts: a restart comes back empty and refills
    server.config_set("maxmemory-policy", "noeviction")
    assert _deploy_warnings() == set()
    # evicting keys under memory pressure
    server.config_set("maxmemory-policy", "allkeys-lru")
    assert _deploy_warnings() == {"riskcontrol.W001"}
    # restoring RDB snapshots without an append-only file
    server.config_set("maxmemory-policy", "noeviction")
    server.config_set("save", "3600 1")
    assert _deploy_warnings() == {"riskcontrol.W002"}
    server.config_set("appendonly", "yes")
    assert _deploy_warnings() == set()
    # a server it cannot ask
    own_redis.stop()
    assert _deploy_warnings() == {"riskcontrol.W003"}
    own_redis.start()


# Risk rule counters: PostgreSQL records what each evaluation reserved (RiskEvent.counters); a Redis that lost
# them is refilled from there before the next evaluation counts.

HOUR = 3600


def _velocity_3_per_hour():
    return make_rule(
        name="3 orders an hour per account",
        kind=RiskRule.Kind.VELOCITY,
        dimension=Dimension.ACCOUNT,
        window_seconds=HOUR,
        limit=3,
        measure=RiskRule.Measure.ORDERS,
    )


def _purchase_limit_3_items_per_hour():
    return make_rule(
        name="3 items an hour per device",
        kind=RiskRule.Kind.PURCHASE_LIMIT,
        dimension=Dimension.DEVICE,
        window_seconds=HOUR,
        limit=3,
        measure=RiskRule.Measure.UNITS,
    )


@pytest.mark.parametrize("rule", [_velocity_3_per_hour, _purchase_limit_3_items_per_hour], ids=["velocity", "purchase-limit"])
@pytest.mark.parametrize("fault", ["flush", "restart"])
def test_a_rule_counter_survives_a_redis_loss(own_redis, clock, rule, fault):
    # given a 3-per-hour rule and 2 purchases in the window
    rule()
    clock.advance(HOUR * 0.75)  # late in the bucket: the refill must put the counts in the right buckets
    assert [risk_evaluate(ctx=purchase(account_id="a-7", device="fp-7")).outcome for _ in range(2)] == [Outcome.ALLOW] * 2
    # when Redis loses everything
    own_redis.flush() if fault == "flush" else own_redis.restart()
    clock.advance(HOUR * 0.5)  # now in the next bucket: the two purchases sit in the previous one, still in the window
    # then the 3rd purchase is allowed and the 4th refused
    assert risk_evaluate(ctx=purchase(account_id="a-7", device="fp-7")).outcome == Outcome.ALLOW
    assert risk_evaluate(ctx=purchase(account_id="a-7", device="fp-7")).outcome == Outcome.BLOCK


def test_a_refill_counts_neither_given_back_nor_refused_purchases(own_redis, clock):
    # given a 3-per-hour rule: one purchase given back (the order failed), one kept, one over a stricter rule
    _velocity_3_per_hour()
    given_back = risk_evaluate(ctx=purchase(account_id="a-8"))
    assert risk_release(decision=given_back)
    assert risk_evaluate(ctx=purchase(account_id="a-8")).allowed
    make_rule(name="over 1000", kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("1000.00"), action=RiskRule.RuleAction.BLOCK)
    assert risk_evaluate(ctx=purchase(account_id="a-8", amount=Decimal("5000.00"))).blocked
    # when Redis loses everything
    own_redis.flush()
    # then only the kept purchase counts: two more are allowed, the next one refused
    assert risk_evaluate(ctx=purchase(account_id="a-8")).allowed
    assert risk_evaluate(ctx=purchase(account_id="a-8")).allowed
    assert risk_evaluate(ctx=purchase(account_id="a-8")).blocked


def test_a_refill_keeps_what_redis_counted_since(own_redis, clock):
    # given a purchase counted, a flush, and a refill
    _velocity_3_per_hour()
    assert risk_evaluate(ctx=purchase(account_id="a-9")).allowed
    own_redis.flush()
    assert risk_evaluate(ctx=purchase(account_id="a-9")).allowed
    # when another refill runs (a second process that saw the mark missing too)
    assert counters.counters_reload() == 0
    # then it adds nothing twice
    assert risk_evaluate(ctx=purchase(account_id="a-9")).allowed
    assert risk_evaluate(ctx=purchase(account_id="a-9")).blocked
