import io

import pytest

from riskcontrol import demo
from riskcontrol.models import RiskAlert, RiskEvent, RiskRule
from riskcontrol.ruleset import RULES

pytestmark = pytest.mark.django_db


def test_demo_seeds_the_starting_rules_events_and_alerts_once():
    demo.seed(io.StringIO())
    assert RiskRule.objects.filter(active=True).count() == len(RULES) == 21
    assert RiskEvent.objects.filter(outcome="block").exists()
    assert RiskEvent.objects.pending_review().count() >= 2
    assert RiskEvent.objects.filter(outcome="challenge").exists()
    assert RiskAlert.objects.count() == 2
    events = RiskEvent.objects.count()
    demo.seed(io.StringIO())
    assert RiskRule.objects.count() == 21
    assert RiskEvent.objects.count() == events
