"""Threaded races on PostgreSQL: supply's outcome arriving several times at once (a duplicated callback and the
poller, say) settles a top-up order once."""

from decimal import Decimal

import pytest

from settlement.models import Order, Transfer
from settlement.services.orders import order_place
from settlement.services.topups import topup_order_settle
from tests.settlement.test_concurrency import race
from tests.settlement.topup_fixtures import (
    SELLER_PRICE,
    held_balance,
    ledger_ok,
    topup_world_fixture,  # noqa: F401 (the topup_world fixture)
    wallet_balance,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    "status, delivered, final, wallet",
    [
        ("success", "50.00", Order.Status.DELIVERED, Decimal("500.00") - SELLER_PRICE),
        ("failed", None, Order.Status.REFUNDED, Decimal("500.00")),
        ("partial", "25.00", Order.Status.PARTIALLY_REFUNDED, Decimal("500.00") - Decimal("24.50")),
    ],
)
def test_eight_outcomes_at_once_settle_the_order_once(tree, topup_world, status, delivered, final, wallet):
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=topup_world.sku, quantity=1, account="13800138000")
    kwargs = {"reference": order.number, "status": status, "face_value": Decimal("50.00"), "cost": Decimal("47.50")}
    results = race(8, lambda: topup_order_settle(**kwargs, delivered_value=Decimal(delivered) if delivered else None))
    assert all(kind == "ok" for kind, _value in results), results
    order.refresh_from_db()
    assert order.status == final and wallet_balance(tree.seller) == wallet and held_balance() == 0
    assert order.events.filter(to_status=final).count() == 1
    assert Transfer.objects.filter(order=order, kind=Transfer.Kind.REFUND).count() == (0 if status == "success" else 1)
    ledger_ok()
