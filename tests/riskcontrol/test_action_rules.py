"""Rules for logins and reveals fire (not only purchases), and actions without rules cost nothing."""

import pytest
from django.urls import reverse

from catalog import services as catalog_services
from catalog.services import codes_generate
from riskcontrol import engine
from riskcontrol.errors import RiskBlocked
from riskcontrol.models import Dimension, RiskEvent, RiskRule
from riskcontrol.services import RiskContext, risk_evaluate
from tests import factories
from tests.factories import PASSWORD
from tests.riskcontrol.conftest import make_list, make_rule, purchase
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
BLOCKED_IP = "203.0.113.66"


def blocklist_rule(*, dimension: str, values, applies_to: str = "any") -> RiskRule:
    risk_list = make_list(dimension=dimension, values=values)
    return make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to=applies_to, risk_list=risk_list, score=100, name=f"block {dimension}")


def login(client, username, password, *, ip="198.51.100.20", path=None):
    return client.post(path or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_a_blocklisted_address_cannot_log_in_even_with_the_right_password(client):
    # given
    factories.UserFactory(username="alice", role=roles.DISTRIBUTOR)
    blocklist_rule(dimension=Dimension.IP, values=[BLOCKED_IP], applies_to="login")
    # when
    response = login(client, "alice", PASSWORD, ip=BLOCKED_IP)
    # then
    assert response.status_code == 403
    body = response.content.decode()
    assert 'data-testid="login-refused"' in body and "block ip" in body
    assert "_auth_user_id" not in client.session
    event = RiskEvent.objects.get(action="login")
    assert event.outcome == "block" and event.ip == BLOCKED_IP and event.extra["username"] == "alice"
    # another address logs in
    assert login(client, "alice", PASSWORD).status_code == 302
    assert "_auth_user_id" in client.session


def test_a_blocklisted_account_cannot_log_in_at_the_admin_either(client):
    user = factories.UserFactory(username="mallory", role=roles.OPS, is_staff=True)
    blocklist_rule(dimension=Dimension.ACCOUNT, values=[str(user.pk)])
    response = login(client, "mallory", PASSWORD, path="/admin/login/")
    assert response.status_code == 403 and 'data-testid="login-refused"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_login_rule_leaves_purchases_alone_and_a_purchase_rule_leaves_logins_alone(client):
    factories.UserFactory(username="bob")
    blocklist_rule(dimension=Dimension.IP, values=[BLOCKED_IP], applies_to="purchase")
    assert login(client, "bob", PASSWORD, ip=BLOCKED_IP).status_code == 302


def test_a_blocklisted_user_cannot_reveal_codes(db):
    revealer = factories.UserFactory(username="revealer", role=roles.OPS, is_staff=True)
    blocklist_rule(dimension=Dimension.ACCOUNT, values=[str(revealer.pk)], applies_to="reveal")
    code = codes_generate(sku=factories.SkuFactory(), count=1).codes.get()
    with pytest.raises(RiskBlocked) as caught:
        catalog_services.codes_reveal(codes=[code], actor=revealer, reason="ticket 9", ip="10.0.0.9")
    assert caught.value.status == 403
    refusal = AuditLog.objects.get(action="codes.reveal_refused")
    assert refusal.data["error"] == "risk_blocked"
    assert not AuditLog.objects.filter(action="codes.reveal").exists()
    assert RiskEvent.objects.get(action="reveal").outcome == "block"


def test_actions_without_rules_answer_at_once_and_record_nothing(django_assert_num_queries):
    # given a blocklist for purchases only
    blocklist_rule(dimension=Dimension.IP, values=[BLOCKED_IP], applies_to="purchase")
    engine.rules_snapshot()  # loaded once (the queries of a reload are not the evaluation's)
    for action in ("redeem", "login", "reveal", "withdrawal"):
        with django_assert_num_queries(0):
            decision = risk_evaluate(ctx=RiskContext(action=action, ip=BLOCKED_IP))
        assert decision.allowed and decision.event_id is None
    assert not RiskEvent.objects.exists()
    # a purchase is still evaluated and recorded
    assert risk_evaluate(ctx=purchase(ip=BLOCKED_IP)).blocked


def test_an_unmatched_redemption_is_not_recorded_but_a_matched_one_is():
    blocklist_rule(dimension=Dimension.IP, values=[BLOCKED_IP])
    assert risk_evaluate(ctx=RiskContext(action="redeem", ip="198.51.100.1")).event_id is None
    assert risk_evaluate(ctx=purchase(ip="198.51.100.1")).event_id is not None  # purchases always leave a row
    blocked = risk_evaluate(ctx=RiskContext(action="redeem", ip=BLOCKED_IP))
    assert blocked.blocked and blocked.event_id is not None
    assert list(RiskEvent.objects.order_by("pk").values_list("action", "outcome")) == [("purchase", "allow"), ("redeem", "block")]
