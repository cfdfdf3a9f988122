"""Reconciliation: a supplier's statement (CSV / XLSX, Chinese or English headers) against our attempts."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from openpyxl import Workbook

from supply.models import StatementDifference, StatementImport, SupplyAlert, TopupAttempt
from supply.reconciliation import DifferenceResolved, NoteRequired, statement_difference_resolve, statement_import
from supply.statement_files import StatementFileRejected, statement_read
from tests.factories import UserFactory
from tests.supply.opsdata import attempt_make, local_time, product_make, statement_csv, topup_sku_make, upstream_make
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db

Kind = StatementDifference.Kind
S = TopupAttempt.Status


@pytest.fixture
def product():
    return product_make(upstream_make(), topup_sku_make())


@pytest.fixture
def finance():
    return UserFactory(username="fin-recon", role=roles.FINANCE, is_staff=True)


# --- reading the file --------------------------------------------------------------------------------


def test_a_gbk_csv_with_chinese_headers_is_read_with_amounts_statuses_and_times():
    rows = [["S1", "T1-A1", "¥1,048.50", "成功", "2026-12-01 10:00:00"], ["S2", "T2-A1", "48.5元", "失败", ""]]
    data = statement_csv(rows, encoding="gb18030")

    statement = statement_read(data, filename="对账单.csv")

    assert not statement.bad
    first, second = statement.rows
    assert (first.their_number, first.our_number, first.amount, first.status) == ("S1", "T1-A1", Decimal("1048.50"), "success")
    assert timezone.localtime(first.at).strftime("%Y-%m-%d %H:%M") == "2026-12-01 10:00"
    assert (second.amount, second.status, second.at) == (Decimal("48.50"), "failed", None)


def test_an_xlsx_with_english_headers_in_another_order_is_read():
    book = Workbook()
    sheet = book.active
    sheet.append(["Status", "Amount", "out_trade_num", "Finished_at"])
    sheet.append(["success", 48.5, "T9-A2", timezone.now().replace(microsecond=0, tzinfo=None)])
    buffer = io.BytesIO()
    book.save(buffer)

    statement = statement_read(buffer.getvalue(), filename="statement.xlsx")

    assert statement.format == "xlsx" and not statement.bad
    assert (statement.rows[0].our_number, statement.rows[0].amount, statement.rows[0].their_number) == ("T9-A2", Decimal("48.50"), "")


def test_every_bad_row_is_reported_with_its_row_and_column():
    data = statement_csv(
        [
            ["S1", "T1-A1", "abc", "成功", ""],  # row 2: amount
            ["S2", "T2-A1", "1.00", "maybe", "yesterday"],  # row 3: status and time
            ["", "", "1.00", "成功", ""],  # row 4: no number
            ["S3", "T1-A1", "1.00", "成功", ""],  # row 5: our number again
            ["S4", "T4-A1", "1.00", "成功", ""],  # good
        ]
    )

    statement = statement_read(data)

    assert [(b.row, b.column, b.reason) for b in statement.bad] == [
        (2, "amount", "amount"),
        (3, "status", "status"),
        (3, "time", "time"),
        (4, "our_number", "no_number"),
    ]
    # row 5 repeats the number of a bad row, not of a good one: it is read
    assert [(r.row, r.our_number) for r in statement.rows] == [(5, "T1-A1"), (6, "T4-A1")]
    assert statement.total == 5  # data rows 2..6, each counted once


def test_numeric_states_are_read_only_in_the_suppliers_own_protocol():
    data = statement_csv([["S1", "T1-A1", "1.00", "2", ""], ["S2", "T2-A1", "1.00", "3", ""], ["S3", "T3-A1", "1.00", "1", ""]])

    v2 = statement_read(data, protocol="v2")
    unknown = statement_read(data, protocol="gateway")

    assert [r.status for r in v2.rows] == ["success", "failed", "processing"]
    assert [(b.row, b.reason) for b in unknown.bad] == [(2, "status"), (3, "status"), (4, "status")]


def test_a_number_repeated_in_the_file_is_a_bad_row_naming_the_first():
    data = statement_csv([["S1", "T1-A1", "1.00", "成功", ""], ["S2", "T1-A1", "1.00", "成功", ""]])

    statement = statement_read(data)

    assert [r.row for r in statement.rows] == [2]
    expected = {"row": 3, "column": "our_number", "reason": "duplicate", "value": "T1-A1", "first_row": 2}
    assert [b.as_dict() for b in statement.bad] == [expected]


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"", "empty.csv"),
        (b"name,phone\nx,y\n", "contacts.csv"),  # no number column
        (b"\xd0\xcf\x11\xe0 old excel", "old.xls"),
        (b"PK\x03\x04 not really a zip", "broken.xlsx"),
    ],
)
def test_a_file_that_is_no_statement_is_rejected_as_a_whole(data, filename):
    with pytest.raises(StatementFileRejected):
        statement_read(data, filename=filename)


# --- comparing ---------------------------------------------------------------------------------------


def test_the_differences_are_found_and_the_costly_one_comes_first(product, finance):
    agree = attempt_make(product, cost=Decimal("48.50"))
    refunded = attempt_make(product, status=S.FAILED)
    other_amount = attempt_make(product, cost=Decimal("48.50"))
    they_failed = attempt_make(product, cost=Decimal("48.50"))
    by_their_number = attempt_make(product, cost=Decimal("48.50"), their_number="THEIRS-77")
    not_listed = attempt_make(product, cost=Decimal("48.50"), submitted_ago=timedelta(hours=1))
    long_ago = attempt_make(product, cost=Decimal("48.50"), submitted_ago=timedelta(days=3))
    start, end = timezone.now() - timedelta(hours=3), timezone.now()
    rows = [
        [agree.their_number, agree.number, "48.50", "成功", local_time(start)],
        [refunded.their_number, refunded.number, "48.50", "成功", local_time(agree.submitted_at)],
        [other_amount.their_number, other_amount.number, "49.00", "成功", local_time(agree.submitted_at)],
        [they_failed.their_number, they_failed.number, "0", "失败", local_time(agree.submitted_at)],
        ["THEIRS-77", "", "48.50", "成功", local_time(agree.submitted_at)],
        ["S-UNKNOWN", "T-NOT-OURS-A1", "48.50", "成功", local_time(agree.submitted_at)],
        ["S-UNKNOWN-FAILED", "T-NOT-OURS-A2", "0", "失败", local_time(end)],
    ]

    imported = statement_import(upstream=product.upstream, data=statement_csv(rows), filename="dec.csv", actor=finance)

    assert imported.status == StatementImport.Status.DONE
    assert (imported.total_rows, imported.matched_rows, imported.bad_rows) == (7, 5, 0)
    assert imported.their_total == Decimal("243.00")  # the five rows they charged for
    found = [(d.kind, d.our_number) for d in imported.differences.all()]
    assert found[0] == (Kind.SUCCESS_REFUNDED, refunded.number)
    assert sorted(found) == sorted(
        [
            (Kind.SUCCESS_REFUNDED, refunded.number),
            (Kind.AMOUNT, other_amount.number),
            (Kind.STATUS, they_failed.number),
            (Kind.MISSING_OURS, "T-NOT-OURS-A1"),
            (Kind.MISSING_THEIRS, not_listed.number),
        ]
    )
    assert long_ago.number not in {number for _kind, number in found}
    assert by_their_number.number not in {number for _kind, number in found}
    amount = imported.differences.get(kind=Kind.AMOUNT)
    assert (amount.our_amount, amount.their_amount, amount.topup_id) == (Decimal("48.50"), Decimal("49.00"), other_amount.topup_id)
    alert = SupplyAlert.objects.get(upstream=product.upstream, kind=SupplyAlert.Kind.RECONCILIATION)
    assert "1" in alert.message
    entry = AuditLog.objects.get(action="supply.statement.import")
    assert entry.actor == finance and entry.data["rows"] == 7


def test_the_period_typed_by_the_operator_bounds_what_is_missing_on_their_side(product, finance):
    inside = attempt_make(product, cost=Decimal("48.50"), submitted_ago=timedelta(days=2))
    attempt_make(product, cost=Decimal("48.50"), submitted_ago=timedelta(hours=1))
    data = statement_csv([["S-X", "T-X-A1", "0", "失败", ""]])

    imported = statement_import(
        upstream=product.upstream,
        data=data,
        filename="no-times.csv",
        actor=finance,
        period_start=timezone.now() - timedelta(days=3),
        period_end=timezone.now() - timedelta(days=1),
    )

    assert [(d.kind, d.our_number) for d in imported.differences.all()] == [(Kind.MISSING_THEIRS, inside.number)]


def test_without_times_or_a_period_nothing_is_called_missing_on_their_side_and_the_page_says_so(product, finance):
    attempt_make(product, cost=Decimal("48.50"))

    data = statement_csv([["S-X", "T-X-A1", "0", "失败", ""]])

    imported = statement_import(upstream=product.upstream, data=data, filename="a.csv", actor=finance)

    assert imported.differences.count() == 0
    assert imported.message


def test_bad_rows_refuse_the_whole_file_in_mode_all_and_are_left_out_in_mode_valid(product, finance):
    refunded = attempt_make(product, status=S.FAILED)
    data = statement_csv([[refunded.their_number, refunded.number, "48.50", "成功", ""], ["S2", "T2-A1", "four", "成功", ""]])

    refused = statement_import(upstream=product.upstream, data=data, filename="bad.csv", actor=finance)
    compared = statement_import(upstream=product.upstream, data=data, filename="bad.csv", actor=finance, mode=StatementImport.Mode.VALID)

    assert refused.status == StatementImport.Status.REFUSED and refused.differences.count() == 0
    assert refused.errors == [{"row": 3, "column": "amount", "reason": "amount", "value": "four", "first_row": None}]
    with translation.override("en"):
        assert refused.bad_rows_report[0]["reason_text"] == "Not an amount."
        assert refused.bad_rows_report[0]["column_label"] == "Amount"
    assert compared.status == StatementImport.Status.DONE and compared.bad_rows == 1
    assert list(compared.differences.values_list("kind", flat=True)) == [Kind.SUCCESS_REFUNDED]


def test_an_unreadable_file_is_recorded_as_rejected_with_the_reason(product, finance):
    imported = statement_import(upstream=product.upstream, data=b"name,phone\n", filename="x.csv", actor=finance)

    assert imported.status == StatementImport.Status.REJECTED and imported.message
    assert AuditLog.objects.filter(action="supply.statement.import", object_id=str(imported.pk)).exists()


def test_a_difference_is_resolved_once_with_a_note_and_audited(product, finance):
    refunded = attempt_make(product, status=S.FAILED)
    data = statement_csv([[refunded.their_number, refunded.number, "48.50", "成功", ""]])
    imported = statement_import(upstream=product.upstream, data=data, filename="a.csv", actor=finance)
    difference = imported.differences.get()

    with pytest.raises(NoteRequired):
        statement_difference_resolve(difference=difference, actor=finance, note="  ")
    resolved = statement_difference_resolve(difference=difference, actor=finance, note="supplier reversed the charge")
    with pytest.raises(DifferenceResolved):
        statement_difference_resolve(difference=difference, actor=finance, note="again")

    assert resolved.resolved_by == finance and resolved.note == "supplier reversed the charge"
    entry = AuditLog.objects.get(action="supply.statement.resolve")
    assert entry.reason == "supplier reversed the charge" and entry.data["kind"] == Kind.SUCCESS_REFUNDED
