"""A rule's channel scope: a rule with channels applies only to purchases through them (and to requests that
name no channel); a rule without applies to every channel."""

import importlib
import re
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from riskcontrol import engine
from riskcontrol.models import Channel, Dimension, Outcome, RiskEvent, RiskRule
from riskcontrol.ruleset import RULES, ruleset_install
from riskcontrol.services import risk_evaluate
from settlement.models import Order
from tests.riskcontrol.conftest import make_list, make_rule, purchase

pytestmark = pytest.mark.django_db

HOUR = 3600


def storefront_limit(**fields) -> RiskRule:
    """At most 2 items per IP per hour through the storefront (or `channels`), over it: challenge."""
    defaults = {"channels": [Channel.STOREFRONT], "action": RiskRule.RuleAction.CHALLENGE}
    return make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.IP, window_seconds=HOUR, limit=2, **{**defaults, **fields})


def test_channel_values_are_the_order_channels():
    assert sorted(Channel.values) == sorted(Order.Channel.values)


@pytest.mark.parametrize("channel", [Channel.PORTAL, Channel.API])
def test_a_storefront_rule_neither_stops_nor_counts_another_channel(clock, channel):
    storefront_limit()
    # a distributor's channel buys far past the storefront limit from one address
    assert {risk_evaluate(ctx=purchase(channel=channel, quantity=50)).outcome for _ in range(3)} == {Outcome.ALLOW}
    # and did not use the storefront's allowance of that address
    assert risk_evaluate(ctx=purchase(channel=Channel.STOREFRONT, quantity=2)).allowed
    third = risk_evaluate(ctx=purchase(channel=Channel.STOREFRONT))
    assert third.needs_challenge and third.reasons[0].code == "limit"


def test_a_request_naming_no_channel_meets_every_rule(clock):
    storefront_limit()
    assert risk_evaluate(ctx=purchase(quantity=2)).allowed
    assert risk_evaluate(ctx=purchase()).needs_challenge


def test_a_rule_without_channels_applies_to_every_channel(clock):
    make_rule(kind=RiskRule.Kind.BLOCKLIST, risk_list=make_list(dimension=Dimension.IP, values=["198.51.100.7"]), score=100)
    for channel in ["", *Channel.values]:
        assert risk_evaluate(ctx=purchase(channel=channel)).blocked, channel


def test_a_rule_for_two_channels_skips_the_third(clock):
    storefront_limit(name="two", channels=[Channel.PORTAL, Channel.API])
    assert risk_evaluate(ctx=purchase(channel=Channel.STOREFRONT, quantity=9)).allowed
    assert risk_evaluate(ctx=purchase(channel=Channel.API, quantity=2)).allowed
    assert risk_evaluate(ctx=purchase(channel=Channel.PORTAL)).needs_challenge


def test_an_unknown_channel_meets_only_the_rules_for_every_channel(clock):
    storefront_limit()
    make_rule(name="per device", kind=RiskRule.Kind.PURCHASE_LIMIT, dimension=Dimension.DEVICE, window_seconds=HOUR, limit=1)
    assert risk_evaluate(ctx=purchase(channel="fax", quantity=5)).allowed
    assert risk_evaluate(ctx=purchase(channel="fax", device="d1")).allowed
    assert risk_evaluate(ctx=purchase(channel="fax", device="d1")).blocked


def test_changing_the_scope_takes_effect_with_the_next_snapshot(clock):
    rule = storefront_limit()
    assert risk_evaluate(ctx=purchase(channel=Channel.API, quantity=3)).allowed
    rule.channels = [Channel.API]
    rule.full_clean()
    rule.save()
    engine.rules_changed()
    assert risk_evaluate(ctx=purchase(channel=Channel.API, quantity=3)).needs_challenge


def test_clean_accepts_known_channels_only_and_keeps_them_in_order():
    rule = RiskRule(name="x", kind=RiskRule.Kind.AMOUNT, amount_threshold=100, channels=["api", "storefront", "api"])
    rule.full_clean()
    assert rule.channels == ["storefront", "api"]
    for bad in (["shop"], "storefront", {"storefront": True}):
        rule.channels = bad
        with pytest.raises(ValidationError) as error:
            rule.full_clean()
        assert "channels" in error.value.message_dict


def test_rule_admin_edits_the_scope_with_checkboxes(ops_client):
    page = ops_client.get("/admin/riskcontrol/riskrule/add/").content.decode()
    for value in Channel.values:
        assert f'type="checkbox" name="channels" value="{value}"' in page
    data = {
        "name": "portal big amounts",
        "kind": RiskRule.Kind.AMOUNT,
        "applies_to": "purchase",
        "channels": [Channel.PORTAL, Channel.API],
        "amount_threshold": "9000.00",
        "measure": RiskRule.Measure.UNITS,
        "score": 10,
        "action": RiskRule.RuleAction.REVIEW,
        "active": "on",
        "priority": 100,
    }
    response = ops_client.post("/admin/riskcontrol/riskrule/add/", data)
    assert response.status_code == 302, response.content.decode()
    rule = RiskRule.objects.get(name="portal big amounts")
    assert rule.channels == ["portal", "api"]
    page = ops_client.get(f"/admin/riskcontrol/riskrule/{rule.pk}/change/").content.decode()
    ticked = set(re.findall(r'<input[^>]*name="channels" value="(\w+)"[^>]*checked', page))
    assert ticked == {"portal", "api"}
    listing = ops_client.get("/admin/riskcontrol/riskrule/").content.decode()
    assert "Distributor portal, Distributor API" in listing or "分销商门户, 分销商 API" in listing
    # none ticked: every channel
    response = ops_client.post(f"/admin/riskcontrol/riskrule/{rule.pk}/change/", {**data, "channels": []})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.channels == []


def test_the_starting_rules_scope_consumer_limits_to_the_storefront():
    ruleset_install()
    scoped = dict(RiskRule.objects.values_list("name", "channels"))
    assert len(scoped) == len(RULES)
    assert scoped["同一 IP 每小时限购 20 件"] == scoped["同一账号每天限购 20 件"] == ["storefront"]
    assert scoped["分销商门户同一账号每分钟最多下单 5 次"] == ["portal"]
    every = [rule.name for rule in RiskRule.objects.filter(kind__in=[RiskRule.Kind.BLOCKLIST, RiskRule.Kind.ALLOWLIST])]
    assert every and all(scoped[name] == [] for name in every)
    assert scoped["分销商每分钟最多 300 单"] == scoped["分销商每小时最多 ¥200,000"] == []


@pytest.mark.parametrize(
    ("channel", "outcome"), [(Channel.STOREFRONT, Outcome.BLOCK), (Channel.PORTAL, Outcome.ALLOW), (Channel.API, Outcome.ALLOW)]
)
def test_a_large_single_order_is_refused_from_a_consumer_but_is_a_distributors_stock_purchase(clock, channel, outcome):
    ruleset_install()
    engine.rules_changed()
    ctx = purchase(channel=channel, quantity=1000, amount=Decimal("25000.00"), distributor_id=7)
    decision = risk_evaluate(ctx=ctx)
    assert decision.outcome == outcome
    # and the reviewer sees which channel the purchase came through
    assert RiskEvent.objects.get(pk=decision.event_id).extra["channel"] == channel


def test_migration_scopes_an_existing_installations_demo_rules_only_where_ops_left_them_as_shipped():
    # given: an installation from before channel scopes, where ops changed two demo rules
    ruleset_install()
    RiskRule.objects.update(channels=[])
    RiskRule.objects.filter(name="同一 IP 每小时限购 20 件").update(limit=50)
    RiskRule.objects.filter(name="同一设备每天限购 30 件").update(channels=["api"])
    migration = importlib.import_module("riskcontrol.migrations.0003_demo_rules_channels")

    # when the migration runs
    migration.demo_rules_scope(apps, None)

    # then the untouched consumer limits are scoped to the storefront, ops' changes are kept, the rest untouched
    scoped = dict(RiskRule.objects.values_list("name", "channels"))
    assert scoped["同一 IP 每天限购 100 件"] == scoped["新账号 24 小时内单笔 ¥500 以上需验证"] == ["storefront"]
    assert scoped["店铺每分钟最多 120 单"] == scoped["同一账号每分钟最多下单 5 次"] == ["storefront"]
    assert scoped["同一 IP 每小时限购 20 件"] == []
    assert scoped["同一设备每天限购 30 件"] == ["api"]
    assert scoped["可疑 IP 段拦截"] == scoped["分销商每分钟最多 300 单"] == scoped["分销商门户同一账号每分钟最多下单 5 次"] == []
    assert scoped["单笔 ¥5,000 以上转人工"] == scoped["单笔 ¥20,000 以上拦截"] == ["storefront"]
    assert sum(channels == ["storefront"] for channels in scoped.values()) == 10
