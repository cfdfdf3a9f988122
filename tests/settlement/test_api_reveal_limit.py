"""Codes opened through the API draw on the portal's hourly reveal limit (risk control's reveal_guard)."""

import pytest

from riskcontrol.models import Action, Outcome, RiskEvent
from settlement.models import Order
from tests.riskcontrol.conftest import settings_set
from tests.settlement.conftest import fund
from tests.settlement.test_api import Api
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, tree, finance_user):
    fund(tree.seller, "500.00", actor=finance_user)
    return Api(client, tree.seller)


def test_the_codes_endpoint_refuses_past_the_hourly_reveal_limit(client, api, tree):
    # given: three reveals an hour, two of them spent by an order's answer
    settings_set(reveal_limit_per_hour=3)
    placed = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 2}, idempotency_key="k-1")
    assert placed.status_code == 201 and len(placed.json()["codes"]) == 2
    number = placed.json()["number"]
    reveals = AuditLog.objects.filter(action="code.reveal").count()
    # when: the two codes are asked for again
    response = api.get(f"/api/v1/orders/{number}/codes/")
    # then: 429 with the time to wait, nothing opened
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "reveal_limit" and response["Retry-After"] == "3600"
    assert AuditLog.objects.filter(action="code.reveal").count() == reveals
    assert RiskEvent.objects.filter(action=Action.REVEAL, outcome=Outcome.BLOCK, account_id=f"api-distributor:{tree.seller.pk}").exists()
    # and another key of the same distributor brings no new allowance
    assert Api(client, tree.seller).get(f"/api/v1/orders/{number}/codes/").status_code == 429


def test_an_order_past_the_limit_stands_and_its_answer_withholds_the_codes(api, tree):
    settings_set(reveal_limit_per_hour=1)
    request = {"sku": tree.sku.code, "quantity": 2}
    # when: an order would open two codes with one allowed
    first = api.post("/api/v1/orders/", request, idempotency_key="k-2")
    # then: the order is placed and delivered, its answer says why the codes are not in it
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "delivered" and "codes" not in body
    assert body["codes_withheld"]["code"] == "reveal_limit" and body["codes_withheld"]["retry_after"] == 3600
    assert Order.objects.get(number=body["number"]).status == Order.Status.DELIVERED
    assert not AuditLog.objects.filter(action="code.reveal").exists()
    # the same request again within the limit (raised here) brings the codes
    settings_set(reveal_limit_per_hour=10)
    replay = api.post("/api/v1/orders/", request, idempotency_key="k-2")
    assert replay["Idempotent-Replayed"] == "true" and len(replay.json()["codes"]) == 2 and "codes_withheld" not in replay.json()
    assert AuditLog.objects.filter(action="code.reveal").count() == 2


def test_the_api_allowance_is_counted_again_after_the_cache_lost_it(api, tree, clear_cache):
    # given: three reveals an hour, two of them spent through the API (the order's answer)
    settings_set(reveal_limit_per_hour=3)
    placed = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 2}, idempotency_key="k-3")
    assert placed.status_code == 201 and len(placed.json()["codes"]) == 2
    # when: the cache forgets its counters (a Redis flush or restart)
    clear_cache()
    # then: the two reveals are counted again from the audit log, so two more are refused
    response = api.get(f"/api/v1/orders/{placed.json()['number']}/codes/")
    assert response.status_code == 429, response.content


def test_a_portal_users_allowance_is_counted_again_after_the_cache_lost_it(tree, clear_cache):
    from riskcontrol.errors import RevealLimitExceeded
    from riskcontrol.services import reveal_guard
    from tests import factories
    from voucherhub.core.audit import audit_record_many

    # given: three reveals an hour, two of them spent by the portal user (guard passed, codes opened, audited)
    settings_set(reveal_limit_per_hour=3)
    user = tree.seller_user
    reveal_guard(actor=user, count=2, ip="10.0.0.1")
    codes = [factories.card_code(sku=tree.sku)[0] for _ in range(2)]
    audit_record_many(actor=user, action="code.reveal", objects=codes, data_for=lambda code: {"by": user.get_username()})
    # when: the cache forgets its counters
    clear_cache()
    # then: two more are refused, counted again from the audit log
    with pytest.raises(RevealLimitExceeded):
        reveal_guard(actor=user, count=2, ip="10.0.0.1")
