from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from catalog.models import CardCode
from settlement.errors import InsufficientFunds, NothingToRefund, OutOfStock
from settlement.models import Account, CommissionAccrual, Order, OrderItem
from settlement.selectors.ledger import ledger_check
from settlement.services.commission import commissions_release_due
from settlement.services.ledger import platform_account, wallet_account
from settlement.services.orders import order_code_replace, order_pay, order_place, order_refund, orders_expire
from settlement.services.payments import payment_for_order
from settlement.services.wallets import wallet_for
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal
K = Account.Kind


def balances(distributor):
    wallet = wallet_for(distributor)
    return {kind: wallet_account(wallet, kind).balance for kind in Account.WALLET_KINDS}


def test_portal_order_is_paid_from_the_wallet_and_delivered(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2, actor=tree.seller_user)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert order.total == D("52.00")  # 2 × the 推广员 purchase price
    assert list(order.events.values_list("to_status", flat=True)) == ["pending", "paid", "delivered"]
    codes = CardCode.objects.filter(order_items__order=order)
    assert codes.count() == 2 and set(codes.values_list("status", flat=True)) == {"sold"}
    assert balances(tree.seller)[K.WALLET] == D("48.00")
    # uplines earn frozen commission: mid 1.00 × 2 fixed, top 2 % of 52.00
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == D("2.00")
    assert balances(tree.top)[K.COMMISSION_FROZEN] == D("1.04")
    assert platform_account(K.COST_OF_GOODS).balance == D("-40.00")
    assert order.chain == [tree.mid.pk, tree.top.pk]
    assert ledger_check().ok


def test_order_beyond_wallet_and_credit_is_refused_and_nothing_is_kept(tree, finance_user):
    fund(tree.seller, "30.00", actor=finance_user, credit_limit="20.00")
    with pytest.raises(InsufficientFunds):
        order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2, actor=tree.seller_user)
    assert not Order.objects.exists()
    assert CardCode.objects.filter(status="available").count() == 30
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1, actor=tree.seller_user)
    assert balances(tree.seller)[K.WALLET] == D("4.00")


def test_out_of_stock_is_refused_cleanly(tree, finance_user):
    fund(tree.seller, "10000.00", actor=finance_user)
    with pytest.raises(OutOfStock):
        order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=31, actor=tree.seller_user)
    assert not Order.objects.exists() and balances(tree.seller)[K.WALLET] == D("10000.00")


def storefront_order(tree, **kw):
    return order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=tree.seller,
        storefront=tree.storefront,
        sku=tree.sku,
        quantity=kw.pop("quantity", 1),
        contact="buyer@example.test",
        lookup_password="secret-123",
        pay_method="sandbox",
        **kw,
    )


def test_storefront_order_waits_for_payment_then_books_margin_and_commission(tree):
    order = storefront_order(tree)
    assert order.status == Order.Status.PENDING and order.unit_price == D("29.90")
    assert CardCode.objects.filter(status="reserved").count() == 1
    payment = payment_for_order(order=order)
    order_pay(order=order, payment=payment)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    # the seller's margin: 29.90 - 26.00; uplines on the sale amount
    assert balances(tree.seller)[K.COMMISSION_FROZEN] == D("3.90")
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == D("1.00")
    assert balances(tree.top)[K.COMMISSION_FROZEN] == D("0.60")
    assert platform_account(K.PAYMENT_CLEARING).balance == D("-29.90")
    assert ledger_check().ok


def test_unpaid_orders_expire_and_release_their_codes_safely_twice(tree):
    order = storefront_order(tree, quantity=3)
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert orders_expire() == 1
    assert orders_expire() == 0
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED
    assert CardCode.objects.filter(status="available").count() == 30
    assert set(order.items.values_list("state", flat=True)) == {OrderItem.State.RELEASED}


def test_payment_after_expiry_redelivers_when_stock_is_left(tree):
    order = storefront_order(tree)
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    orders_expire()
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED


def test_payment_after_expiry_with_no_stock_left_is_refunded_automatically(tree, finance_user):
    order = storefront_order(tree)
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    orders_expire()
    fund(tree.other, "1000.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.other, sku=tree.sku, quantity=30)
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.refunded_amount == order.total
    assert platform_account(K.REVENUE).balance == D("780.00")  # only the other's sale remains
    assert ledger_check().ok


def test_refund_voids_unredeemed_codes_and_claws_back_commission(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    order_refund(order=order, actor=finance_user, reason="bad code", quantity=1)
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_REFUNDED and order.refunded_amount == D("26.00")
    assert CardCode.objects.filter(status="void").count() == 1
    assert balances(tree.seller)[K.WALLET] == D("74.00")
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == D("1.00")
    order_refund(order=order, actor=finance_user, reason="the rest")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert balances(tree.seller)[K.WALLET] == D("100.00")
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == 0 and balances(tree.top)[K.COMMISSION_FROZEN] == 0
    with pytest.raises(NothingToRefund):
        order_refund(order=order, actor=finance_user, reason="again")
    assert ledger_check().ok


def test_redeemed_codes_cannot_be_refunded(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    CardCode.objects.filter(order_items__order=order).update(status="redeemed")
    with pytest.raises(NothingToRefund):
        order_refund(order=order, actor=finance_user, reason="too late")


def test_commission_is_released_after_the_freeze_or_on_redemption_and_the_job_is_safe_twice(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    first = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    second = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    assert commissions_release_due() == 0
    CardCode.objects.filter(order_items__order=first).update(status="redeemed")
    assert commissions_release_due() == 2  # mid and top, on the redeemed order
    assert commissions_release_due() == 0
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("1.00")
    CommissionAccrual.objects.filter(order=second).update(release_after=timezone.now() - timedelta(seconds=1))
    assert commissions_release_due() == 2
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("2.00") and balances(tree.mid)[K.COMMISSION_FROZEN] == 0
    assert ledger_check().ok


def test_refund_after_withdrawal_creates_debt_set_off_against_future_commission(tree, finance_user, settings):
    from settlement.services.withdrawals import withdrawal_approve, withdrawal_request

    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    settings.SETTLEMENT_WITHDRAWAL_FEE_MINIMUM = "0.00"
    settings.SETTLEMENT_WITHDRAWAL_FEE_RATE = "0"
    fund(tree.seller, "1000.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=3)
    CommissionAccrual.objects.update(release_after=timezone.now() - timedelta(seconds=1))
    commissions_release_due()
    mid_wallet = wallet_for(tree.mid)
    w = withdrawal_request(wallet=mid_wallet, amount="3.00", payee="ICBC 6222…", actor=None)
    withdrawal_approve(withdrawal=w, actor=finance_user, payout_reference="PAY-1")
    order_refund(order=order, actor=finance_user, reason="all bad")
    assert balances(tree.mid)[K.COMMISSION_DEBT] == D("-3.00")  # never lost, never capped
    # the next sale's commission pays the debt off first on release
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    CommissionAccrual.objects.filter(status="frozen").update(release_after=timezone.now() - timedelta(seconds=1))
    commissions_release_due()
    assert balances(tree.mid)[K.COMMISSION_DEBT] == D("-1.00")
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == 0
    assert ledger_check().ok


def test_after_sales_replacement_voids_the_old_code_and_delivers_a_new_one(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    item = order.items.get()
    new_item = order_code_replace(item=item, actor=finance_user, reason="reported as already used")
    item.refresh_from_db()
    assert item.state == OrderItem.State.REPLACED and item.code.status == "void"
    assert new_item.code.status == "sold" and new_item.replaces_id == item.pk
    assert ledger_check().ok


def test_storefront_delivery_mail_has_the_link_never_the_code(tree, django_capture_on_commit_callbacks):
    order = storefront_order(tree)
    with django_capture_on_commit_callbacks(execute=True):
        order_pay(order=order, payment=payment_for_order(order=order))
    assert len(mail.outbox) == 1 and "/my/" in mail.outbox[0].body
    for message in mail.outbox:
        for code in CardCode.objects.filter(order_items__order=order):
            from catalog.vault import keyring

            plain = keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)
            assert plain not in message.body


def test_an_illegal_order_transition_raises_the_domain_error_and_writes_nothing(tree, finance_user):
    from django.db import transaction

    from settlement.errors import InvalidOrderTransition
    from settlement.models import OrderEvent
    from settlement.services.orders import _status_set

    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    events = list(OrderEvent.objects.filter(order=order).values_list("pk", flat=True))
    for illegal in (Order.Status.PENDING, Order.Status.PAID, Order.Status.EXPIRED, Order.Status.CANCELLED):
        with pytest.raises(InvalidOrderTransition) as caught, transaction.atomic():
            _status_set(Order.objects.select_for_update().get(pk=order.pk), illegal)
        assert caught.value.status == 409 and order.number in str(caught.value)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert list(OrderEvent.objects.filter(order=order).values_list("pk", flat=True)) == events
    # a refunded order is final
    order_refund(order=order, actor=finance_user, reason="bad")
    with pytest.raises(InvalidOrderTransition):
        _status_set(Order.objects.get(pk=order.pk), Order.Status.DELIVERED)
    assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED


def commission_available_give(distributor, amount):
    """Available commission for a withdrawal test, booked as the platform's commission expense."""
    from settlement.models import Transfer
    from settlement.services.ledger import transfer_post

    transfer_post(
        kind=Transfer.Kind.RELEASE,
        lines=[
            (platform_account(K.COMMISSION_EXPENSE), -D(amount)),
            (wallet_account(wallet_for(distributor), K.COMMISSION_AVAILABLE), D(amount)),
        ],
        reference=f"TEST-{distributor.pk}",
        key=f"test-commission:{distributor.pk}:{amount}",
    )


def test_a_withdrawal_below_the_default_minimum_is_refused_with_a_field_error(tree):
    from settlement import conf
    from settlement.errors import WithdrawalRefused
    from settlement.models import Withdrawal
    from settlement.services.withdrawals import withdrawal_request

    assert conf.withdrawal_minimum() == D("100.00")  # the shipped default, not a lowered one
    commission_available_give(tree.mid, "150.00")
    with pytest.raises(WithdrawalRefused) as caught:
        withdrawal_request(wallet=wallet_for(tree.mid), amount="99.99", payee="ICBC 6222 0000", actor=None)
    assert caught.value.field == "amount" and "100.00" in str(caught.value)
    assert not Withdrawal.objects.exists()
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("150.00") and balances(tree.mid)[K.COMMISSION_WITHDRAWING] == 0
    withdrawal = withdrawal_request(wallet=wallet_for(tree.mid), amount="100.00", payee="ICBC 6222 0000", actor=None)
    assert withdrawal.amount == D("100.00") and balances(tree.mid)[K.COMMISSION_WITHDRAWING] == D("100.00")
    assert ledger_check().ok
