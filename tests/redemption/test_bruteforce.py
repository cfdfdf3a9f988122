"""Failed verifications feed riskcontrol's brute-force lockout; a locked-out terminal is refused before any lookup."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import CardCode
from redemption.models import RedemptionAttempt
from riskcontrol import counters, engine
from tests import factories
from tests.riskcontrol.conftest import Clock, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def risk_clock(monkeypatch, settings):
    """riskcontrol's counters on a clock moved by hand; 3 failures lock a terminal for 15 minutes."""
    settings.RISK_RULES_RECHECK_SECONDS = 0
    engine.rules_changed()
    clock = Clock(start=float(int(counters.clock() // 86400) * 86400 + 86400 * 3))
    monkeypatch.setattr(counters, "clock", clock)
    settings_set(bf_terminal_failures=3, bf_ip_failures=100, bf_store_failures=100, bf_lockout_minutes=15)
    yield clock
    engine.rules_changed()


def test_failed_verifications_lock_the_terminal_out_and_the_lockout_expires(risk_clock, api_a, sku_a, client, shop_a):
    from tests.redemption.conftest import TerminalClient

    code, good = factories.card_code(sku=sku_a)
    for attempt in range(3):
        assert api_a.verify({"code": f"WRONG-CODE-{attempt}"}).json()["reason"]["code"] == "not_valid_here"

    # locked: even a good code is refused, before the code is looked up
    with CaptureQueriesContext(connection) as queries:
        response = api_a.verify({"code": good})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    assert not any("catalog_cardcode" in q["sql"] for q in queries.captured_queries)
    assert api_a.redeem({"code": good}).status_code == 429
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD
    assert RedemptionAttempt.objects.filter(reason="locked_out", code__isnull=True).count() == 2

    # another terminal of the store is not locked
    other, secret = factories.terminal_for(shop_a.store, name="POS 2")
    assert TerminalClient(client=client, terminal=other, secret=secret).verify({"code": good}).json()["valid"] is True

    # the lockout ends after its period
    risk_clock.advance(15 * 60 + 1)
    assert api_a.verify({"code": good}).json()["valid"] is True
    assert api_a.redeem({"code": good}).status_code == 201


def test_refusals_that_are_not_guesses_do_not_count(risk_clock, api_a, sku_a):
    _code, used = factories.card_code(sku=sku_a, status=CardCode.Status.REDEEMED)
    for _ in range(5):
        assert api_a.verify({"code": used}).json()["reason"]["code"] == "already_redeemed"
    _code, good = factories.card_code(sku=sku_a)
    assert api_a.verify({"code": good}).json()["valid"] is True


def test_a_success_does_not_restart_the_count(risk_clock, api_a, sku_a):
    # given a script that knows one good code and slips it in between its guesses
    _code, good = factories.card_code(sku=sku_a)
    api_a.verify({"code": "WRONG-1"})
    api_a.verify({"code": "WRONG-2"})
    assert api_a.verify({"code": good}).json()["valid"] is True
    # when it makes its third wrong guess within the window
    api_a.verify({"code": "WRONG-3"})
    # then the terminal is locked: the success forgot none of the failures
    assert api_a.verify({"code": good}).status_code == 429


def test_failures_leave_the_count_as_the_window_passes(risk_clock, api_a, sku_a):
    _code, good = factories.card_code(sku=sku_a)
    api_a.verify({"code": "WRONG-1"})
    api_a.verify({"code": "WRONG-2"})
    risk_clock.advance(10 * 60 + 1)  # the window (10 minutes) passes
    api_a.verify({"code": "WRONG-3"})
    assert api_a.verify({"code": good}).status_code == 200


def test_a_locked_terminal_is_refused_after_redis_restarts(own_redis, risk_clock, api_a, sku_a):
    # given a terminal locked out through the API
    _code, good = factories.card_code(sku=sku_a)
    for attempt in range(3):
        api_a.verify({"code": f"WRONG-CODE-{attempt}"})
    assert api_a.verify({"code": good}).status_code == 429
    # when Redis restarts empty (its lockout keys, the signed requests' nonces, everything)
    own_redis.restart()
    # then the signed request is still refused, before the code is looked up
    with CaptureQueriesContext(connection) as queries:
        response = api_a.verify({"code": good})
    assert response.status_code == 429
    assert not any("catalog_cardcode" in q["sql"] for q in queries.captured_queries)


def test_a_verify_reads_no_lockout_from_the_database_once_the_cache_holds_them(risk_clock, api_a, sku_a):
    _code, good = factories.card_code(sku=sku_a)
    api_a.verify({"code": good})  # the first check after an empty cache loads the lockouts
    with CaptureQueriesContext(connection) as queries:
        assert api_a.verify({"code": good}).json()["valid"] is True
    assert not any("riskcontrol_sourcelock" in q["sql"] for q in queries.captured_queries)
