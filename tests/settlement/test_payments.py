from decimal import Decimal

import pytest
from django.core import mail

from settlement.adapters import SandboxAdapter
from settlement.models import Order, PaymentCallback
from settlement.selectors.ledger import ledger_check
from settlement.services.orders import order_place
from settlement.services.payments import payment_callback_receive, payment_for_order

pytestmark = pytest.mark.django_db
Outcome = PaymentCallback.Outcome


def place(tree):
    return order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=tree.seller,
        storefront=tree.storefront,
        sku=tree.sku,
        quantity=1,
        contact="buyer@example.test",
        lookup_password="secret-123",
        pay_method="sandbox",
    )


def callback(payment, *, event_id, event_type="payment.succeeded", amount=None, sign=True):
    adapter = SandboxAdapter()
    body = adapter.callback_body(event_id=event_id, event_type=event_type, payment_number=payment.number, amount=amount or payment.amount)
    headers = {adapter.SIGNATURE_HEADER: adapter.sign(body) if sign else "0" * 64}
    return payment_callback_receive(adapter_name="sandbox", body=body, headers=headers)


def test_repeated_callback_changes_nothing(tree):
    order = place(tree)
    payment = payment_for_order(order=order)
    assert callback(payment, event_id="e1").outcome == Outcome.APPLIED
    assert callback(payment, event_id="e1").outcome == Outcome.DUPLICATE
    assert callback(payment, event_id="e2").outcome == Outcome.IGNORED  # another success for a paid payment
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert order.transfers.filter(kind="sale").count() == 2  # the sale and its cost, once
    assert ledger_check().ok


def test_out_of_order_failure_after_success_is_ignored(tree):
    order = place(tree)
    payment = payment_for_order(order=order)
    callback(payment, event_id="s1")
    assert callback(payment, event_id="f1", event_type="payment.failed").outcome == Outcome.IGNORED
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_failure_then_late_success_applies(tree):
    order = place(tree)
    payment = payment_for_order(order=order)
    assert callback(payment, event_id="f1", event_type="payment.failed").outcome == Outcome.APPLIED
    assert callback(payment, event_id="s1").outcome == Outcome.APPLIED
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED


def test_amount_mismatch_is_refused_and_alerted(tree, settings):
    settings.ADMINS = [("ops", "ops@example.test")]
    order = place(tree)
    payment = payment_for_order(order=order)
    assert callback(payment, event_id="m1", amount=Decimal("0.01")).outcome == Outcome.AMOUNT_MISMATCH
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert any("mismatch" in m.subject for m in mail.outbox)


def test_bad_signature_is_refused(tree):
    order = place(tree)
    payment = payment_for_order(order=order)
    assert callback(payment, event_id="b1", sign=False).outcome == Outcome.BAD_SIGNATURE
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_withdrawal_approval_replayed_changes_nothing(tree, finance_user, settings):
    from settlement.errors import WithdrawalConflict
    from settlement.models import Account
    from settlement.services.ledger import transfer_post, wallet_account
    from settlement.services.wallets import wallet_for
    from settlement.services.withdrawals import withdrawal_approve, withdrawal_request

    wallet = wallet_for(tree.mid)
    expense = Account.objects.get_or_create(kind="commission_expense", currency="CNY", wallet=None)[0]
    transfer_post(
        kind="commission", lines=[(expense, Decimal("-500.00")), (wallet_account(wallet, "commission_available"), Decimal("500.00"))]
    )
    w = withdrawal_request(wallet=wallet, amount="200.00", payee="ICBC", actor=None, key="wd-1")
    assert withdrawal_request(wallet=wallet, amount="200.00", payee="ICBC", actor=None, key="wd-1").pk == w.pk
    first = withdrawal_approve(withdrawal=w, actor=finance_user, payout_reference="BANK-77")
    again = withdrawal_approve(withdrawal=w, actor=finance_user, payout_reference="BANK-77")
    assert first.decided_at == again.decided_at
    with pytest.raises(WithdrawalConflict):
        withdrawal_approve(withdrawal=w, actor=finance_user, payout_reference="BANK-78")
    assert wallet_account(wallet, "commission_available").balance == Decimal("300.00")
    assert first.fee == Decimal("2.00") and first.net == Decimal("198.00")
    assert ledger_check().ok


def test_a_wallet_topup_paid_through_the_http_callback_moves_the_wallet_once(client, tree):
    """Portal wallet → sandbox payment → the provider's signed POST /pay/callback/sandbox/ → the ledger."""
    from django.urls import reverse

    from settlement.models import Entry, Payment, Transfer
    from settlement.selectors.wallets import wallet_summary, wallet_topups
    from settlement.services.wallets import wallet_for

    client.force_login(tree.seller_user)
    started = client.post(reverse("settlement:portal-wallet"), {"amount": "88.50", "adapter": "sandbox"})
    payment = Payment.objects.get(purpose=Payment.Purpose.TOPUP)
    assert started.status_code == 302 and started["Location"] == reverse("settlement:sandbox-pay", args=[payment.number])
    wallet = wallet_for(tree.seller)
    assert payment.wallet == wallet and wallet_summary(wallet).balance == 0
    client.logout()  # the provider is not logged in

    adapter = SandboxAdapter()
    url = reverse("settlement:payment-callback", args=["sandbox"])

    def post(body, signature):
        return client.post(url, body, content_type="application/json", HTTP_X_SANDBOX_SIGNATURE=signature)

    body = adapter.callback_body(event_id="top-1", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount)
    # a forged callback (signed with another secret, or not at all) is refused and moves nothing
    forged = post(body, "0" * 64)
    assert forged.status_code == 400 and forged.json()["outcome"] == Outcome.BAD_SIGNATURE
    tampered = adapter.callback_body(event_id="top-1", event_type="payment.succeeded", payment_number=payment.number, amount="8850.00")
    assert post(tampered, adapter.sign(body)).status_code == 400
    assert wallet_summary(wallet).balance == 0 and not Transfer.objects.filter(kind=Transfer.Kind.TOPUP).exists()

    applied = post(body, adapter.sign(body))
    assert applied.status_code == 200 and applied.json()["outcome"] == Outcome.APPLIED
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert wallet_summary(wallet).balance == Decimal("88.50")
    [topup] = wallet_topups(wallet)
    assert topup.amount == Decimal("88.50") and topup.transfer.reference == payment.number

    # the provider retries the same event, and sends a second success: nothing moves
    replay = post(body, adapter.sign(body))
    assert replay.status_code == 200 and replay.json()["outcome"] == Outcome.DUPLICATE
    again = adapter.callback_body(event_id="top-2", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount)
    assert post(again, adapter.sign(again)).json()["outcome"] == Outcome.IGNORED
    assert wallet_summary(wallet).balance == Decimal("88.50")
    assert Transfer.objects.filter(kind=Transfer.Kind.TOPUP).count() == 1
    assert Entry.objects.filter(transfer__kind=Transfer.Kind.TOPUP).count() == 2
    assert ledger_check().ok
