import csv
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from catalog.vault import keyring
from settlement.models import ExportJob, Order, Statement
from settlement.services.exports import export_start
from settlement.services.orders import order_place, order_refund
from settlement.services.statements import statement_generate, statement_reconcile
from settlement.services.wallets import wallet_for
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal


def test_statement_totals_and_reconciled_statements_are_immutable(tree, finance_user):
    start = timezone.now() - timedelta(minutes=1)
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    order_refund(order=order, actor=finance_user, reason="bad", quantity=1)
    end = timezone.now() + timedelta(minutes=1)
    statement = statement_generate(wallet=wallet_for(tree.seller), start=start, end=end, actor=finance_user)
    assert (statement.opening_balance, statement.topups, statement.purchases, statement.refunds, statement.closing_balance) == (
        D("0.00"),
        D("100.00"),
        D("52.00"),
        D("26.00"),
        D("74.00"),
    )
    assert statement.order_count == 1
    mid = statement_generate(wallet=wallet_for(tree.mid), start=start, end=end, kind=Statement.Kind.MONTHLY)
    assert mid.commission_earned == D("2.00") and mid.commission_clawed_back == D("1.00") and mid.commission_closing == D("1.00")
    statement_reconcile(statement=mid, actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    again = statement_generate(wallet=wallet_for(tree.mid), start=start, end=end, kind=Statement.Kind.MONTHLY)
    assert again.pk == mid.pk and again.commission_earned == D("2.00")  # reconciled: unchanged


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_streaming_exports_have_every_row_and_no_plaintext_code(tree, finance_user, fmt):
    fund(tree.seller, "200.00", actor=finance_user)
    orders = [order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2) for _ in range(3)]
    plain = [
        keyring().open(ciphertext=i.code.ciphertext, key_id=i.code.key_id, blind_index=i.code.blind_index)
        for o in orders
        for i in o.items.select_related("code")
    ]
    for kind in ("ledger", "orders", "commission"):
        job = export_start(kind=kind, fmt=fmt, actor=finance_user, run_now=True)
        assert job.status == ExportJob.Status.DONE and job.progress == 100
        if fmt == "xlsx":
            text = "\n".join(
                ",".join(str(c) for c in row) for row in load_workbook(job.file_path, read_only=True).active.iter_rows(values_only=True)
            )
        else:
            text = open(job.file_path, encoding="utf-8-sig").read()
            assert len(list(csv.reader(text.splitlines()))) == job.total_rows + 1
        assert job.total_rows > 0
        for code in plain:
            assert code not in text


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_supplier_statement_counts_codes_consumed_per_batch_at_cost(tree, finance_user, fmt):
    fund(tree.seller, "500.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=3)
    released = order_place(channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku,
                           quantity=2, contact="a@example.test", lookup_password="secret-1", pay_method="sandbox")  # fmt: skip
    assert released.status == Order.Status.PENDING  # reserved, never sold: not consumed
    job = export_start(kind="supplier", fmt=fmt, actor=finance_user, run_now=True)
    if fmt == "xlsx":
        rows = list(load_workbook(job.file_path).active.iter_rows(values_only=True))
    else:
        rows = list(csv.reader(open(job.file_path, encoding="utf-8-sig")))
    assert rows[0] == ("supplier", "batch", "batch_label", "sku", "codes", "unit_cost", "cost") or rows[0] == [
        "supplier", "batch", "batch_label", "sku", "codes", "unit_cost", "cost"
    ]  # fmt: skip
    assert len(rows) == 2
    assert str(rows[1][3]) == tree.sku.code and int(rows[1][4]) == 3 and D(str(rows[1][6])) == D("60.00")
