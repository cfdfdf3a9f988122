"""Reading CSV and XLSX files and checking each row: every reason a row is refused, file-level errors."""

import io
import zipfile
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone, translation

from catalog import vault
from catalog.importing import checks, errors, jobs, sources
from catalog.importing.checks import Reason
from catalog.models import ImportJob
from tests import factories
from tests.catalog.importfiles import csv_bytes, fresh_codes, named, xlsx_bytes

pytestmark = pytest.mark.django_db

Failure = ImportJob.Failure


def check(data: bytes, filename: str = "codes.csv") -> checks.Checked:
    source = sources.source_open(data, filename=filename)
    return checks.rows_check(rows=source.rows, sealer=vault.BulkSealer())


def reasons(checked) -> dict[int, str]:
    return {error["row"]: error["reason"] for error in checked.errors}


@pytest.mark.parametrize("build", [csv_bytes, xlsx_bytes], ids=["csv", "xlsx"])
def test_good_rows_carry_code_serial_and_expiry(build):
    codes = fresh_codes(3)
    checked = check(build([(codes[0], "SN-1", "2031-06-30"), (codes[1], "", ""), (codes[2], "SN-3", "2031-06-30 12:30")]))
    assert checked.total == 3
    assert not checked.errors
    by_row = {row.row: row for row in checked.good}
    assert by_row[2].code == vault.normalize(codes[0])
    assert by_row[2].serial == "SN-1"
    assert timezone.localtime(by_row[2].expires_at).replace(tzinfo=None) == datetime(2031, 6, 30, 23, 59, 59)  # a date: end of day
    assert by_row[3].serial == "" and by_row[3].expires_at is None
    assert timezone.localtime(by_row[4].expires_at).hour == 12


def test_xlsx_cells_of_every_type():
    code = fresh_codes(1)[0]
    checked = check(
        xlsx_bytes(
            [
                (code, 1234567, datetime(2031, 1, 2)),  # a date typed into Excel
                (987654321012, None, date(2031, 1, 2)),  # a numeric code
                (12.5, None, None),  # a fraction is not a code
                (datetime(2031, 1, 1), None, None),  # nor is a date
            ]
        ),
        "codes.xlsx",
    )
    good = {row.row: row for row in checked.good}
    assert good[2].serial == "1234567"
    assert timezone.localtime(good[2].expires_at).time().hour == 23
    assert good[3].code == "987654321012"
    assert reasons(checked) == {4: Reason.MALFORMED, 5: Reason.MALFORMED}


@pytest.mark.parametrize(
    ("code", "detail"),
    [
        ("", "empty"),
        ("ab-c 1", "too_short"),
        ("X" * 65, "too_long"),
        ("卡密卡密卡密卡密", "bad_characters"),
        ("ABC\x01DEFGH", "bad_characters"),
    ],
)
def test_malformed_codes(code, detail):
    checked = check(csv_bytes([(code, "SN", "")]))
    assert checked.errors == [{"row": 2, "reason": Reason.MALFORMED, "hint": checked.errors[0]["hint"], "detail": detail}]
    assert not checked.good


def test_code_length_limits_apply_after_normalisation():
    # Six characters once the dash and blanks are gone; 64 with dashes in between.
    checked = check(csv_bytes([("ab-c d-ef", "", ""), ("-".join(["ABCD"] * 16), "", "")]))
    assert not checked.errors
    assert [row.code for row in checked.good] == ["ABCDEF", "ABCD" * 16]


def test_duplicate_in_file_names_the_first_row():
    code = fresh_codes(1)[0]
    spaced = " ".join([code[:4], code[4:].lower()])  # the same code, written differently
    checked = check(csv_bytes([(code, "", ""), (fresh_codes(1)[0], "", ""), (spaced, "", "")]))
    assert checked.errors == [{"row": 4, "reason": Reason.DUPLICATE_IN_FILE, "hint": vault.hint_of(code), "first_row": 2}]
    with translation.override("en"):
        assert checks.error_text(checked.errors[0]) == "Duplicate in the file: same code as row 2"


def test_already_in_vault_from_another_batch():
    sku = factories.SkuFactory()
    stored = fresh_codes(1)[0]
    jobs.codes_import(sku=sku, path_or_file=named(csv_bytes([(stored, "", "")])), mode="all")
    checked = check(csv_bytes([(fresh_codes(1)[0], "", ""), (stored.lower(), "", "")]))
    assert reasons(checked) == {3: Reason.ALREADY_IN_VAULT}


@pytest.mark.parametrize(
    ("expiry", "reason"),
    [
        ("2001-01-01", Reason.EXPIRED),
        ((timezone.localdate() - timedelta(days=1)).isoformat(), Reason.EXPIRED),
        ("not a date", Reason.BAD_EXPIRY),
        ("2031-02-30", Reason.BAD_EXPIRY),
        ("31/12/2031", Reason.BAD_EXPIRY),
        ("1899-01-01", Reason.BAD_EXPIRY),
    ],
)
def test_expiry_problems(expiry, reason):
    checked = check(csv_bytes([(fresh_codes(1)[0], "", expiry)]))
    assert reasons(checked) == {2: reason}


@pytest.mark.parametrize(
    "expiry", ["2031/12/31", "2031.12.31", "20311231", "2031年12月31日", "2031-12-31T08:00:00+08:00", "2031-12-31 08:00", "2031/1/5 8:00"]
)
def test_expiry_formats_people_use(expiry):
    checked = check(csv_bytes([(fresh_codes(1)[0], "", expiry)]))
    assert not checked.errors
    assert checked.good[0].expires_at.year == 2031


def test_today_is_not_expired_yet():
    checked = check(csv_bytes([(fresh_codes(1)[0], "", timezone.localdate().isoformat())]))
    assert not checked.errors


@pytest.mark.parametrize("serial", ["S" * 65, "SN\x07BELL"])
def test_bad_serial(serial):
    checked = check(csv_bytes([(fresh_codes(1)[0], serial, "")]))
    assert reasons(checked) == {2: Reason.BAD_SERIAL}


def test_row_numbers_count_blank_lines_like_a_spreadsheet():
    codes = fresh_codes(2)
    data = f"code\n{codes[0]}\n\n,\nbad\n{codes[1]}\n".encode()
    checked = check(data)
    assert checked.total == 3  # blank lines are not rows
    assert reasons(checked) == {5: Reason.MALFORMED}
    assert sorted(row.row for row in checked.good) == [2, 6]


def test_every_bad_row_is_reported_in_row_order():
    sku = factories.SkuFactory()
    stored, good, dup = fresh_codes(3)
    jobs.codes_import(sku=sku, path_or_file=named(csv_bytes([(stored, "", "")])), mode="all")
    rows = [(good, "", ""), ("x", "", ""), (dup, "", ""), (dup, "", ""), (stored, "", ""), (fresh_codes(1)[0], "", "2001-01-01")]
    rows += [(fresh_codes(1)[0], "", "garbage"), (fresh_codes(1)[0], "S" * 70, "")]
    checked = check(csv_bytes(rows))
    assert reasons(checked) == {
        3: Reason.MALFORMED,
        5: Reason.DUPLICATE_IN_FILE,
        6: Reason.ALREADY_IN_VAULT,
        7: Reason.EXPIRED,
        8: Reason.BAD_EXPIRY,
        9: Reason.BAD_SERIAL,
    }
    assert [e["row"] for e in checked.errors] == sorted(e["row"] for e in checked.errors)
    assert checked.reason_counts() == {r: 1 for r in reasons(checked).values()}


def _zip_of(files: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- Headers, encodings, delimiters -----------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ("CODE", "Serial", "Expires_At"),
        ("卡密", "卡号", "有效期"),
        (" Code ", "serial number", "expiry date"),
        ("expires_at", "code", "sn"),
    ],
)
def test_header_names_and_aliases(header):
    code = fresh_codes(1)[0]
    values = {"code": code, "serial": "SN-9", "expires_at": "2031-01-01"}
    kinds = {h: sources._header_key(h) for h in header}
    row = []
    for h in header:
        key = kinds[h]
        name = next(n for n, aliases in sources.HEADER_ALIASES.items() if key in aliases)
        row.append(values[name])
    checked = check(csv_bytes([row], header=header))
    assert not checked.errors
    assert checked.good[0].code == code and checked.good[0].serial == "SN-9" and checked.good[0].expires_at.year == 2031


def test_card_number_alone_is_the_code():
    code = fresh_codes(1)[0]
    checked = check(csv_bytes([(code,)], header=("卡号",)))
    assert checked.good[0].code == code


def test_missing_code_column_is_a_file_error():
    with pytest.raises(errors.ImportFileRejected) as excinfo:
        check(csv_bytes([("x", "y")], header=("serial", "expires_at")))
    assert excinfo.value.failure == Failure.NO_CODE_COLUMN


def test_headerless_file_is_refused():
    code = fresh_codes(1)[0]
    with pytest.raises(errors.ImportFileRejected) as excinfo:
        check(f"{code}\n{fresh_codes(1)[0]}\n".encode())
    assert excinfo.value.failure == Failure.NO_CODE_COLUMN
    assert code not in str(excinfo.value)


def test_duplicate_column_is_a_file_error():
    with pytest.raises(errors.ImportFileRejected) as excinfo:
        check(csv_bytes([("a", "b")], header=("code", "卡密")))
    assert excinfo.value.failure == Failure.DUPLICATE_COLUMN


@pytest.mark.parametrize(
    ("data", "name", "failure"),
    [
        (b"", "codes.csv", Failure.EMPTY),
        (b"\n\n  \n", "codes.csv", Failure.EMPTY),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "codes.xls", Failure.UNSUPPORTED),
        (b"PK\x03\x04 not really a zip", "codes.xlsx", Failure.UNREADABLE),
        (_zip_of({"hello.txt": b"not a workbook"}), "codes.xlsx", Failure.UNREADABLE),
        (b"%PDF-1.4 ...", "codes.pdf", Failure.UNSUPPORTED),
    ],
)
def test_unusable_files(data, name, failure):
    # (a NUL inside a CSV is not a file error: that row's code is malformed)
    with pytest.raises(errors.ImportFileRejected) as excinfo:
        check(data, name)
    assert excinfo.value.failure == failure


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_encodings(encoding):
    code = fresh_codes(1)[0]
    checked = check(csv_bytes([(code, "批次一", "")], header=("卡密", "卡号", "有效期"), encoding=encoding))
    assert checked.good[0].code == code
    assert checked.good[0].serial == "批次一"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(delimiter):
    code = fresh_codes(1)[0]
    checked = check(csv_bytes([(code, "SN;1", "2031-01-01")] if delimiter != ";" else [(code, "SN1", "2031-01-01")], delimiter=delimiter))
    assert checked.good[0].code == code
    assert checked.good[0].expires_at.year == 2031


def test_code_with_a_semicolon_does_not_fool_the_delimiter():
    checked = check(b"code,serial\nAB;CD;EF;12,S1\n")
    assert checked.good[0].code == "AB;CD;EF;12"
    assert checked.good[0].serial == "S1"


def test_quoted_csv_fields():
    checked = check(b'code,serial\n"ABCD,EFGH",S1\n"IJKL""MNOP",S2\n')
    assert [row.code for row in checked.good] == ["ABCD,EFGH", 'IJKL"MNOP']


def test_short_rows_and_extra_columns():
    code = fresh_codes(1)[0]
    checked = check(f"note,code,serial,expires_at\nhello,{code}\n".encode())
    assert checked.good[0].code == code
    assert checked.good[0].serial == ""


def test_row_limit(monkeypatch):
    monkeypatch.setattr(checks, "MAX_ROWS", 3)
    with pytest.raises(errors.ImportFileRejected) as excinfo:
        check(csv_bytes([(c, "", "") for c in fresh_codes(4)]))
    assert excinfo.value.failure == Failure.TOO_MANY_ROWS


def test_size_limit(settings):
    settings.IMPORT_MAX_BYTES = 100
    with pytest.raises(errors.ImportFileRejected) as excinfo:
        check(csv_bytes([(c, "", "") for c in fresh_codes(10)]))
    assert excinfo.value.failure == Failure.TOO_LARGE


def test_estimate_of_rows():
    assert sources.source_open(csv_bytes([(c, "", "") for c in fresh_codes(7)])).estimate == 7
    assert sources.source_open(xlsx_bytes([(c, "", "") for c in fresh_codes(7)])).estimate == 7


def test_bulk_sealer_matches_the_keyring():
    ring = vault.keyring()
    sealer = vault.BulkSealer()
    code = vault.normalize(fresh_codes(1)[0])
    index = sealer.index(code)
    assert index == ring.blind_index(code)
    [blob] = sealer.seal_many([(code, index)])
    assert ring.open(ciphertext=blob, key_id=sealer.key_id, blind_index=index) == code
