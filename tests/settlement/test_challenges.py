"""Risk control's picture challenge can be answered wherever an order is placed: the storefront (tested in
tests/riskcontrol), the distributor portal and the signed order API. A challenge is spent by its first
answer, right or wrong; a wrong one never lets the order through and never half-writes it."""

from decimal import Decimal

import pytest
from captcha.models import CaptchaStore
from django.urls import reverse

from riskcontrol.models import Channel, RiskRule
from settlement.models import Order
from tests.riskcontrol.conftest import make_rule
from tests.settlement.conftest import fund
from tests.settlement.test_api import Api
from voucherhub.core.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def challenge_rule(channel: str, action=RiskRule.RuleAction.CHALLENGE) -> RiskRule:
    return make_rule(
        name=f"{channel} orders over ¥10", kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("10"), action=action, channels=[channel]
    )


def answer_of(key: str) -> str:
    return CaptchaStore.objects.get(hashkey=key).response


# --- The signed order API ---------------------------------------------------------------------------------


@pytest.fixture
def api(client, tree, finance_user):
    fund(tree.seller, "500.00", actor=finance_user)
    return Api(client, tree.seller)


def new_challenge(client) -> str:
    response = client.post("/api/v1/risk/challenge/")
    assert response.status_code == 201
    return response.json()["key"]


def test_an_api_client_answers_the_challenge_and_its_order_goes_through(api, client, tree):
    challenge_rule(Channel.API)
    order = {"sku": tree.sku.code, "quantity": 2, "customer_ref": "C-9"}
    asked = api.post("/api/v1/orders/", order, idempotency_key="order-9")
    assert asked.status_code == 428
    error = asked.json()["error"]
    assert error["code"] == "challenge_required" and "/api/v1/risk/challenge/" in error["message"]
    assert not Order.objects.exists() and not IdempotencyRecord.objects.exists()  # nothing half-written

    key = new_challenge(client)
    answered = {**order, "challenge_key": key, "challenge_answer": answer_of(key)}
    placed = api.post("/api/v1/orders/", answered, idempotency_key="order-9")  # the same key: the first try left nothing
    assert placed.status_code == 201, placed.content
    body = placed.json()
    assert body["status"] == "delivered" and len(body["codes"]) == 2
    assert not CaptchaStore.objects.filter(hashkey=key).exists()  # spent

    # A replay is the same order, with the spent challenge or without one.
    for replay in (answered, order):
        again = api.post("/api/v1/orders/", replay, idempotency_key="order-9")
        assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
        assert again.json()["number"] == body["number"]
    assert Order.objects.count() == 1


def test_a_wrong_answer_spends_the_challenge_and_places_nothing(api, client, tree):
    challenge_rule(Channel.API)
    key = new_challenge(client)
    right = answer_of(key)
    wrong = api.post(
        "/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "challenge_key": key, "challenge_answer": "nope"}, idempotency_key="w-1"
    )
    assert wrong.status_code == 428
    assert wrong.json()["error"]["fields"] == {"challenge_answer": ["验证答案不正确。请获取新的验证图片后重试。"]}  # the API speaks Chinese
    # The right characters for the spent challenge do not work any more.
    late = api.post(
        "/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "challenge_key": key, "challenge_answer": right}, idempotency_key="w-1"
    )
    assert late.status_code == 428 and "challenge_answer" in late.json()["error"]["fields"]
    assert not Order.objects.exists() and not IdempotencyRecord.objects.exists()


def test_a_challenge_answer_alone_is_a_field_error(api, tree):
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "challenge_answer": "abcd"}, idempotency_key="h-1")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"challenge_key": ["challenge_key 和 challenge_answer 需要同时提供。"]}


def test_an_api_order_that_needs_no_challenge_ignores_an_answer_it_did_not_need(api, client, tree):
    key = new_challenge(client)
    response = api.post(
        "/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "challenge_key": key, "challenge_answer": "wrong"}, idempotency_key="n-1"
    )
    assert response.status_code == 201 and response.json()["status"] == "delivered"


def test_a_block_is_not_a_challenge_whatever_the_answer(api, client, tree):
    challenge_rule(Channel.API, action=RiskRule.RuleAction.BLOCK)
    key = new_challenge(client)
    response = api.post(
        "/api/v1/orders/",
        {"sku": tree.sku.code, "quantity": 1, "challenge_key": key, "challenge_answer": answer_of(key)},
        idempotency_key="b-1",
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "risk_blocked"
    assert not Order.objects.exists()


# --- The distributor portal -------------------------------------------------------------------------------


def challenge_key_in(page: str) -> str:
    marker = 'name="challenge_key" value="'
    assert marker in page, "no challenge on the page"
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_a_portal_buyer_answers_the_picture_and_the_order_is_placed(funded_seller_client, tree):
    challenge_rule(Channel.PORTAL)
    url = reverse("settlement:portal-buy")
    order = {"sku": tree.sku.code, "quantity": 2, "step": "confirm"}
    asked = funded_seller_client.post(url, order)
    assert asked.status_code == 428 and not Order.objects.exists()
    page = asked.content.decode()
    assert 'data-testid="challenge"' in page and "Please type the characters in the picture to continue." in page
    key = challenge_key_in(page)

    wrong = funded_seller_client.post(url, {**order, "challenge_key": key, "challenge_answer": "nope"})
    assert wrong.status_code == 428 and "The characters do not match. Try the new picture." in wrong.content.decode()
    assert not CaptchaStore.objects.filter(hashkey=key).exists() and not Order.objects.exists()
    key = challenge_key_in(wrong.content.decode())
    assert CaptchaStore.objects.filter(hashkey=key).exists()  # a fresh picture

    placed = funded_seller_client.post(url, {**order, "challenge_key": key, "challenge_answer": answer_of(key)})
    assert placed.status_code == 302, placed.content
    made = Order.objects.get()
    assert made.channel == Order.Channel.PORTAL and made.status == Order.Status.DELIVERED and made.quantity == 2
    assert placed["Location"] == reverse("settlement:portal-order", args=[made.number])


def test_a_portal_order_refused_by_risk_control_says_why_with_403(funded_seller_client, tree):
    challenge_rule(Channel.PORTAL, action=RiskRule.RuleAction.BLOCK)
    response = funded_seller_client.post(reverse("settlement:portal-buy"), {"sku": tree.sku.code, "quantity": 1, "step": "confirm"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "The amount ¥26.00 is at or above the threshold ¥10.00." in page and 'data-testid="challenge"' not in page
    assert not Order.objects.exists()


def test_a_portal_challenge_rule_leaves_the_storefront_and_the_api_alone(api, tree):
    challenge_rule(Channel.PORTAL)
    assert api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="a-1").status_code == 201
