"""A finance XLSX reads well in Excel: translated headers, names and labels instead of ids and stored values,
money as numbers with two decimals, times as dates, a bold frozen header row and columns that fit."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone, translation
from openpyxl import load_workbook

from settlement.models import Order
from settlement.services.exports import export_start
from settlement.services.orders import order_place
from settlement.services.statements import statement_generate
from settlement.services.wallets import wallet_for
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db


def _sheet(job, title=None):
    book = load_workbook(job.file_path)
    return book[title] if title else book.worksheets[-1]


@pytest.mark.parametrize(
    ("language", "headers", "labels"),
    [
        ("zh-hans", ["时间", "分销商", "金额"], {"钱包"}),
        ("en", ["Time", "Distributor", "Amount"], {"Wallet"}),
    ],
)
def test_a_statement_xlsx_reads_well_in_excel(tree, finance_user, language, headers, labels):
    start = timezone.now() - timedelta(minutes=1)
    fund(tree.seller, "1234.50", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    end = timezone.now() + timedelta(minutes=1)
    statement = statement_generate(wallet=wallet_for(tree.seller), start=start, end=end, actor=finance_user)
    # when finance downloads the statement in its language
    with translation.override(language):
        job = export_start(kind="statement", fmt="xlsx", actor=finance_user, params={"statement_id": statement.pk}, run_now=True)
    sheet = _sheet(job)
    header = [cell.value for cell in sheet[1]]
    # then the headers are the reader's words, bold, frozen, and every column is wider than Excel's default
    assert all(name in header for name in headers), header
    assert all(cell.font.b for cell in sheet[1]) and sheet.freeze_panes == "A2"
    assert all(sheet.column_dimensions[letter].width > 8.43 for letter in "ABCDEFGHIJKL")
    when, distributor, amount = headers
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]
    # names and labels, not ids and stored values
    assert {row[distributor].value for row in rows} == {tree.seller.name}
    account, kind = header[6], header[3]
    assert labels <= {row[account].value for row in rows}
    assert not {row[kind].value for row in rows} & {"topup", "purchase", "order"}
    # money is a number with two decimals, a time is a date
    money = rows[0][amount]
    assert isinstance(money.value, int | float) and money.number_format == "#,##0.00"
    assert isinstance(rows[0][when].value, datetime)
