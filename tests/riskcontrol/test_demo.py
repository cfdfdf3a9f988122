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


def test_demo_block_spike_alert_counts_the_same_blocked_events_as_the_ops_card():
    """The alert's "N requests were blocked in the last 10 minutes" is counted from the RiskEvent rows the
    ops home's "blocked, 24 h" figure counts: never a number no event backs."""
    from datetime import timedelta

    from riskcontrol import selectors

    demo.seed(io.StringIO())
    alert = RiskAlert.objects.get(kind=RiskAlert.Kind.BLOCK_SPIKE)
    window = timedelta(seconds=alert.params["window"])
    blocked_in_window = RiskEvent.objects.filter(
        outcome="block", created_at__gt=alert.created_at - window, created_at__lte=alert.created_at
    ).count()
    assert alert.params["count"] == blocked_in_window
    assert alert.params["count"] >= alert.params["threshold"]
    assert selectors.ops_summary().blocked_24h >= alert.params["count"]
