"""Fixtures for risk control: rules made through the ORM (then the snapshot reloads), a movable clock."""

from decimal import Decimal

import pytest

from riskcontrol import counters, engine
from riskcontrol.models import RiskList, RiskListEntry, RiskRule, RiskSettings
from riskcontrol.services import RiskContext


@pytest.fixture(autouse=True)
def _fresh_rules(settings):
    settings.RISK_RULES_RECHECK_SECONDS = 0
    engine.rules_changed()
    yield
    engine.rules_changed()


class Clock:
    """The counters' wall clock, moved by hand (time is the one thing outside our code here)."""

    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fast_hashing(settings):
    # Each checkout hashes its lookup password; the real hasher's cost is no part of what these tests check.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock(monkeypatch):
    # Start at the beginning of an hour-aligned bucket so sliding-window arithmetic is easy to follow.
    fake = Clock(start=float(int(counters.clock() // 86400) * 86400 + 86400 * 3))
    monkeypatch.setattr(counters, "clock", fake)
    return fake


def make_rule(**fields) -> RiskRule:
    defaults = {"name": f"rule {fields.get('kind', 'x')}", "action": RiskRule.RuleAction.BLOCK, "score": 10}
    rule = RiskRule(**{**defaults, **fields})
    rule.full_clean()
    rule.save()
    engine.rules_changed()
    return rule


def make_list(*, dimension: str, values=(), list_type=RiskList.ListType.BLOCK, name=None, **entry_fields) -> RiskList:
    risk_list = RiskList.objects.create(name=name or f"{list_type} {dimension}", list_type=list_type, dimension=dimension)
    for value in values:
        entry = RiskListEntry(risk_list=risk_list, value=value, **entry_fields)
        entry.full_clean()
        entry.save()
    engine.rules_changed()
    return risk_list


def settings_set(**values) -> RiskSettings:
    row, _created = RiskSettings.objects.get_or_create(pk=1)
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    engine.rules_changed()
    return row


def purchase(**fields) -> RiskContext:
    defaults = {"action": "purchase", "quantity": 1, "amount": Decimal("30.00"), "ip": "198.51.100.7", "reference": "ORD-1"}
    return RiskContext(**{**defaults, **fields})
