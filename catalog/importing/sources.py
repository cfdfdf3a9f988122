"""Reading an upload into rows: CSV (UTF-8, UTF-16 or GBK; comma, tab, semicolon or bar) or XLSX.

`source_open` checks the size, the format and the header (the code column found by name or alias) and
returns a `Source` whose rows are (row number, code cell, serial cell, expiry cell), numbered as a
spreadsheet shows them. Nothing here looks at the database; an unusable file raises ImportFileRejected.
"""

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext

from catalog.importing.errors import ImportFileRejected
from catalog.models import ImportJob

Failure = ImportJob.Failure


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", 50 * 1024 * 1024)


HEADER_ALIASES = {
    "code": {"code", "codes", "card_code", "voucher_code", "卡密", "卡券码", "券码", "兑换码", "激活码"},
    "serial": {"serial", "serial_no", "serial_number", "sn", "卡号", "序列号"},
    "expires_at": {
        "expires_at",
        "expires",
        "expiry",
        "expiry_date",
        "expire_at",
        "expiration",
        "valid_until",
        "有效期",
        "有效期至",
        "到期时间",
        "到期日",
        "过期时间",
    },
}
DELIMITERS = (",", "\t", ";", "|")


def _header_key(cell) -> str:
    text = str(cell if cell is not None else "").strip().lstrip("\ufeff").strip().lower()
    return re.sub(r"[\s\-]+", "_", text).strip("?*_：:")


def _columns(header) -> dict[str, int]:
    """Where code, serial and expires_at are (by header name or alias, case-insensitive)."""
    found: dict[str, int] = {}
    keys = [_header_key(cell) for cell in header]
    for position, key in enumerate(keys):
        for name, aliases in HEADER_ALIASES.items():
            if key in aliases:
                if name in found:
                    raise ImportFileRejected(Failure.DUPLICATE_COLUMN, detail=str(header[position])[:60])
                found[name] = position
    if "code" not in found:
        # A file whose only number column is 卡号 (card number) carries the codes in it.
        if "serial" in found and keys[found["serial"]] == "卡号":
            found["code"] = found.pop("serial")
        else:
            raise ImportFileRejected(Failure.NO_CODE_COLUMN)
    return found


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")  # Excel on Chinese Windows saves CSV in GBK
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileRejected(Failure.UNREADABLE)


@dataclass
class Source:
    """An opened file: its format, an estimate of its data rows, the column positions and the data rows
    as (row number, code cell, serial cell, expiry cell). Row numbers are those a spreadsheet shows."""

    format: str
    estimate: int
    columns: dict[str, int]
    rows: Iterator[tuple]


def source_open(data: bytes, *, filename: str = "") -> Source:
    """Open a CSV or XLSX file and read its header row. Raises ImportFileRejected."""
    if not data.strip():
        raise ImportFileRejected(Failure.EMPTY)
    if len(data) > max_bytes():
        raise ImportFileRejected(Failure.TOO_LARGE)
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_open(data)
    if data.startswith((b"\xd0\xcf\x11\xe0", b"%PDF")) or filename.lower().endswith((".xls", ".pdf", ".doc", ".docx")):
        raise ImportFileRejected(Failure.UNSUPPORTED)
    return _csv_open(data)


def _first_filled(rows, filled) -> tuple[int, list]:
    """The first row that is not blank (the header) and its number; (n, []) when there is none."""
    number = 0
    for number, row in enumerate(rows, start=1):
        if filled(row):
            return number, list(row)
    return number, []


def _csv_open(data: bytes) -> Source:
    text = _decode(data)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    # The delimiter is the one that splits the header into a code column (codes may contain ; or |).
    delimiter = ","
    for candidate in DELIMITERS:
        if candidate in first_line:
            try:
                _columns(next(csv.reader([first_line], delimiter=candidate)))
            except ImportFileRejected:
                continue
            delimiter = candidate
            break
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        row_no, header = _first_filled(reader, lambda row: any(cell.strip() for cell in row))
    except csv.Error as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=str(exc)[:100])
    if not any(cell.strip() for cell in header):
        raise ImportFileRejected(Failure.EMPTY)
    columns = _columns(header)
    estimate = max(text.count("\n") - row_no + (0 if text.endswith("\n") else 1), 0)
    return Source("csv", estimate, columns, _csv_rows(reader, row_no, columns))


def _csv_rows(reader, header_row: int, columns: dict[str, int]) -> Iterator[tuple]:
    code_at, serial_at, expiry_at = columns["code"], columns.get("serial"), columns.get("expires_at")
    row_no = header_row
    try:
        for row_no, row in enumerate(reader, start=header_row + 1):
            width = len(row)
            yield (
                row_no,
                row[code_at] if code_at < width else None,
                row[serial_at] if serial_at is not None and serial_at < width else None,
                row[expiry_at] if expiry_at is not None and expiry_at < width else None,
            )
    except csv.Error as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=gettext("row %(row)s") % {"row": row_no + 1} + f": {str(exc)[:80]}")


def _xlsx_open(data: bytes) -> Source:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        # The sheet the workbook opens on (the first one, unless it was saved on another).
        sheet = book.active if book.active is not None and hasattr(book.active, "iter_rows") else book.worksheets[0]
        rows = sheet.iter_rows(min_row=1, values_only=True)
        row_no, header = _first_filled(rows, lambda row: any(cell is not None and str(cell).strip() for cell in row))
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, IndexError, TypeError) as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=type(exc).__name__)
    if not any(cell is not None and str(cell).strip() for cell in header):
        book.close()
        raise ImportFileRejected(Failure.EMPTY)
    columns = _columns(list(header))
    estimate = max((sheet.max_row or 0) - row_no, 0)
    return Source("xlsx", estimate, columns, _xlsx_rows(book, rows, row_no, columns))


def _xlsx_rows(book, rows, header_row: int, columns: dict[str, int]) -> Iterator[tuple]:
    code_at, serial_at, expiry_at = columns["code"], columns.get("serial"), columns.get("expires_at")
    try:
        for row_no, row in enumerate(rows, start=header_row + 1):
            width = len(row)
            yield (
                row_no,
                row[code_at] if code_at < width else None,
                row[serial_at] if serial_at is not None and serial_at < width else None,
                row[expiry_at] if expiry_at is not None and expiry_at < width else None,
            )
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=type(exc).__name__)
    finally:
        book.close()


def read_source(path_or_file) -> tuple[bytes, str]:
    """The bytes and the file name of a path or an open file (the `import_codes` command, the benchmark)."""
    if isinstance(path_or_file, str | Path):
        path = Path(path_or_file)
        if path.stat().st_size > max_bytes():
            raise ImportFileRejected(Failure.TOO_LARGE)
        return path.read_bytes(), path.name
    data = path_or_file.read()
    return (data.encode() if isinstance(data, str) else data), Path(getattr(path_or_file, "name", "") or "codes.csv").name
