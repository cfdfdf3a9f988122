"""A campaign's results as an XLSX workbook (openpyxl), in the house style of settlement/xlsx.py: a bold, frozen
header row, columns wide enough for their header and values (CJK characters count double), money as numbers
in the `#,##0.00` format, rates as percentages, headers in the reader's language. Text is always stored as
text (a name starting with "=" never becomes a formula)."""

import io
import unicodedata
from decimal import Decimal

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from marketing.selectors_results import Breakdown, Results
from voucherhub.core.text import xlsx_safe

MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.00%"


def _width(value) -> int:
    text = str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list], formats: dict[int, str]):
    sheet = book.create_sheet(title=title[:31])
    sheet.append([xlsx_safe(h) for h in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [_width(h) for h in header]
    for values in rows:
        sheet.append([xlsx_safe(v) for v in values])
        for index, cell in enumerate(sheet[sheet.max_row]):
            if isinstance(cell.value, str):
                cell.data_type = "s"
            elif index in formats and cell.value is not None:
                cell.number_format = formats[index]
            widths[index] = max(widths[index], _width(values[index] if values[index] is not None else ""))
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths):
        sheet.column_dimensions[sheet.cell(row=1, column=index + 1).column_letter].width = min(max(width + 2, 10), 60)
    return sheet


def _rate(value: Decimal | None):
    return float(value) if value is not None else None


def _breakdown_rows(rows: list[Breakdown]) -> list[list]:
    return [[r.label, r.orders, r.quantity, r.list_amount, r.discount, r.paid, r.new_customers, _rate(r.new_share)] for r in rows]


def results_workbook(results: Results) -> bytes:
    """Three sheets: the summary, per channel, per distributor."""
    book = Workbook()
    book.remove(book.active)
    summary = [
        [_("Campaign"), results.campaign.name, None],
        [_("Kind"), results.campaign.get_kind_display(), None],
        [_("Issued"), results.issued, None],
        [_("Claimed"), results.claimed, None],
        [_("Used (paid orders)"), results.used, None],
        [_("Codes sold"), results.codes_sold, None],
        [_("Codes redeemed"), results.codes_redeemed, None],
        [_("Redemption rate"), None, _rate(results.redemption_rate)],
        [_("Cost (discounts)"), results.cost, None],
        [_("Revenue (paid)"), results.revenue, None],
        [_("Cost of goods"), results.cost_of_goods, None],
        [_("ROI"), None, _rate(results.roi)],
        [_("New-customer share"), None, _rate(results.new_customer_share)],
    ]
    sheet = _sheet(book, _("Summary"), [_("Measure"), _("Value"), _("Rate")], summary, {2: PERCENT_FORMAT})
    for row in range(2, sheet.max_row + 1):
        if isinstance(sheet.cell(row=row, column=2).value, Decimal):
            sheet.cell(row=row, column=2).number_format = MONEY_FORMAT
    header = [_("Orders"), _("Quantity"), _("List amount"), _("Discount"), _("Paid"), _("New customers"), _("New-customer share")]
    formats = {3: MONEY_FORMAT, 4: MONEY_FORMAT, 5: MONEY_FORMAT, 7: PERCENT_FORMAT}
    _sheet(book, _("By channel"), [_("Channel"), *header], _breakdown_rows(results.by_channel), formats)
    _sheet(book, _("By distributor"), [_("Distributor"), *header], _breakdown_rows(results.by_distributor), formats)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
