"""A chart's data as an XLSX file: the `?export=<chart key>` of every dashboard (analytics/dashboards.py).

The sheet holds the chart's table view (Chart.table()): a bold, frozen header row, then one row per category;
money is a number with two places (formatted #,##0.00, so a spreadsheet sums it), percentages a number with one
place, counts whole numbers. Written with settlement's streaming XLSX writer (settlement/xlsx.py)."""

import io
import re
from decimal import Decimal

from analytics.charts import Chart
from analytics.periods import Period
from settlement.xlsx import Workbook, cell, display_width, header_cell

CENT = Decimal("0.01")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")


def export_value(chart: Chart, value):
    """A chart value as its cell holds it: Decimal with two places for money, a rounded float for a percentage."""
    if value is None or isinstance(value, str):
        return value
    if chart.money:
        return Decimal(str(value)).quantize(CENT)
    if chart.percent:
        return round(float(value), 1)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def chart_rows(chart: Chart) -> tuple[list[str], list[list]]:
    """The header (its empty corner named after the chart) and the rows with their values as cells hold them."""
    header, rows = chart.table()
    header = [str(chart.title) if i == 0 and not text else str(text) for i, text in enumerate(header)]
    return header, [[str(row[0]), *(export_value(chart, value) for value in row[1:])] for row in rows]


def chart_xlsx(chart: Chart) -> bytes:
    """The chart's data as the bytes of an XLSX workbook with one sheet."""
    header, rows = chart_rows(chart)
    widths = [min(60, max(display_width(str(row[i])) for row in [header, *rows]) + 2) for i in range(len(header))]
    buffer = io.BytesIO()
    with Workbook(buffer) as book:
        with book.sheet(_SHEET_UNSAFE.sub("-", chart.key)[:31], widths=widths, frozen_header=True) as out:
            out.write(("<row>" + "".join(header_cell(text) for text in header) + "</row>\n").encode())
            for row in rows:
                out.write(("<row>" + "".join(cell(value) for value in row) + "</row>\n").encode())
    return buffer.getvalue()


def export_filename(prefix: str, chart: Chart, period: Period) -> str:
    """The file name "<prefix>-<key>-<start>-<end>.xlsx", with nothing but letters, digits, dots, dashes and underscores."""
    name = f"{prefix}-{chart.key}-{period.start.isoformat()}-{period.end.isoformat()}"
    return _UNSAFE.sub("-", name).strip("-") + ".xlsx"
