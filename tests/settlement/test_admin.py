"""The settlement admin: read-only money, changes through actions that call services, exports, no plaintext codes."""

import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from catalog.vault import keyring
from settlement.models import Entry, Order, Wallet, Withdrawal
from settlement.selectors.wallets import wallet_summary
from settlement.services.commission import commission_release
from settlement.services.orders import order_place
from settlement.services.statements import statement_generate
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_request
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance_admin(client, finance_user):
    client.force_login(finance_user)
    return client


def test_every_settlement_admin_list_and_detail_opens_read_only_without_codes(finance_admin, tree, finance_user, ops_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    codes = [keyring().open(ciphertext=i.code.ciphertext, key_id=i.code.key_id, blind_index=i.code.blind_index) for i in order.items.all()]
    for model in ("order", "wallet", "transfer", "entry", "payment", "paymentcallback", "commissionaccrual", "withdrawal", "statement"):
        response = finance_admin.get(reverse(f"admin:settlement_{model}_changelist"))
        assert response.status_code == 200, model
        assert all(c not in response.content.decode() for c in codes)
    detail = finance_admin.get(reverse("admin:settlement_order_change", args=[order.pk]))
    assert detail.status_code == 200 and all(c not in detail.content.decode() for c in codes)
    assert 'name="total"' not in detail.content.decode() and 'name="status"' not in detail.content.decode()
    assert finance_admin.get(reverse("admin:settlement_order_add")).status_code == 403


def test_topup_and_refund_go_through_services(finance_admin, client, tree, finance_user, ops_user):
    wallet = wallet_for(tree.seller)
    response = finance_admin.post(
        reverse("admin:settlement_wallet_topup", args=[wallet.pk]), {"amount": "80.00", "reference": "BANK-1", "note": ""}
    )
    assert response.status_code == 302
    assert wallet_summary(Wallet.objects.get(pk=wallet.pk)).balance == Decimal("80.00")
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    response = finance_admin.post(reverse("admin:settlement_order_refund", args=[order.pk]), {"quantity": "1", "reason": "bad code"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "partially_refunded"
    assert wallet_summary(wallet).balance == Decimal("54.00")


def test_withdrawal_approval_in_the_admin_is_idempotent(finance_admin, tree, finance_user, settings):
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    fund(tree.seller, "500.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=10)
    for accrual in wallet_for(tree.mid).commissions.all():
        commission_release(accrual=accrual)
    withdrawal = withdrawal_request(wallet=wallet_for(tree.mid), amount=Decimal("10.00"), payee="ICBC", actor=None)
    url = reverse("admin:settlement_withdrawal_approve", args=[withdrawal.pk])
    for _ in range(2):
        assert finance_admin.post(url, {"payout_reference": "PAY-1"}).status_code == 302
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.APPROVED and withdrawal.payout_reference == "PAY-1"
    assert wallet_summary(wallet_for(tree.mid)).commission_withdrawing == Decimal("0.00")


def test_admin_export_resources_have_the_rows_and_no_codes(tree, finance_user):
    from settlement.resources import CommissionResource, EntryResource, OrderResource

    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    codes = [keyring().open(ciphertext=i.code.ciphertext, key_id=i.code.key_id, blind_index=i.code.blind_index) for i in order.items.all()]
    orders = OrderResource().export()
    assert orders.headers[0] == "number" and orders.dict[0]["number"] == order.number and orders.dict[0]["distributor"] == "seller"
    entries = EntryResource().export()
    assert {row["order"] for row in entries.dict} >= {order.number}
    commission = CommissionResource().export()
    assert len(commission.dict) == 2
    text = orders.csv + entries.csv + commission.csv
    assert all(c not in text for c in codes)


def _admin_export_xlsx(client, model: str):
    """Click the admin's Export button and choose XLSX, as a person does; returns the text of every part of the
    file (its zip members are deflated) and the sheet's rows."""
    url = reverse(f"admin:settlement_{model}_export")
    form = client.get(url).context["form"]
    xlsx = next(value for value, label in form.fields["format"].choices if label == "xlsx")
    response = client.post(url, {"format": xlsx, "resource": 0})
    assert response.status_code == 200, model
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith("attachment;") and ".xlsx" in response["Content-Disposition"]
    parts = zipfile.ZipFile(io.BytesIO(response.content))
    text = b"".join(parts.read(name) for name in parts.namelist()).decode()
    return text, list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))


def test_admin_export_buttons_give_real_xlsx_with_the_expected_columns_and_no_codes(finance_admin, tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    codes = [keyring().open(ciphertext=i.code.ciphertext, key_id=i.code.key_id, blind_index=i.code.blind_index) for i in order.items.all()]
    statement = statement_generate(
        wallet=wallet_for(tree.seller), start=timezone.now() - timedelta(days=1), end=timezone.now() + timedelta(days=1)
    )

    text, rows = _admin_export_xlsx(finance_admin, "order")
    assert list(rows[0]) == [
        "number", "created_at", "channel", "distributor", "storefront", "sku", "quantity", "unit_price", "total", "currency",
        "pay_method", "status", "hold", "refunded_quantity", "refunded_amount", "paid_at", "delivered_at", "campaign", "referrer",
        "customer_ref",
    ]  # fmt: skip
    assert len(rows) == 2 and rows[1][0] == order.number and rows[1][3] == "seller" and float(rows[1][8]) == 52.0
    texts = [text]

    text, rows = _admin_export_xlsx(finance_admin, "entry")
    assert list(rows[0]) == [
        "id", "created_at", "transfer", "kind", "reference", "order", "account", "account_kind", "distributor", "currency", "amount",
        "balance_after", "memo",
    ]  # fmt: skip
    assert {r[5] for r in rows[1:]} >= {order.number} and len(rows) - 1 == Entry.objects.count()
    texts.append(text)

    text, rows = _admin_export_xlsx(finance_admin, "statement")
    assert list(rows[0]) == [
        "number", "distributor", "kind", "period_start", "period_end", "currency", "opening_balance", "topups", "purchases", "refunds",
        "closing_balance", "commission_opening", "commission_earned", "commission_released", "commission_clawed_back", "withdrawals",
        "commission_closing", "debt_closing", "order_count", "campaign_discounts", "status", "reconciled_at",
    ]  # fmt: skip
    assert len(rows) == 2 and rows[1][0] == statement.number and float(rows[1][10]) == 48.0
    texts.append(text)

    for text in texts:
        assert all(code not in text for code in codes)
