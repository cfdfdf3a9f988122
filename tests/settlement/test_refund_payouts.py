"""Refunds of bank-transfer orders wait for finance to pay them back; recording the payout is a service call,
audited, booked once (refunds clearing → payment clearing), idempotent per payout reference."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from settlement.errors import RefundPayoutConflict, SettlementError
from settlement.models import Account, Order, RefundPayout, Transfer
from settlement.selectors.ledger import ledger_check
from settlement.services.ledger import platform_account
from settlement.services.orders import order_place, order_refund
from settlement.services.payments import payment_confirm_manual, payment_for_order
from settlement.services.refund_payouts import refund_payout_record
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
D = Decimal
K = Account.Kind


def consumer_order(tree, finance_user, *, pay_method="manual", quantity=2) -> Order:
    order = order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=tree.seller,
        storefront=tree.storefront,
        sku=tree.sku,
        quantity=quantity,
        contact="buyer@example.test",
        lookup_password="secret-123",
        pay_method=pay_method,
    )
    payment = payment_for_order(order=order)
    if pay_method == "manual":
        payment_confirm_manual(payment=payment, actor=finance_user, amount=payment.amount, bank_reference=f"IN-{order.number}")
    else:
        from settlement.adapters import ADAPTERS
        from settlement.services.payments import payment_callback_receive

        sandbox = ADAPTERS["sandbox"]
        body = sandbox.callback_body(event_id="e1", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount)
        payment_callback_receive(adapter_name="sandbox", body=body, headers={sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    return order


def clearing(kind) -> Decimal:
    return platform_account(kind).balance


def test_a_bank_transfer_refund_waits_for_finance_and_its_payout_is_booked_once(tree, finance_user):
    order = consumer_order(tree, finance_user)
    order_refund(order=order, actor=finance_user, reason="wrong product", quantity=1)
    payout = RefundPayout.objects.get()
    assert (payout.order, payout.amount, payout.status, payout.reference) == (order, D("29.90"), "awaiting", f"{order.number}-R1")
    assert clearing(K.REFUNDS_CLEARING) == D("29.90")  # owed to the buyer until finance pays it

    paid = refund_payout_record(payout=payout, actor=finance_user, payout_reference="ICBC-OUT-1", note="to 6222…")
    assert paid.status == RefundPayout.Status.PAID and paid.paid_by == finance_user and paid.paid_at
    assert clearing(K.REFUNDS_CLEARING) == 0
    assert Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT, order=order).count() == 1
    assert AuditLog.objects.filter(action="refund.payout", actor=finance_user).count() == 1

    # the same payout again (a double click, a retry): nothing more; another reference: refused
    refund_payout_record(payout=payout, actor=finance_user, payout_reference="ICBC-OUT-1")
    with pytest.raises(RefundPayoutConflict):
        refund_payout_record(payout=payout, actor=finance_user, payout_reference="ICBC-OUT-2")
    assert Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT, order=order).count() == 1
    payout.refresh_from_db()
    assert payout.payout_reference == "ICBC-OUT-1"

    order_refund(order=order, actor=finance_user, reason="the other one too")
    assert list(RefundPayout.objects.order_by("pk").values_list("reference", "status")) == [
        (f"{order.number}-R1", "paid"),
        (f"{order.number}-R2", "awaiting"),
    ]
    assert ledger_check().ok


def test_a_payout_needs_its_reference(tree, finance_user):
    order = consumer_order(tree, finance_user, quantity=1)
    order_refund(order=order, actor=finance_user, reason="bad code")
    with pytest.raises(SettlementError) as error:
        refund_payout_record(payout=RefundPayout.objects.get(), actor=finance_user, payout_reference="  ")
    assert error.value.field == "payout_reference"
    assert RefundPayout.objects.get().status == RefundPayout.Status.AWAITING


def test_a_provider_that_refunds_by_itself_leaves_nothing_for_finance(tree, finance_user):
    order = consumer_order(tree, finance_user, pay_method="sandbox", quantity=1)
    order_refund(order=order, actor=finance_user, reason="bad code")
    assert not RefundPayout.objects.exists()
    assert clearing(K.REFUNDS_CLEARING) == 0


def test_finance_records_the_payout_on_its_page(tree, finance_user, finance_client):
    order = consumer_order(tree, finance_user, quantity=1)
    order_refund(order=order, actor=finance_user, reason="bad code")
    payout = RefundPayout.objects.get()
    page = finance_client.get(reverse("settlement:finance-refund-payouts")).content.decode()
    assert f'data-testid="refund-payout-{payout.reference}"' in page and "buyer@example.test" in page
    url = reverse("settlement:finance-refund-payout-record", args=[payout.pk])
    empty = finance_client.post(url, {"payout_reference": "", "status": "awaiting"}, follow=True)
    assert RefundPayout.objects.get().status == RefundPayout.Status.AWAITING
    assert any("打款流水号" in str(m) or "Payout reference" in str(m) for m in empty.context["messages"])
    for _ in range(2):
        response = finance_client.post(url, {"payout_reference": "ICBC-OUT-9", "note": "", "status": "awaiting"})
        assert response.status_code == 302 and response["Location"].endswith("?status=awaiting")
    payout.refresh_from_db()
    assert payout.status == RefundPayout.Status.PAID and payout.payout_reference == "ICBC-OUT-9"
    assert Transfer.objects.filter(kind=Transfer.Kind.REFUND_PAYOUT).count() == 1
    conflict = finance_client.post(url, {"payout_reference": "OTHER", "status": "paid"}, follow=True)
    assert any("ICBC-OUT-9" in str(m) for m in conflict.context["messages"])
    assert (
        f'data-testid="refund-payout-{payout.reference}"'
        not in finance_client.get(reverse("settlement:finance-refund-payouts")).content.decode()
    )
    paid_list = finance_client.get(reverse("settlement:finance-refund-payouts") + "?status=paid").content.decode()
    assert "ICBC-OUT-9" in paid_list


def test_only_finance_sees_and_records_refund_payouts(tree, finance_user, client, ops_user):
    order = consumer_order(tree, finance_user, quantity=1)
    order_refund(order=order, actor=finance_user, reason="bad code")
    payout = RefundPayout.objects.get()
    for user in (ops_user, tree.seller_user):
        client.force_login(user)
        assert client.get(reverse("settlement:finance-refund-payouts")).status_code == 403
        assert (
            client.post(reverse("settlement:finance-refund-payout-record", args=[payout.pk]), {"payout_reference": "X"}).status_code == 403
        )
    assert RefundPayout.objects.get().status == RefundPayout.Status.AWAITING


def test_the_admin_records_a_payout_through_the_service(tree, finance_user, finance_client):
    order = consumer_order(tree, finance_user, quantity=1)
    order_refund(order=order, actor=finance_user, reason="bad code")
    payout = RefundPayout.objects.get()
    assert finance_client.get(reverse("admin:settlement_refundpayout_changelist")).status_code == 200
    url = reverse("admin:settlement_refundpayout_record_payout", args=[payout.pk])
    assert finance_client.post(url, {"payout_reference": "ADM-1"}).status_code == 302
    payout.refresh_from_db()
    assert payout.status == RefundPayout.Status.PAID and clearing(K.REFUNDS_CLEARING) == 0


def test_the_migration_backfills_refunds_made_before_payouts_existed(tree, finance_user):
    order = consumer_order(tree, finance_user)
    order_refund(order=order, actor=finance_user, reason="bad code", quantity=1)
    RefundPayout.objects.all().delete()  # as if refunded before this release
    migration = importlib.import_module("settlement.migrations.0005_refund_payouts")
    migration.backfill(apps, None)
    migration.backfill(apps, None)  # twice: still one
    payout = RefundPayout.objects.get()
    assert (payout.reference, payout.amount, payout.status) == (f"{order.number}-R1", D("29.90"), "awaiting")


def test_the_finance_dashboard_and_nav_lead_to_refund_payouts_and_merchant_statements(tree, finance_user, finance_client):
    from settlement.models import MerchantStatement
    from settlement.services.merchant_statements import merchant_statement_generate
    from tests import factories

    order = consumer_order(tree, finance_user, quantity=1)
    order_refund(order=order, actor=finance_user, reason="bad code")
    today = timezone.localdate()
    merchant_statement_generate(merchant=factories.MerchantFactory(), start=today, end=today)
    home = finance_client.get(reverse("dashboards:finance-home")).content.decode()
    assert 'data-testid="refund-payouts-waiting">1<' in home and "¥29.90" in home
    assert 'data-testid="merchant-statements-open">1<' in home
    assert reverse("settlement:finance-refund-payouts") in home and reverse("settlement:finance-merchant-statements") in home
    nav = finance_client.get(reverse("settlement:finance-withdrawals")).content.decode()
    assert reverse("settlement:finance-refund-payouts") in nav and reverse("settlement:finance-merchant-statements") in nav
    assert MerchantStatement.objects.count() == 1
