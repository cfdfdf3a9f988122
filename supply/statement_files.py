"""Reading a supplier's statement file (对账单): CSV (UTF-8, UTF-16 or GBK; comma, tab, semicolon or bar) or XLSX.

A statement lists the orders a supplier says it handled for us: their order number, our order number (the
attempt number we sent, `<order>-A<n>`), the amount they charged, the status and the time. Suppliers name
their columns in Chinese or English and in many ways; `HEADER_ALIASES` knows the usual names.

`statement_read` returns every row it could read (`StatementRow`) and, for every row it could not, the row
number, the column and why (`BadRow`). A file that cannot be read at all (no header, no number column, not a
spreadsheet) raises `StatementFileRejected`. Nothing here looks at the database.
"""

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voucherhub.core.errors import DomainError

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000

HEADER_ALIASES = {
    "their_number": {
        "their_number",
        "supplier_order_no",
        "supplier_order_id",
        "supplier_no",
        "order_no",
        "order_id",
        "trade_no",
        "platform_order_no",
        "上游订单号",
        "供应商订单号",
        "平台订单号",
        "系统订单号",
        "订单号",
        "流水号",
        "交易流水号",
    },
    "our_number": {
        "our_number",
        "out_trade_num",
        "out_trade_no",
        "out_order_no",
        "customer_order_no",
        "merchant_order_no",
        "client_order_no",
        "reference",
        "商户订单号",
        "外部订单号",
        "我方订单号",
        "客户订单号",
        "下游订单号",
        "商家订单号",
    },
    "amount": {
        "amount",
        "cost",
        "price",
        "charged",
        "charge",
        "settle_amount",
        "deduct_amount",
        "金额",
        "扣款金额",
        "结算金额",
        "成本",
        "成本价",
        "实付金额",
        "进货价",
    },
    "status": {"status", "state", "result", "order_status", "状态", "订单状态", "充值状态", "结果"},
    "time": {
        "time",
        "date",
        "datetime",
        "created_at",
        "finished_at",
        "created",
        "order_time",
        "时间",
        "下单时间",
        "完成时间",
        "交易时间",
        "创建时间",
        "充值时间",
    },
}
DELIMITERS = (",", "\t", ";", "|")

# What suppliers write in the status column, in our words (supply.adapters.base.Outcome's values).
SUCCESS, FAILED, PROCESSING, PARTIAL = "success", "failed", "processing", "partial"
STATUS_WORDS = {
    SUCCESS: {"success", "succeeded", "successful", "ok", "done", "成功", "充值成功", "交易成功", "已完成", "完成"},
    FAILED: {"failed", "fail", "failure", "refunded", "refund", "失败", "充值失败", "已退款", "退款", "撤单"},
    PROCESSING: {"processing", "pending", "submitted", "untreated", "处理中", "充值中", "待处理", "进行中", "未处理"},
    PARTIAL: {"partial", "partially", "部分成功", "部分充值"},
}
# Numeric states mean different things per protocol: read only the supplier's own (V2: -1/0/1/2/3).
STATUS_CODES = {"v2": {"-1": FAILED, "0": PROCESSING, "1": PROCESSING, "2": SUCCESS, "3": FAILED}}
COLUMN_LABELS = {
    "their_number": _("Their number"),
    "our_number": _("Our number"),
    "amount": _("Amount"),
    "status": _("Status"),
    "time": _("Time"),
}
STATUS_LABELS = {SUCCESS: _("Succeeded"), FAILED: _("Failed"), PROCESSING: _("Processing"), PARTIAL: _("Partly delivered")}


class StatementFileRejected(DomainError):
    """The file cannot be read as a statement at all (not its rows: those are reported one by one)."""

    code = "statement_file_rejected"
    default_message = _("This file cannot be read as a statement.")


@dataclass(frozen=True)
class StatementRow:
    row: int  # as the spreadsheet numbers it (the header is row 1 when it is the first line)
    their_number: str
    our_number: str
    amount: Decimal
    status: str  # SUCCESS / FAILED / PROCESSING / PARTIAL
    status_text: str  # as they wrote it
    at: datetime | None


# Why a row is bad: stored as the key, shown in the reader's language.
REASONS = {
    "no_number": _("No order number (ours or theirs)."),
    "amount": _("Not an amount."),
    "status": _("Unknown status."),
    "time": _("Not a date and time."),
    "duplicate": _("The same order number as row %(row)s."),
}


@dataclass(frozen=True)
class BadRow:
    row: int
    column: str  # their_number / our_number / amount / status / time
    reason: str  # a key of REASONS
    value: str = ""
    first_row: int | None = None  # for "duplicate": the row that had the number first

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "reason": self.reason, "value": self.value[:60], "first_row": self.first_row}


def reason_text(error: dict) -> str:
    """A stored bad row's reason in the active language."""
    text = REASONS.get(error.get("reason"), error.get("reason", ""))
    return str(text) % {"row": error.get("first_row")} if error.get("reason") == "duplicate" else str(text)


@dataclass
class Statement:
    format: str
    rows: list[StatementRow]
    bad: list[BadRow]

    @property
    def total(self) -> int:
        return len(self.rows) + len({b.row for b in self.bad})

    def period(self) -> tuple[datetime | None, datetime | None]:
        times = [r.at for r in self.rows if r.at is not None]
        return (min(times), max(times)) if times else (None, None)


def _header_key(cell) -> str:
    text = str(cell if cell is not None else "").strip().lstrip("\ufeff").strip().lower()
    return re.sub(r"[\s\-]+", "_", text).strip("?*_：:()（）")


def _columns(header) -> dict[str, int]:
    found: dict[str, int] = {}
    for position, cell in enumerate(header):
        key = _header_key(cell)
        for name, aliases in HEADER_ALIASES.items():
            if key in aliases and name not in found:
                found[name] = position
    if "our_number" not in found and "their_number" not in found:
        raise StatementFileRejected(_("No order number column (our number or their number) in the header."))
    missing = [name for name in ("amount", "status") if name not in found]
    if missing:
        raise StatementFileRejected(
            _("The header has no column for: %(names)s.") % {"names": ", ".join(str(COLUMN_LABELS[name]) for name in missing)}
        )
    return found


def _decode(data: bytes) -> str:
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StatementFileRejected(_("The file's text encoding cannot be read (save it as UTF-8 or GBK)."))


def _raw_rows(data: bytes, filename: str) -> tuple[str, list[tuple[int, list]]]:
    """(format, [(row number, cells)]) of every non-blank row, the header first."""
    if not data.strip():
        raise StatementFileRejected(_("The file is empty."))
    if len(data) > MAX_BYTES:
        raise StatementFileRejected(_("The file is too large."))
    if data.startswith(b"PK\x03\x04"):
        return "xlsx", _xlsx_rows(data)
    if data.startswith((b"\xd0\xcf\x11\xe0", b"%PDF")) or filename.lower().endswith((".xls", ".pdf", ".doc", ".docx")):
        raise StatementFileRejected(_("Only CSV and XLSX files can be read."))
    return "csv", _csv_rows(_decode(data))


def _csv_rows(text: str) -> list[tuple[int, list]]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise StatementFileRejected(_("The CSV file cannot be read: %(error)s") % {"error": str(exc)[:80]}) from None
    return [(n, row) for n, row in enumerate(rows, start=1) if any(str(c).strip() for c in row)][: MAX_ROWS + 1]


def _xlsx_rows(data: bytes) -> list[tuple[int, list]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = book.active if book.active is not None and hasattr(book.active, "iter_rows") else book.worksheets[0]
            rows = []
            for n, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
                if any(c is not None and str(c).strip() for c in row):
                    rows.append((n, list(row)))
                if len(rows) > MAX_ROWS:
                    break
            return rows
        finally:
            book.close()
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, IndexError, TypeError):
        raise StatementFileRejected(_("The XLSX file cannot be read.")) from None


def _text(cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def amount_parse(cell) -> Decimal:
    """An amount as a statement writes it: 12.5, "¥1,012.50", "12.50元". Raises ValueError."""
    if isinstance(cell, int | Decimal):
        return Decimal(cell).quantize(Decimal("0.01"))
    if isinstance(cell, float):
        return Decimal(repr(cell)).quantize(Decimal("0.01"))
    text = _text(cell).replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").replace("元", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value.quantize(Decimal("0.01"))


def status_parse(cell, *, protocol: str = "") -> str:
    key = _text(cell).lower()
    if key in STATUS_CODES.get(protocol, {}):
        return STATUS_CODES[protocol][key]
    for status, words in STATUS_WORDS.items():
        if key in words:
            return status
    raise ValueError(key)


TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y%m%d%H%M%S", "%Y-%m-%d", "%Y/%m/%d")


def time_parse(cell) -> datetime | None:
    """A moment as a statement writes it (naive times are the site's time zone). '' is None; raises ValueError."""
    if cell is None or _text(cell) == "":
        return None
    if isinstance(cell, datetime):
        moment = cell
    elif isinstance(cell, date):
        moment = datetime.combine(cell, time.min)
    else:
        text = _text(cell).replace("T", " ")
        for fmt in TIME_FORMATS:
            try:
                moment = datetime.strptime(text[:19], fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(text)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _cell(row: list, at: int | None):
    return row[at] if at is not None and at < len(row) else None


def _row_read(n: int, row: list, columns: dict[str, int], protocol: str) -> StatementRow | list[BadRow]:
    their, ours = _text(_cell(row, columns.get("their_number"))), _text(_cell(row, columns.get("our_number")))
    bad: list[BadRow] = []
    if not their and not ours:
        bad.append(BadRow(n, "our_number", "no_number"))
    amount = status = moment = None
    raw_amount = _cell(row, columns["amount"])
    try:
        amount = amount_parse(raw_amount)
    except ValueError:
        bad.append(BadRow(n, "amount", "amount", _text(raw_amount)))
    raw_status = _cell(row, columns["status"])
    try:
        status = status_parse(raw_status, protocol=protocol)
    except ValueError:
        bad.append(BadRow(n, "status", "status", _text(raw_status)))
    raw_time = _cell(row, columns.get("time"))
    try:
        moment = time_parse(raw_time)
    except ValueError:
        bad.append(BadRow(n, "time", "time", _text(raw_time)))
    if bad:
        return bad
    return StatementRow(n, their[:64], ours[:64], amount, status, _text(raw_status)[:40], moment)


def statement_read(data: bytes, *, filename: str = "", protocol: str = "") -> Statement:
    """Every row of a statement file, read or reported (see the module's docstring)."""
    fmt, raw = _raw_rows(data, filename)
    if not raw:
        raise StatementFileRejected(_("The file is empty."))
    if len(raw) > MAX_ROWS + 1:
        raise StatementFileRejected(_("The file has more than %(n)s rows.") % {"n": MAX_ROWS})
    (_header_no, header), body = raw[0], raw[1:]
    columns = _columns(header)
    rows, bad, seen = [], [], {}
    for n, cells in body:
        read = _row_read(n, cells, columns, protocol)
        if isinstance(read, list):
            bad.extend(read)
            continue
        key = read.our_number or f"their:{read.their_number}"
        if key in seen:
            bad.append(BadRow(n, "our_number", "duplicate", key, first_row=seen[key]))
            continue
        seen[key] = n
        rows.append(read)
    return Statement(format=fmt, rows=rows, bad=bad)
