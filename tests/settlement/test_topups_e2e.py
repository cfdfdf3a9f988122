"""Top-up orders end to end: placed through the signed API, submitted by supply to the supplier simulator (a real
HTTP server in a thread), whose callbacks come back over real HTTP to the site on a live server; supply's
outcome moves the order's money. The ledger holds after every path."""

import time
from decimal import Decimal

import pytest

from settlement.models import Account, Order, WebhookDelivery
from settlement.services.notify import webhook_endpoint_set
from supply.models import Topup
from supply.simulator import Faults
from tests.settlement.test_api import Api
from tests.settlement.topup_fixtures import (
    SELLER_PRICE,
    balance,
    held_balance,
    ledger_ok,
    topup_world_fixture,  # noqa: F401 (the topup_world fixture)
    wallet_balance,
)
from tests.supply.conftest import simulator, supply_site, topup_wait, upstream_for  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("supply_site")
K = Account.Kind


def order_wait(number: str, *, seconds: float = 15) -> Order:
    """The order once it left PAID (the outcome arrives from the simulator's thread through the live server)."""
    deadline = time.monotonic() + seconds
    while True:
        order = Order.objects.get(number=number)
        if order.status != Order.Status.PAID or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def topup_via_api(client, tree, world, key: str) -> Order:
    response = Api(client, tree.seller).post("/api/v1/topups/", {"sku": world.sku.code, "account": "13800138000"}, idempotency_key=key)
    assert response.status_code == 201, response.content
    return Order.objects.get(number=response.json()["number"])


def test_a_top_up_confirmed_by_the_suppliers_callback_is_delivered_at_the_real_cost(client, tree, topup_world, request):
    add_upstream = request.getfixturevalue("upstream_for")
    add_upstream(topup_world.sku, protocol="v2", cost=Decimal("48.30"))
    webhook_endpoint_set(distributor=tree.seller, url="http://127.0.0.1:9/hook")
    order = topup_via_api(client, tree, topup_world, "e2e-1")
    topup = topup_wait(Topup.objects.get(reference=order.number))
    assert topup.status == Topup.Status.SUCCESS
    order = order_wait(order.number)
    assert order.status == Order.Status.DELIVERED
    assert balance(K.SUPPLIER_PAYABLE) == Decimal("48.30") and balance(K.REVENUE) == SELLER_PRICE and held_balance() == 0
    assert WebhookDelivery.objects.filter(order=order, event="topup.succeeded").count() == 1
    ledger_ok()


def test_a_top_up_every_supplier_fails_is_refunded_to_the_wallet(client, tree, topup_world, request):
    add_upstream = request.getfixturevalue("upstream_for")
    add_upstream(topup_world.sku, protocol="v2", position=1, faults=Faults(failure_rate=1.0))
    add_upstream(topup_world.sku, protocol="gateway", position=2, faults=Faults(failure_rate=1.0))
    order = topup_via_api(client, tree, topup_world, "e2e-2")
    order = order_wait(order.number, seconds=20)
    assert Topup.objects.get(reference=order.number).status == Topup.Status.FAILED
    assert order.status == Order.Status.REFUNDED and order.refunded_amount == SELLER_PRICE
    assert wallet_balance(tree.seller) == Decimal("500.00") and held_balance() == 0 and balance(K.REVENUE) == 0
    ledger_ok()


def test_a_partial_top_up_with_a_duplicated_callback_refunds_the_rest_once(client, tree, topup_world, request):
    add_upstream = request.getfixturevalue("upstream_for")
    add_upstream(topup_world.sku, protocol="v2", faults=Faults(partial_rate=1.0, callback_duplicate_rate=1.0))
    order = topup_via_api(client, tree, topup_world, "e2e-3")
    order = order_wait(order.number)
    assert order.status == Order.Status.PARTIALLY_REFUNDED
    assert order.refunded_amount == Decimal("24.50")  # half of ¥50 arrived: half of ¥49.00 back
    time.sleep(1.5)  # the duplicate callback has come and gone
    order.refresh_from_db()
    assert order.refunded_amount == Decimal("24.50") and held_balance() == 0
    assert wallet_balance(tree.seller) == Decimal("500.00") - Decimal("24.50")
    ledger_ok()
