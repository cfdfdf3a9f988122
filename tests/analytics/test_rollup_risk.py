"""Risk decisions per local day, channel and outcome, from the events risk_evaluate records."""

from decimal import Decimal

import pytest
import time_machine

from analytics.models import RiskDay
from analytics.rollups.base import rollup_rebuild, rollup_refresh
from analytics.rollups.risk import ROLLUP
from riskcontrol import engine
from riskcontrol.models import RiskRule
from riskcontrol.services import RiskContext, risk_evaluate
from tests.analytics.rollup_support import days_ago, local
from tests.riskcontrol.conftest import make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.RISK_RULES_RECHECK_SECONDS = 0
    engine.rules_changed()
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100.00"))
    yield
    engine.rules_changed()


def purchase(channel: str, amount: str) -> str:
    return risk_evaluate(ctx=RiskContext(action="purchase", channel=channel, amount=Decimal(amount), ip="10.0.0.9")).outcome


def figures() -> dict:
    return {(row.day, row.channel, row.outcome): row.events for row in RiskDay.objects.all()}


def test_decisions_per_day_channel_and_outcome_and_a_late_event():
    day1, day2 = days_ago(3), days_ago(2)
    with time_machine.travel(local(day1, 0, 10), tick=False):  # 16:10 UTC the day before: still local day 1
        assert purchase("storefront", "20.00") == "allow"
    with time_machine.travel(local(day1, 23, 50), tick=False):
        assert purchase("storefront", "500.00") == "block"
        purchase("portal", "20.00")
        purchase("", "20.00")
    with time_machine.travel(local(day2, 8), tick=False):
        rollup_refresh(ROLLUP)
    assert figures() == {
        (day1, "storefront", "allow"): 1,
        (day1, "storefront", "block"): 1,
        (day1, "portal", "allow"): 1,
        (day1, "purchase", "allow"): 1,
    }
    # when: more decisions, one of them committed late with a time before the last run (inside its overlap)
    with time_machine.travel(local(day2, 9), tick=False):
        purchase("storefront", "900.00")
    with time_machine.travel(local(day2, 7, 58), tick=False):
        purchase("api", "30.00")
    with time_machine.travel(local(day2, 10), tick=False):
        assert rollup_refresh(ROLLUP) == 1
    # then
    assert figures()[(day2, "storefront", "block")] == 1
    assert figures()[(day2, "api", "allow")] == 1
    assert sum(figures().values()) == 6
    incremental = figures()
    RiskDay.objects.all().delete()
    rollup_rebuild(ROLLUP, day1, day2)
    assert figures() == incremental
