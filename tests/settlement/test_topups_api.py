"""The distributor's top-up API (POST /api/v1/topups/, GET /api/v1/topups/<id or number>/) and the webhook on
a top-up's final result."""

from decimal import Decimal

import pytest

from settlement.models import Order, WebhookDelivery
from settlement.services.notify import webhook_endpoint_set
from supply.models import Topup
from tests.settlement.test_api import Api
from tests.settlement.topup_fixtures import (
    SELLER_PRICE,
    finish,
    ledger_ok,
    topup_world_fixture,  # noqa: F401 (the topup_world fixture)
    wallet_balance,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/topups/"


@pytest.fixture
def api(client, tree, topup_world):
    return Api(client, tree.seller)


def body(world, **over):
    return {"sku": world.sku.code, "account": "13800138000", "customer_ref": "C-7", **over}


def test_a_top_up_is_placed_once_per_key_and_read_back_by_id_or_number(api, tree, topup_world):
    # when the distributor posts a top-up
    response = api.post(URL, body(topup_world), idempotency_key="t-1")
    # then it is paid from the wallet and under way at the supplier
    assert response.status_code == 201, response.content
    sent = response.json()
    assert sent["status"] == "paid" and sent["topup_status"] == "pending"
    assert (sent["sku"], sent["account"], sent["customer_ref"]) == (topup_world.sku.code, "13800138000", "C-7")
    assert Decimal(sent["total"]) == SELLER_PRICE and Decimal(sent["face_value"]) == Decimal("50.00")
    assert wallet_balance(tree.seller) == Decimal("500.00") - SELLER_PRICE
    # a retry returns the first answer and places nothing
    replay = api.post(URL, body(topup_world), idempotency_key="t-1")
    assert replay.status_code == 201 and replay.json() == sent and replay["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1 and Topup.objects.count() == 1
    # another body under the same key is refused
    other = api.post(URL, body(topup_world, account="13900139000"), idempotency_key="t-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    # it reads back by id and by number, and shows the outcome once supply has it
    order = Order.objects.get()
    finish(order, "success", delivered="50.00")
    for ref in (str(sent["id"]), sent["number"], "C-7"):  # also by its customer_ref (a VoucherHub buying from us asks so)
        got = api.get(f"{URL}{ref}/")
        assert got.status_code == 200, got.content
        assert got.json()["number"] == sent["number"] and got.json()["status"] == "delivered"
    ledger_ok()


def test_a_neighbours_top_up_is_not_found_by_id_or_number(api, client, tree, topup_world, finance_user):
    from tests.settlement.conftest import fund

    fund(tree.other, "100.00", actor=finance_user)
    neighbour = Api(client, tree.other)
    theirs = neighbour.post(URL, body(topup_world), idempotency_key="n-1").json()
    for ref in (str(theirs["id"]), theirs["number"], "C-7"):
        response = api.get(f"{URL}{ref}/")
        assert response.status_code == 404, response.content
    # nor is an order of codes a top-up
    codes = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="c-1").json()
    assert api.get(f"{URL}{codes['number']}/").status_code == 404


@pytest.mark.parametrize("account", ["12345", "", "1380013800x"])
def test_a_bad_account_is_refused_with_400_naming_account_and_nothing_is_written(api, tree, topup_world, account):
    response = api.post(URL, body(topup_world, account=account), idempotency_key=f"bad-{account}")
    assert response.status_code == 400, response.content
    assert "account" in response.json()["error"]["fields"]
    assert not Order.objects.exists() and not Topup.objects.exists()
    assert wallet_balance(tree.seller) == Decimal("500.00")


def test_a_code_sku_is_not_a_top_up(api, tree, topup_world):
    response = api.post(URL, body(topup_world, sku=tree.sku.code), idempotency_key="codes")
    assert response.status_code == 400 and "sku" in response.json()["error"]["fields"]
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "status, delivered, event, order_status",
    [
        ("success", "50.00", "topup.succeeded", "delivered"),
        ("failed", None, "topup.failed", "refunded"),
        ("partial", "25.00", "topup.partial", "partially_refunded"),
    ],
)
def test_the_distributor_gets_a_webhook_on_the_final_result(api, tree, topup_world, status, delivered, event, order_status):
    webhook_endpoint_set(distributor=tree.seller, url="http://127.0.0.1:9/hook")
    api.post(URL, body(topup_world), idempotency_key="w-1")
    order = Order.objects.get()
    assert not WebhookDelivery.objects.filter(event__startswith="topup.").exists()  # nothing final yet
    finish(order, status, delivered=delivered)
    finish(order, status, delivered=delivered)  # a repeated signal sends no second webhook
    delivery = WebhookDelivery.objects.get(event__startswith="topup.")
    assert delivery.event == event and delivery.order == order
    data = delivery.payload["data"]
    assert data["order"] == order.number and data["status"] == order_status
    assert data["topup"]["status"] == status and data["topup"]["account"] == "13800138000"
    assert data["delivered_value"] == delivered and data["face_value"] == "50.00"
    assert "codes_url" not in data and data["topup_url"] == f"/api/v1/topups/{order.number}/"
    ledger_ok()


def test_a_top_up_the_wallet_does_not_cover_is_402_and_nothing_is_written(client, tree, topup_world):
    broke = Api(client, tree.other)  # its wallet is empty, without credit
    response = broke.post(URL, body(topup_world), idempotency_key="broke-1")
    assert response.status_code == 402 and response.json()["error"]["code"] == "insufficient_funds", response.content
    assert not Order.objects.exists() and not Topup.objects.exists()
