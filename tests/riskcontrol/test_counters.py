"""The counter script decides in Redis what Python decides, and gives a refused request's increments back in the same call."""

import random

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from riskcontrol import counters
from riskcontrol.models import Dimension, Outcome, RiskRule
from riskcontrol.services import risk_evaluate
from tests.riskcontrol.conftest import make_rule, purchase

pytestmark = pytest.mark.django_db

RELEASE = frozenset({1, 3})  # challenge and block, as risk_evaluate asks


def _redis_only():
    if not isinstance(caches["default"], RedisCache):
        pytest.skip("needs Redis as the cache (set CACHE_URL=redis://...)")


def _random_case(rng: random.Random, n: int):
    hits = []
    for i in range(rng.randint(1, 6)):
        window = rng.choice([60, 3600, 86400])
        limit = rng.choice([None, 0.0, 1.0, 2.0, 3.5, 10.0, 19999.0])
        hits.append(counters.Hit(f"case{n}:{i}", window, rng.randint(1, 3), limit, rng.choice([0, 10, 20, 50, 100]), rng.randint(0, 3)))
    thresholds = ((3, rng.choice([0, 100, 120])), (2, rng.choice([0, 70])), (1, rng.choice([0, 40])))
    verdict = counters.Verdict(
        score=rng.choice([0, 0, 30, 40]), severity=rng.randint(0, 3), thresholds=thresholds, waived=rng.choice([-1, 1]), release=RELEASE
    )
    return hits, verdict


def test_the_script_decides_like_verdict_decide(clock):
    _redis_only()
    rng = random.Random(20240611)
    released_cases = kept_cases = 0
    for n in range(300):
        hits, verdict = _random_case(rng, n)
        now = clock.now + rng.uniform(0, 59)  # somewhere in the bucket: the previous one weighs less and less
        # some history: the previous bucket and earlier requests in this one
        for hit in hits:
            counters.hit_many([hit._replace(amount=rng.randint(1, 4))], now=now - hit.window)
            if rng.random() < 0.5:
                counters.hit_many([hit], now=now)
        before = [counters.peek(hit, now=now) for hit in hits]
        results, released = counters.hit_decide(hits, verdict=verdict, now=now)
        # every `over` is Python's own comparison, bit for bit
        assert [r.over for r in results] == [h.limit is not None and r.estimate > h.limit for h, r in zip(hits, results, strict=True)]
        score = verdict.score + sum(h.score for h, r in zip(hits, results, strict=True) if r.over)
        severity = max([verdict.severity, *(h.severity for h, r in zip(hits, results, strict=True) if r.over)])
        final, _raised = verdict.decide(score, severity)
        assert released == (final in RELEASE), (n, hits, verdict, results)
        after = [counters.peek(hit, now=now) for hit in hits]
        if released:
            released_cases += 1
            assert after == before  # given back in the same call
        else:
            kept_cases += 1
            assert after == pytest.approx([b + h.amount for b, h in zip(before, hits, strict=True)])
    assert released_cases > 50 and kept_cases > 50  # both paths were exercised


def test_a_refused_request_costs_one_round_trip(clock, monkeypatch):
    # given a limit of 1 per IP: the second purchase is blocked and keeps nothing
    _redis_only()
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.IP, window_seconds=3600, limit=1)
    assert risk_evaluate(ctx=purchase()).allowed
    calls = []
    real = counters._evalsha
    monkeypatch.setattr(counters, "_evalsha", lambda *args: calls.append(args[1]) or real(*args))
    blocked = risk_evaluate(ctx=purchase())
    # then one script call decided and gave back: no release call follows
    assert blocked.outcome == Outcome.BLOCK and blocked.reserved == ()
    assert len(calls) == 1
    monkeypatch.setattr(counters, "_evalsha", real)
    assert risk_evaluate(ctx=purchase()).blocked  # still one in the window, not two


def test_a_server_that_lost_the_script_gets_it_again(clock, monkeypatch):
    # given a Redis that does not know the script's digest (as after a restart or SCRIPT FLUSH)
    _redis_only()
    tools = counters._redis()
    monkeypatch.setattr(tools.hit, "sha", "0" * 40)
    # when counting
    results, released = counters.hit_decide([counters.Hit("lost-script", 60, 1, 5.0, 0, 3)], verdict=counters.Verdict(0, 0, ()))
    # then the script is loaded again and the call succeeds
    assert [r.current for r in results] == [1] and released is False
    assert tools.hit.sha != "0" * 40
