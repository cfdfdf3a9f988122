"""Redemption exports (XLSX, CSV) for the merchant console. Codes appear only as their masked hint."""

import csv
import io

from django.utils import timezone
from django.utils.translation import gettext
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from redemption.models import Redemption
from voucherhub.core.text import xlsx_safe

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _headers() -> list[str]:
    return [
        gettext("Redeemed at"),
        gettext("Store"),
        gettext("Terminal"),
        gettext("Clerk"),
        gettext("Code"),
        gettext("Serial number"),
        gettext("SKU"),
        gettext("Product"),
        gettext("Amount"),
        gettext("Bill amount"),
        gettext("Balance after"),
        gettext("Owed to merchant"),
        gettext("Status"),
        gettext("Reversed at"),
        gettext("Receipt number"),
        gettext("Channel"),
    ]


def _row(r: Redemption) -> list:
    def local(moment):
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    return [
        local(r.created_at),
        r.store.name,
        r.terminal.name if r.terminal_id else "",
        r.clerk.get_username() if r.clerk_id else "",
        r.code.hint,
        r.code.serial,
        r.sku.code,
        r.sku.name,
        r.amount,
        r.spend if r.spend is not None else "",
        r.balance_after if r.balance_after is not None else "",
        r.amount_owed,
        r.get_status_display(),
        local(r.reversed_at),
        r.reference,
        r.get_channel_display(),
    ]


def _safe(value):
    """Spreadsheet apps run cells that start like a formula; text from outside gets a leading quote."""
    value = xlsx_safe(value)  # what an XLSX file cannot hold is dropped (the CSV gets the same text)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def redemptions_xlsx(redemptions) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(gettext("Redemptions"))
    headers = _headers()
    for index, width in enumerate([20, 18, 16, 12, 12, 16, 18, 24, 10, 10, 10, 12, 10, 20, 14, 12], start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append(headers)
    for redemption in redemptions.iterator(chunk_size=2000):
        sheet.append([_safe(v) for v in _row(redemption)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def redemptions_csv_rows(redemptions):
    """CSV lines one by one (for a streaming response); starts with a BOM so spreadsheet apps read UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return value

    writer.writerow(_headers())
    yield "\ufeff" + take()
    for redemption in redemptions.iterator(chunk_size=2000):
        writer.writerow([_safe(str(v)) for v in _row(redemption)])
        yield take()
