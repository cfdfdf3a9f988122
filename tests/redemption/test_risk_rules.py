"""Risk rules for redemptions fire at the POS (403 JSON) and the console (the error panel); the code stays sold."""

import uuid

import pytest

from catalog.models import CardCode
from redemption.models import Redemption
from riskcontrol import engine
from riskcontrol.models import Dimension, RiskEvent, RiskRule
from tests import factories
from tests.redemption.conftest import clerk_make
from tests.riskcontrol.conftest import make_list, make_rule

pytestmark = pytest.mark.django_db
BLOCKED_IP = "203.0.113.77"


@pytest.fixture(autouse=True)
def _fresh_rules(settings):
    settings.RISK_RULES_RECHECK_SECONDS = 0
    engine.rules_changed()
    yield
    engine.rules_changed()


def blocklist(dimension: str, values, applies_to: str = "redeem") -> RiskRule:
    risk_list = make_list(dimension=dimension, values=values, name=f"no {dimension}")
    return make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to=applies_to, risk_list=risk_list, score=100, name=f"no {dimension}")


def test_a_blocklisted_address_cannot_redeem_through_the_api(api_a, sku_a):
    # given
    code, plaintext = factories.card_code(sku=sku_a)
    blocklist(Dimension.IP, [BLOCKED_IP])
    # when
    response = api_a.post("/api/v1/redemptions/", {"code": plaintext}, idem=uuid.uuid4().hex, remote=BLOCKED_IP)
    # then
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "risk_blocked"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD and not Redemption.objects.exists()
    event = RiskEvent.objects.get(action="redeem")
    assert event.outcome == "block" and event.ip == BLOCKED_IP and event.device == api_a.terminal.key_id
    # the same code from another address goes through
    assert api_a.redeem({"code": plaintext}).status_code == 201


def test_a_blocklisted_terminal_is_refused_on_the_drf_path_too(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    blocklist(Dimension.DEVICE, [api_a.terminal.key_id], applies_to="any")
    # an amount sends the request through DRF's serializer instead of the direct path
    response = api_a.redeem({"code": plaintext, "amount": "0.00"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "risk_blocked"
    assert not Redemption.objects.exists()


def test_a_blocklisted_clerk_sees_the_refusal_at_the_console(client, shop_a, sku_a):
    clerk = clerk_make(shop_a, "clerk-blocked")
    client.force_login(clerk)
    blocklist(Dimension.ACCOUNT, [str(clerk.pk)])
    code, plaintext = factories.card_code(sku=sku_a)
    redeem = {"code": plaintext, "serial": "", "idempotency_key": uuid.uuid4().hex, "store": shop_a.store.pk}
    response = client.post("/merchant/redeem/", redeem, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'data-testid="result-error"' in html and "no account" in html
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD and not Redemption.objects.exists()


def test_purchase_rules_do_not_touch_redemptions(api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    blocklist(Dimension.IP, [BLOCKED_IP], applies_to="purchase")
    response = api_a.post("/api/v1/redemptions/", {"code": plaintext}, idem=uuid.uuid4().hex, remote=BLOCKED_IP)
    assert response.status_code == 201
    assert not RiskEvent.objects.exists()
