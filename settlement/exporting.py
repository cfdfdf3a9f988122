"""Finance exports, streamed with flat memory, in XLSX and CSV. No plaintext code is ever selected:
codes appear only as their masked hint.

A sheet is a list of columns (header, SQL expression, kind) over one FROM/WHERE. On PostgreSQL both
formats are produced by the database itself through `COPY (…) TO STDOUT`:

* CSV: the columns as CSV (dates in the site's time zone, text guarded against spreadsheet formulas);
* XLSX: each row is built as worksheet XML (`<row><c><v>…</v></c><c t="inlineStr">…</c></row>`) by
  the SELECT, so Python only copies bytes into the zip member. An XLSX is a zip of a few XML parts
  (`xlsx.py` writes the fixed ones); numbers are `<v>` cells, text is an inline string, times are
  Excel serial numbers with a date-time style.

On SQLite (the laptop default) the same XML and CSV are produced row by row in Python.
"""

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from settlement import xlsx
from settlement.models import Account, CommissionAccrual, Entry, Order, Transfer
from voucherhub.core.text import UNSAFE_CHARACTERS

INT, NUM, TEXT, ENUM, TIME = "int", "num", "text", "enum", "time"
# Characters XML 1.0 / XLSX does not hold (tab, newline and carriage return are kept as entities).
_CONTROL = UNSAFE_CHARACTERS  # what XLSX cannot hold, the same set as voucherhub.core.text.xlsx_safe drops


@dataclass(frozen=True)
class Col:
    """One column: its stable name, the SQL that selects it, its kind, the header people read (translated when
    the file is written) and, for an ENUM, the (stored value, label) pairs: the label is written, never the value."""

    header: str
    expr: str
    kind: str = TEXT
    label: object = None
    choices: tuple = ()

    @property
    def title(self) -> str:
        return str(self.label) if self.label is not None else self.header

    def value_label(self, value):
        return str(dict(self.choices).get(value, value)) if self.choices and value is not None else value

    @property
    def width(self) -> float:
        """A column width (in characters) that fits the header and the kind of value under it."""
        fits = {INT: 10, NUM: 14, TIME: 19, ENUM: 14, TEXT: 22}[self.kind]
        return float(min(60, max(fits, xlsx.display_width(self.title) + 2)))


@dataclass(frozen=True)
class Sheet:
    columns: list[Col]
    body: str  # FROM … WHERE …
    params: list = field(default_factory=list)
    order_by: str = ""
    title: str = "export"

    @property
    def headers(self) -> list[str]:
        return [c.title for c in self.columns]

    @property
    def sql(self) -> str:
        """The plain SELECT of the rows (what a CSV of them contains)."""
        return f"SELECT {', '.join(c.expr for c in self.columns)} {self.body}{self._order()}"

    @property
    def count_sql(self) -> str:
        return f"SELECT count(*) {self.body}"

    def _order(self) -> str:
        return f" ORDER BY {self.order_by}" if self.order_by else ""


def _where(alias_time: str, start, end, extra: list[tuple[str, object]]) -> tuple[str, list]:
    where, params = ["TRUE"], []
    if start is not None:
        where.append(f"{alias_time} >= %s")
        params.append(start)
    if end is not None:
        where.append(f"{alias_time} < %s")
        params.append(end)
    for cond, value in extra:
        if value is not None:
            where.append(cond)
            params.append(value)
    return " AND ".join(where), params


def _table(model) -> str:
    return model._meta.db_table


def _ledger_columns() -> list[Col]:
    return [
        Col("entry", "e.id", INT, _("Entry no.")),
        Col("time", "e.created_at", TIME, _("Time")),
        Col("transfer", "t.id", INT, _("Transfer no.")),
        Col("kind", "t.kind", ENUM, _("Kind"), tuple(Transfer.Kind.choices)),
        Col("reference", "t.reference", TEXT, _("Reference")),
        Col("order", "o.number", TEXT, _("Order")),
        Col("account", "a.kind", ENUM, _("Account"), tuple(Account.Kind.choices)),
        Col("distributor", "d.name", TEXT, _("Distributor")),
        Col("currency", "e.currency", ENUM, _("Currency")),
        Col("amount", "e.amount", NUM, _("Amount")),
        Col("balance_after", "e.balance_after", NUM, _("Balance after entry")),
        Col("memo", "t.memo", TEXT, _("Memo")),
    ]


def ledger_sheet(*, start=None, end=None, wallet_id=None) -> Sheet:
    cond, params = _where("e.created_at", start, end, [("a.wallet_id = %s", wallet_id)])
    body = (
        f"FROM {_table(Entry)} e JOIN {_table(Transfer)} t ON t.id = e.transfer_id JOIN {_table(Account)} a ON a.id = e.account_id"
        f" LEFT JOIN {_table(Order)} o ON o.id = t.order_id LEFT JOIN settlement_wallet w ON w.id = a.wallet_id"
        f" LEFT JOIN channels_distributor d ON d.id = w.distributor_id WHERE {cond}"
    )
    return Sheet(columns=_ledger_columns(), body=body, params=params, order_by="e.id", title="ledger")


def orders_sheet(*, start=None, end=None, distributor_id=None) -> Sheet:
    cond, params = _where("o.created_at", start, end, [("o.distributor_id = %s", distributor_id)])
    columns = [
        Col("order", "o.number", TEXT, _("Order")),
        Col("created", "o.created_at", TIME, _("Created")),
        Col("channel", "o.channel", ENUM, _("Channel"), tuple(Order.Channel.choices)),
        Col("distributor", "d.name", TEXT, _("Distributor")),
        Col("storefront", "sf.title", TEXT, _("Storefront")),
        Col("sku", "s.code", TEXT, _("SKU")),
        Col("product", "s.name", TEXT, _("Product")),
        Col("quantity", "o.quantity", INT, _("Quantity")),
        Col("unit_price", "o.unit_price", NUM, _("Unit price")),
        Col("total", "o.total", NUM, _("Total")),
        Col("list_total", "o.list_total", NUM, _("List total")),
        Col("discount", "o.discount", NUM, _("Discount")),
        Col("discount_platform", "o.discount_platform", NUM, _("Discount funded by the platform")),
        Col("discount_distributor", "o.discount_distributor", NUM, _("Discount funded by the distributor")),
        Col("promotion", "mc.name", TEXT, _("Marketing campaign")),
        Col("basket", "o.basket", TEXT, _("Bundle basket")),
        Col("currency", "o.currency", ENUM, _("Currency")),
        Col("status", "o.status", ENUM, _("Status"), tuple(Order.Status.choices)),
        Col("refunded_quantity", "o.refunded_quantity", INT, _("Refunded quantity")),
        Col("refunded_amount", "o.refunded_amount", NUM, _("Refunded amount")),
        Col("paid_at", "o.paid_at", TIME, _("Paid at")),
        Col("campaign", "o.campaign", TEXT, _("Campaign")),
        Col("referrer", "o.referrer", TEXT, _("Referrer")),
    ]
    body = (
        f"FROM {_table(Order)} o JOIN catalog_sku s ON s.id = o.sku_id JOIN channels_distributor d ON d.id = o.distributor_id"
        f" LEFT JOIN channels_storefront sf ON sf.id = o.storefront_id LEFT JOIN marketing_campaign mc ON mc.id = o.promotion_id"
        f" WHERE {cond}"
    )
    return Sheet(columns=columns, body=body, params=params, order_by="o.id", title="orders")


def commission_sheet(*, start=None, end=None, wallet_id=None) -> Sheet:
    cond, params = _where("c.created_at", start, end, [("c.wallet_id = %s", wallet_id)])
    columns = [
        Col("order", "o.number", TEXT, _("Order")),
        Col("created", "c.created_at", TIME, _("Created")),
        Col("beneficiary", "d.name", TEXT, _("Beneficiary")),
        Col("depth", "c.depth", INT, _("Levels up")),
        Col("amount", "c.amount", NUM, _("Amount")),
        Col("clawed_back", "c.clawed_back", NUM, _("Clawed back")),
        Col("status", "c.status", ENUM, _("Status"), tuple(CommissionAccrual.Status.choices)),
        Col("release_after", "c.release_after", TIME, _("Frozen until")),
        Col("released_at", "c.released_at", TIME, _("Released at")),
    ]
    body = (
        f"FROM {_table(CommissionAccrual)} c JOIN {_table(Order)} o ON o.id = c.order_id"
        f" JOIN settlement_wallet w ON w.id = c.wallet_id JOIN channels_distributor d ON d.id = w.distributor_id WHERE {cond}"
    )
    return Sheet(columns=columns, body=body, params=params, order_by="c.id", title="commission")


def supplier_sheet(*, start=None, end=None, supplier_id=None) -> Sheet:
    """What each supplier is owed for, at the real cost: card codes consumed (sold, net of returns to stock) per
    batch, at the unit cost of the replenishment that bought the batch from the supplier, else the SKU's cost
    price; and direct top-ups that succeeded (wholly or in part), at the cost the supplier charged, per SKU.
    Reads supply's tables (read-only: supply writes them)."""
    code_cond, code_params = _where("ev.created_at", start, end, [("p.supplier_id = %s", supplier_id)])
    topup_cond, topup_params = _where("t.finished_at", start, end, [("u.supplier_id = %s", supplier_id)])
    unit_cost = "coalesce((SELECT max(r.unit_cost) FROM supply_replenishment r WHERE r.batch_id = b.id), s.cost_price)"
    codes = (
        f"SELECT 'codes' AS source, sup.name AS supplier, b.id AS batch, b.label AS batch_label, s.code AS sku,"
        f" count(*) AS units, {unit_cost} AS unit_cost, count(*) * {unit_cost} AS cost"
        " FROM catalog_codeevent ev JOIN catalog_cardcode cc ON cc.id = ev.code_id JOIN catalog_codebatch b ON b.id = cc.batch_id"
        " JOIN catalog_sku s ON s.id = cc.sku_id JOIN catalog_product p ON p.id = s.product_id"
        " LEFT JOIN catalog_supplier sup ON sup.id = p.supplier_id"
        f" WHERE ev.to_status = 'sold' AND ev.from_status = 'reserved' AND {code_cond}"
        " GROUP BY sup.name, b.id, b.label, s.code, s.cost_price"
    )
    topups = (
        "SELECT 'topups', sup.name, NULL, NULL, s.code, count(*), round(sum(t.cost) / count(*), 2), sum(t.cost)"
        " FROM supply_topup t JOIN supply_upstream u ON u.id = t.upstream_id JOIN catalog_supplier sup ON sup.id = u.supplier_id"
        " JOIN catalog_sku s ON s.id = t.sku_id"
        f" WHERE t.status IN ('success', 'partial') AND t.cost IS NOT NULL AND {topup_cond}"
        " GROUP BY sup.name, s.code"
    )
    columns = [
        Col("supplier", "x.supplier", TEXT, _("Supplier")),
        Col("source", "x.source", ENUM, _("Goods"), (("codes", _("Card codes")), ("topups", _("Direct top-ups")))),
        Col("batch", "x.batch", INT, _("Batch")),
        Col("batch_label", "x.batch_label", TEXT, _("Batch label")),
        Col("sku", "x.sku", TEXT, _("SKU")),
        Col("codes", "x.units", INT, _("Quantity")),
        Col("unit_cost", "x.unit_cost", NUM, _("Unit cost")),
        Col("cost", "x.cost", NUM, _("Cost")),
    ]
    body = f"FROM ({codes} UNION ALL {topups}) x"
    return Sheet(
        columns=columns, body=body, params=code_params + topup_params, order_by="x.supplier, x.source, x.batch, x.sku", title="supplier"
    )


SHEETS: dict[str, Callable[..., Sheet]] = {
    "ledger": ledger_sheet,
    "orders": orders_sheet,
    "commission": commission_sheet,
    "supplier": supplier_sheet,
}


# --- SQL that renders rows (PostgreSQL) -----------------------------------------------------------


def _tz() -> str:
    return settings.TIME_ZONE


def _xml_text_sql(expr: str) -> str:
    clean = f"translate(({expr})::text, %s, '')"
    for plain, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\t", "&#9;"), ("\n", "&#10;"), ("\r", "&#13;")):
        clean = f"replace({clean}, {_literal(plain)}, '{entity}')"
    return clean


def _literal(value: str) -> str:
    return {"\t": "E'\\t'", "\n": "E'\\n'", "\r": "E'\\r'"}.get(value, f"'{value}'")


def _enum_sql(col: Col, *, as_xml: bool) -> tuple[str, list]:
    """The column's label for its stored value (CASE … WHEN value THEN label), the value itself when unknown."""
    if not col.choices:
        return f"({col.expr})::text", []
    params: list = []
    for value, label in col.choices:
        params += [str(value), escape(str(label)) if as_xml else str(label)]
    whens = " ".join("WHEN %s THEN %s" for _choice in col.choices)
    return f"(CASE ({col.expr})::text {whens} ELSE ({col.expr})::text END)", params


def _xml_cell_sql(col: Col) -> tuple[str, list]:
    if col.kind == INT:
        return f"coalesce('<c><v>' || ({col.expr})::text || '</v></c>', '<c/>')", []
    if col.kind == NUM:
        return f"coalesce('<c s=\"{xlsx.MONEY_STYLE}\"><v>' || ({col.expr})::text || '</v></c>', '<c/>')", []
    if col.kind == TIME:
        serial = f"(extract(epoch from (({col.expr}) AT TIME ZONE %s))::float8 / 86400.0 + 25569)::text"
        return f"coalesce('<c s=\"1\"><v>' || {serial} || '</v></c>', '<c/>')", [_tz()]
    if col.kind == ENUM:
        label, params = _enum_sql(col, as_xml=True)
        return f"coalesce('<c t=\"inlineStr\"><is><t>' || {label} || '</t></is></c>', '<c/>')", params
    return f"coalesce('<c t=\"inlineStr\"><is><t xml:space=\"preserve\">' || {_xml_text_sql(col.expr)} || '</t></is></c>', '<c/>')", [
        _CONTROL
    ]


def xml_rows_sql(sheet: Sheet) -> tuple[str, list]:
    """One text column per row: the row's worksheet XML."""
    parts, params = [], []
    for col in sheet.columns:
        sql, p = _xml_cell_sql(col)
        parts.append(sql)
        params.extend(p)
    return f"SELECT '<row>' || {' || '.join(parts)} || '</row>' {sheet.body}{sheet._order()}", params + list(sheet.params)


def _csv_cell_sql(col: Col) -> tuple[str, list]:
    if col.kind == TIME:
        return f"to_char(({col.expr}) AT TIME ZONE %s, 'YYYY-MM-DD HH24:MI:SS')", [_tz()]
    if col.kind == TEXT:  # a cell starting with = + - @ would be a formula in a spreadsheet
        return (
            f"CASE WHEN left(({col.expr})::text, 1) IN ('=', '+', '-', '@') THEN '''' || ({col.expr})::text ELSE ({col.expr})::text END",
            [],
        )
    if col.kind == ENUM:
        return _enum_sql(col, as_xml=False)
    return col.expr, []


def csv_rows_sql(sheet: Sheet) -> tuple[str, list]:
    parts, params = [], []
    for col in sheet.columns:
        sql, p = _csv_cell_sql(col)
        parts.append(sql)
        params.extend(p)
    return f"SELECT {', '.join(parts)} {sheet.body}{sheet._order()}", params + list(sheet.params)


def _copy_out(sql: str, params: list) -> Iterator[bytes]:
    """Blocks of `COPY (sql) TO STDOUT` through the request's own connection (and transaction)."""
    connection.ensure_connection()
    with connection.connection.cursor() as cur:
        with cur.copy(f"COPY ({sql}) TO STDOUT", params or None) as copy:
            for block in copy:
                yield bytes(block)


def _copy_csv_out(sql: str, params: list) -> Iterator[bytes]:
    connection.ensure_connection()
    with connection.connection.cursor() as cur:
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params or None) as copy:
            for block in copy:
                yield bytes(block)


# --- Python rendering (SQLite, and small sheets) ---------------------------------------------------


def rows(sheet: Sheet, *, chunk: int = 5000) -> Iterator[tuple]:
    """Stream the plain rows through a server-side cursor (PostgreSQL) / chunked fetch (SQLite)."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection.cursor(name=f"export_{id(sheet)}")
        raw.itersize = chunk
        try:
            raw.execute(sheet.sql, sheet.params)
            while batch := raw.fetchmany(chunk):
                yield from batch
        finally:
            raw.close()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sheet.sql, sheet.params)
            while batch := cursor.fetchmany(chunk):
                yield from batch


def count(sheet: Sheet) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sheet.count_sql, sheet.params)
        return cursor.fetchone()[0]


def _local(value):
    if isinstance(value, str) and connection.vendor == "sqlite":
        from django.utils.dateparse import parse_datetime

        value = parse_datetime(value) or value
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, UTC)  # SQLite hands back UTC times without their zone
        return timezone.localtime(value).replace(tzinfo=None)
    return value


def _python_value(col: Col, value):
    if col.kind == TIME:
        return _local(value)
    if col.kind == ENUM:
        return col.value_label(value)
    if col.kind == NUM and value is not None and not isinstance(value, Decimal):
        return Decimal(str(value))  # SQLite hands back floats: money is written as money
    return value


def python_row_xml(sheet: Sheet, row) -> str:
    return "<row>" + "".join(xlsx.cell(_python_value(c, v)) for c, v in zip(sheet.columns, row, strict=True)) + "</row>"


def _csv_value(col: Col, value):
    if value is None:
        return ""
    if col.kind == TIME:
        value = _local(value)
        return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime | date) else value
    if col.kind == TEXT and str(value)[:1] in ("=", "+", "-", "@"):
        return "'" + str(value)
    if col.kind == ENUM:
        return col.value_label(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- Writers ---------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, progress, every: int):
        self.progress, self.every, self.n, self.next = progress, every, 0, every

    def add(self, n: int) -> None:
        self.n += n
        if self.progress is not None and self.n >= self.next:
            self.progress(self.n)
            self.next = self.n + self.every


def write_xlsx(path: Path, sheet: Sheet, *, progress=None, every: int = 20000, extra_sheets=()) -> int:
    """Write `sheet` (and small `extra_sheets`, given as (title, rows) before it) to an XLSX file; returns the row count."""
    counter = _Progress(progress, every)
    with xlsx.Workbook(path) as book:
        for title, extra_rows in extra_sheets:
            with book.sheet(title, widths=_fitted_widths(extra_rows)) as out:
                out.write("".join("<row>" + "".join(xlsx.cell(v) for v in r) + "</row>" for r in extra_rows).encode())
        with book.sheet(sheet.title, widths=[c.width for c in sheet.columns], frozen_header=True) as out:
            out.write(("<row>" + "".join(xlsx.header_cell(h) for h in sheet.headers) + "</row>\n").encode())
            if connection.vendor == "postgresql":
                sql, params = xml_rows_sql(sheet)
                pending, size = [], 0
                for block in _copy_out(sql, params):
                    pending.append(block)
                    size += 1
                    if size >= 2000:
                        _flush_xml(out, pending, counter)
                        pending, size = [], 0
                _flush_xml(out, pending, counter)
            else:
                for row in rows(sheet):
                    out.write((python_row_xml(sheet, row) + "\n").encode())
                    counter.add(1)
    return counter.n


def _fitted_widths(rows) -> list[float]:
    """Widths for a small sheet (a statement's summary) from what its cells hold."""
    widths: list[float] = []
    for row in rows:
        for i, value in enumerate(row):
            shown = 19 if isinstance(value, datetime | date) else xlsx.display_width("" if value is None else value) + 2
            if i == len(widths):
                widths.append(10.0)
            widths[i] = float(min(60, max(widths[i], shown)))
    return widths


def _flush_xml(out, blocks: list[bytes], counter: _Progress) -> None:
    if not blocks:
        return
    data = b"".join(blocks)
    if b"\\" in data:  # COPY's text format doubles backslashes; nothing else is escaped in our XML
        data = data.replace(b"\\\\", b"\\")
    out.write(data)
    counter.add(data.count(b"\n"))


def write_csv(path: Path, sheet: Sheet, *, progress=None, every: int = 20000) -> int:
    counter = _Progress(progress, every)
    with open(path, "wb") as handle:
        handle.write("\ufeff".encode())
        head = io.StringIO()
        csv.writer(head).writerow(sheet.headers)
        handle.write(head.getvalue().encode())
        if connection.vendor == "postgresql":
            sql, params = csv_rows_sql(sheet)
            pending = []
            for block in _copy_csv_out(sql, params):
                pending.append(block)
                if len(pending) >= 2000:
                    data = b"".join(pending)
                    handle.write(data)
                    counter.add(data.count(b"\n"))
                    pending = []
            if pending:
                data = b"".join(pending)
                handle.write(data)
                counter.add(data.count(b"\n"))
        else:
            text = io.StringIO()
            writer = csv.writer(text)
            for row in rows(sheet):
                writer.writerow([_csv_value(c, v) for c, v in zip(sheet.columns, row, strict=True)])
                counter.add(1)
                if text.tell() > 1 << 20:
                    handle.write(text.getvalue().encode())
                    text.seek(0)
                    text.truncate()
            handle.write(text.getvalue().encode())
    return counter.n
