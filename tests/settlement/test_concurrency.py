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


def _commission_available(distributor, amount: str) -> Account:
    from settlement.models import Transfer
    from settlement.services.ledger import platform_account, transfer_post

    account = wallet_account(wallet_for(distributor), Account.Kind.COMMISSION_AVAILABLE)
    transfer_post(
        kind=Transfer.Kind.RELEASE,
        lines=[(platform_account(Account.Kind.COMMISSION_EXPENSE), -Decimal(amount)), (account, Decimal(amount))],
        reference=f"TEST-{distributor.pk}",
        key=f"test-commission:{distributor.pk}:{amount}",
    )
    return account


@pytest.fixture
def cheap_withdrawals(settings):
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    settings.SETTLEMENT_WITHDRAWAL_FEE_MINIMUM = "0.00"
    settings.SETTLEMENT_WITHDRAWAL_FEE_RATE = "0"


def test_sixteen_withdrawals_at_once_never_take_more_than_the_commission(tree, finance_user, cheap_withdrawals):
    """16 requests of 100.00 at once against 500.00 of available commission: exactly 5 are taken, the other 11
    are refused on the amount, and paying out everything taken pays exactly the balance."""
    from settlement.errors import WithdrawalRefused
    from settlement.models import Withdrawal
    from settlement.services.withdrawals import withdrawal_approve, withdrawal_request

    # given
    available = _commission_available(tree.mid, "500.00")
    wallet = wallet_for(tree.mid)
    keys = iter(f"wd-race-{n}" for n in range(16))
    key_lock = threading.Lock()

    def request():
        with key_lock:
            key = next(keys)
        return withdrawal_request(wallet=wallet, amount="100.00", payee="ICBC 6222 0000", actor=None, key=key).number

    # when
    results = race(16, request)
    # then
    taken = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(taken) == 5 and len(set(taken)) == 5
    assert len(refused) == 11 and all(isinstance(e, WithdrawalRefused) and e.field == "amount" for e in refused), refused
    available.refresh_from_db()
    assert available.balance == Decimal("0.00")
    withdrawing = wallet_account(wallet, Account.Kind.COMMISSION_WITHDRAWING)
    assert withdrawing.balance == Decimal("500.00")
    running = Decimal("0")
    for amount in available.entries.order_by("pk").values_list("amount", flat=True):
        running += amount
        assert running >= 0
    for withdrawal in Withdrawal.objects.all():
        withdrawal_approve(withdrawal=withdrawal, actor=finance_user, payout_reference=f"BANK-{withdrawal.number}")
    assert sum(Withdrawal.objects.values_list("net", flat=True)) == Decimal("500.00")
    assert ledger_check().ok


def test_sixteen_retries_of_one_withdrawal_take_it_once_and_pay_it_once(tree, finance_user, cheap_withdrawals):
    """The same request sent 16 times at once (one key), then approved 16 times at once: one withdrawal, one payout."""
    from settlement.models import Transfer, Withdrawal
    from settlement.services.withdrawals import withdrawal_approve, withdrawal_request

    available = _commission_available(tree.mid, "150.00")
    wallet = wallet_for(tree.mid)
    results = race(16, lambda: withdrawal_request(wallet=wallet, amount="100.00", payee="ICBC 6222 0000", actor=None, key="wd-one").number)
    assert {kind for kind, _value in results} == {"ok"}, results
    assert len({value for _kind, value in results}) == 1
    withdrawal = Withdrawal.objects.get()
    available.refresh_from_db()
    assert available.balance == Decimal("50.00")

    results = race(16, lambda: withdrawal_approve(withdrawal=withdrawal, actor=finance_user, payout_reference="BANK-1").status)
    assert {value for _kind, value in results} == {Withdrawal.Status.APPROVED}, results
    assert Transfer.objects.filter(kind=Transfer.Kind.WITHDRAWAL_PAYOUT, reference=withdrawal.number).count() == 1
    assert wallet_account(wallet, Account.Kind.COMMISSION_WITHDRAWING).balance == Decimal("0.00")
    assert ledger_check().ok
