"""Threaded races on PostgreSQL: the last codes, and wallet debits near the credit limit."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from catalog.models import CardCode
from catalog.services import codes_generate
from settlement.errors import InsufficientFunds, OutOfStock
from settlement.models import Account, Order, OrderItem
from settlement.selectors.ledger import ledger_check
from settlement.services.ledger import wallet_account
from settlement.services.orders import order_place
from settlement.services.wallets import wallet_for
from tests import factories
from tests.settlement.conftest import fund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(n, work):
    barrier = threading.Barrier(n)
    results = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            outcome = ("ok", work())
        except Exception as exc:  # noqa: BLE001 - the outcome is what we count
            outcome = ("error", exc)
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_fifty_buyers_for_the_last_twenty_codes(tree, finance_user):
    sku = factories.SkuFactory(face_value=Decimal("30.00"), cost_price=Decimal("20.00"))
    from channels.models import PriceEntry

    PriceEntry.objects.create(
        level=tree.seller.level, sku=sku, purchase_price=Decimal("26.00"), suggested_retail=Decimal("29.90"), price_floor=Decimal("27.00")
    )
    codes_generate(sku=sku, count=20)
    fund(tree.seller, "10000.00", actor=finance_user)
    results = race(50, lambda: order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=sku, quantity=1).number)
    sold = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(sold) == 20 and len(set(sold)) == 20
    assert len(refused) == 30 and all(isinstance(e, OutOfStock) for e in refused), {type(e) for e in refused}
    live = OrderItem.objects.filter(order__sku=sku, state__in=OrderItem.LIVE)
    assert live.count() == 20 and live.values("code_id").distinct().count() == 20
    assert CardCode.objects.filter(sku=sku, status="sold").count() == 20
    assert wallet_account(wallet_for(tree.seller), Account.Kind.WALLET).balance == Decimal("10000.00") - 20 * Decimal("26.00")
    assert ledger_check().ok


def test_wallet_debits_race_near_the_credit_limit(tree, finance_user):
    """50 buyers at once on a wallet that covers 5 orders: exactly 5 are paid, the wallet never goes below
    minus its credit limit, the other 45 are refused cleanly (nothing of them is kept)."""
    codes_generate(sku=tree.sku, count=30)  # 60 codes: stock is never what refuses an order here
    # 100.00 + 30.00 credit covers exactly 5 orders of 26.00
    wallet = fund(tree.seller, "100.00", actor=finance_user, credit_limit="30.00")
    results = race(50, lambda: order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1).number)
    ok = [v for kind, v in results if kind == "ok"]
    errors = [v for kind, v in results if kind == "error"]
    assert len(ok) == 5 and len(set(ok)) == 5
    assert len(errors) == 45 and all(isinstance(e, InsufficientFunds) for e in errors), {type(e) for e in errors}
    wallet.refresh_from_db()
    assert wallet.credit_limit == Decimal("30.00")
    account = wallet_account(wallet, Account.Kind.WALLET)
    assert account.balance == Decimal("-30.00") and account.balance >= -wallet.credit_limit
    # no entry ever took the wallet below minus its limit: its running balance, entry by entry
    running = Decimal("0")
    for amount in account.entries.order_by("pk").values_list("amount", flat=True):
        running += amount
        assert running >= -Decimal("30.00")
    assert set(Order.objects.values_list("number", flat=True)) == set(ok)
    assert OrderItem.objects.count() == 5
    assert CardCode.objects.filter(sku=tree.sku, status="sold").count() == 5
    assert CardCode.objects.filter(sku=tree.sku, status="available").count() == 55
    assert ledger_check().ok
