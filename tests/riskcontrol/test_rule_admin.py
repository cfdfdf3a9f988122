"""Ops change rules, lists and settings in the admin through riskcontrol's services: each change leaves its own
audit row (risk.rule.*, risk.list.*, risk.settings.change) and every process reloads the rules."""

import pytest

from riskcontrol import engine
from riskcontrol.models import Dimension, RiskList, RiskListEntry, RiskRule, RiskSettings
from riskcontrol.services import RiskContext, risk_evaluate
from tests.riskcontrol.conftest import make_list, make_rule
from voucherhub.core.audit import audit_action_label
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
RULES = "/admin/riskcontrol/riskrule/"
LISTS = "/admin/riskcontrol/risklist/"


def audited(action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action).order_by("pk"))


def rule_data(**changes) -> dict:
    data = {
        "name": "big orders",
        "kind": RiskRule.Kind.AMOUNT,
        "applies_to": "purchase",
        "amount_threshold": "9000.00",
        "measure": RiskRule.Measure.UNITS,
        "score": 10,
        "action": RiskRule.RuleAction.REVIEW,
        "active": "on",
        "priority": 100,
    }
    return {**data, **changes}


def test_adding_changing_and_deleting_a_rule_is_audited(ops_client, ops_user):
    # when a rule is added
    assert ops_client.post(f"{RULES}add/", rule_data(), REMOTE_ADDR="10.9.0.1").status_code == 302
    rule = RiskRule.objects.get(name="big orders")
    [created] = audited("risk.rule.create")
    assert created.actor == ops_user and created.object_id == str(rule.pk) and created.ip == "10.9.0.1"
    assert created.data["changes"]["amount_threshold"] == [None, "9000.00"]
    # when it is changed
    assert ops_client.post(f"{RULES}{rule.pk}/change/", rule_data(amount_threshold="5000.00", score=30)).status_code == 302
    [changed] = audited("risk.rule.change")
    assert changed.data["changes"] == {"amount_threshold": ["9000.00", "5000.00"], "score": ["10", "30"]}
    # when it is deleted
    assert ops_client.post(f"{RULES}{rule.pk}/delete/", {"post": "yes"}).status_code == 302
    [deleted] = audited("risk.rule.delete")
    assert deleted.object_id == str(rule.pk) and deleted.data["was"]["name"] == "big orders"
    assert not RiskRule.objects.exists()


def test_activating_and_deactivating_rules_in_bulk_is_audited_per_rule(ops_client):
    first = make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold="100.00", name="first")
    second = make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold="200.00", name="second")
    ids = [first.pk, second.pk]
    response = ops_client.post(RULES, {"action": "deactivate", "_selected_action": ids})
    assert response.status_code == 302
    assert not RiskRule.objects.filter(active=True).exists()
    assert sorted(int(entry.object_id) for entry in audited("risk.rule.deactivate")) == ids
    ops_client.post(RULES, {"action": "activate", "_selected_action": [first.pk]})
    assert [entry.object_id for entry in audited("risk.rule.activate")] == [str(first.pk)]
    assert set(RiskRule.objects.filter(active=True).values_list("pk", flat=True)) == {first.pk}


def test_a_deactivated_rule_stops_at_once(django_capture_on_commit_callbacks):
    from riskcontrol.services import rules_deactivate

    rule = make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold="1.00", applies_to="any")
    assert risk_evaluate(ctx=RiskContext(action="purchase", amount=rule.amount_threshold)).blocked
    with django_capture_on_commit_callbacks(execute=True):
        rules_deactivate(rules=[rule], actor=None)
    assert risk_evaluate(ctx=RiskContext(action="purchase", amount=rule.amount_threshold)).allowed


def test_lists_and_their_entries_are_audited(ops_client):
    data = {
        "name": "bad addresses",
        "list_type": RiskList.ListType.BLOCK,
        "dimension": Dimension.IP,
        "description": "",
        "entries-TOTAL_FORMS": "1",
        "entries-INITIAL_FORMS": "0",
        "entries-0-value": "203.0.113.0/24",
        "entries-0-note": "scanner",
        "entries-0-expires_at_0": "",
        "entries-0-expires_at_1": "",
    }
    response = ops_client.post(f"{LISTS}add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    risk_list = RiskList.objects.get(name="bad addresses")
    entry = risk_list.entries.get()
    assert [row.object_id for row in audited("risk.list.create")] == [str(risk_list.pk)]
    [added] = audited("risk.list.add")
    assert added.object_id == str(entry.pk) and added.data["list"] == "bad addresses"
    # the entry is taken off the list in the inline
    data.update(
        {
            "entries-INITIAL_FORMS": "1",
            "entries-0-id": str(entry.pk),
            "entries-0-risk_list": str(risk_list.pk),
            "entries-0-DELETE": "on",
        }
    )
    assert ops_client.post(f"{LISTS}{risk_list.pk}/change/", data).status_code == 302
    assert not RiskListEntry.objects.exists()
    [removed] = audited("risk.list.remove")
    assert removed.data == {"list": "bad addresses", "value": "203.0.113.0/24"}


def test_entries_edited_on_their_own_page_are_audited(ops_client):
    risk_list = make_list(dimension=Dimension.EMAIL, values=["a@example.com"])
    entry = risk_list.entries.get()
    data = {"risk_list": risk_list.pk, "value": "B@Example.com", "note": "", "expires_at_0": "", "expires_at_1": ""}
    assert ops_client.post(f"/admin/riskcontrol/risklistentry/{entry.pk}/change/", data).status_code == 302
    entry.refresh_from_db()
    assert entry.value == "b@example.com"
    [changed] = audited("risk.list.entry_change")
    assert changed.data["changes"]["value"] == ["a@example.com", "b@example.com"]
    assert ops_client.post(f"/admin/riskcontrol/risklistentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 302
    assert [row.object_id for row in audited("risk.list.remove")] == [str(entry.pk)]


def test_settings_changes_are_audited_and_reach_the_rules(ops_client):
    row, _created = RiskSettings.objects.get_or_create(pk=1)
    data = {field.name: getattr(row, field.name) for field in RiskSettings._meta.concrete_fields if field.name not in ("id", "updated_at")}
    data["block_score"] = 90
    response = ops_client.post(f"/admin/riskcontrol/risksettings/{row.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    [changed] = audited("risk.settings.change")
    assert changed.data["changes"] == {"block_score": ["100", "90"]}
    assert engine.rules_snapshot().settings.block_score == 90


def test_every_new_audit_code_has_a_label():
    for code in (
        "risk.rule.create",
        "risk.rule.change",
        "risk.rule.delete",
        "risk.rule.activate",
        "risk.rule.deactivate",
        "risk.list.create",
        "risk.list.change",
        "risk.list.delete",
        "risk.list.add",
        "risk.list.entry_change",
        "risk.list.remove",
        "risk.settings.change",
    ):
        assert audit_action_label(code) != code
