"""Who a targeted issuance goes to: a file of mobile numbers, chosen distributors, or a consumer segment.

Each reader returns a `RecipientList`: the good recipients in order (a phone, and a distributor for the
distributors' list) and every bad row with its row number and reason (a bad number, a duplicate, a
distributor without a mobile number). Nothing here writes; `issuance_prepare` stores the good rows.

Rules:
* A number is a mainland China mobile number: 11 digits from 13x to 19x, written with or without +86 / 86,
  spaces, dashes or brackets; a spreadsheet's number cell (13800138000 or 13800138000.0) counts too.
* A file is CSV (UTF-8, UTF-16 or GBK; comma, tab, semicolon) or XLSX, at most MARKETING_ISSUANCE_MAX_BYTES
  and MARKETING_ISSUANCE_MAX_ROWS data rows. The phone column is found by its header (phone, mobile, 手机号
  ...); a file without a header row is read as one column of numbers.
* Segments read redemption's holdings (the contact a code was delivered to) and catalog's codes, never
  settlement: "bought SKU X in the last N days and not redeemed", "signed in but never bought", "bought in
  category C in the last N days".
"""

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.models import CardCode, Product, Sku
from channels.models import Distributor
from marketing.errors import CampaignError
from marketing.models import Consumer
from redemption.models import CodeHolding, HolderLink

MAINLAND_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
PHONE_HEADERS = {
    *("phone", "phones", "mobile", "mobile_number", "phone_number", "tel", "cell"),
    *("手机", "手机号", "手机号码", "电话", "号码", "联系电话"),
}
BAD_ROWS_KEPT = 500  # the preview's report lists this many bad rows; the count covers them all

REASON_BAD_NUMBER = gettext_lazy("not a mainland mobile number")
REASON_DUPLICATE = gettext_lazy("duplicate of row %(row)s")
REASON_NO_PHONE = gettext_lazy("no mobile number on file")


class SEGMENT:
    BOUGHT_NOT_REDEEMED = "bought_not_redeemed"
    SIGNED_IN_NEVER_BOUGHT = "signed_in_never_bought"
    BOUGHT_CATEGORY = "bought_category"

    CHOICES = [
        (BOUGHT_NOT_REDEEMED, gettext_lazy("Bought a SKU in the last N days and not redeemed it")),
        (SIGNED_IN_NEVER_BOUGHT, gettext_lazy("Signed in but never bought")),
        (BOUGHT_CATEGORY, gettext_lazy("Bought in a category in the last N days")),
    ]


def max_rows() -> int:
    return int(getattr(settings, "MARKETING_ISSUANCE_MAX_ROWS", 100_000))


def max_bytes() -> int:
    return int(getattr(settings, "MARKETING_ISSUANCE_MAX_BYTES", 5 * 1024 * 1024))


@dataclass(frozen=True)
class Recipient:
    phone: str
    distributor_id: int | None = None


@dataclass
class RecipientList:
    """The good recipients and the bad rows ({"row", "value" (masked), "reason"}), first BAD_ROWS_KEPT of them."""

    recipients: list[Recipient] = field(default_factory=list)
    bad_rows: list[dict] = field(default_factory=list)
    bad_count: int = 0

    def bad(self, row: int, value: str, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad_rows) < BAD_ROWS_KEPT:
            self.bad_rows.append({"row": row, "value": value_masked(value), "reason": str(reason)})


def phone_normalized(value) -> str | None:
    """11 digits, or None when `value` is not a mainland mobile number (a float cell 1.38e10 included)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"[\s\-().]", "", str(value).strip()) if not isinstance(value, int) else str(value)
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    match = MAINLAND_MOBILE.fullmatch(text)
    return match.group(1) if match else None


def phone_masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else "****"


def value_masked(value: str) -> str:
    """A bad row's cell as a report shows it: long digit runs masked like a phone, text cut short."""
    text = str(value if value is not None else "").strip()[:40]
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 7:
        return f"{text[:3]}****{text[-4:]}"
    return text


def _collect(rows: Iterable[tuple[int, object]], *, distributor_of=None) -> RecipientList:
    """Good and bad rows of (row number, cell); a number seen before is a duplicate of its first row."""
    result = RecipientList()
    first_row: dict[str, int] = {}
    for row_no, cell in rows:
        phone = phone_normalized(cell)
        if phone is None:
            result.bad(row_no, cell, REASON_BAD_NUMBER)
            continue
        if phone in first_row:
            result.bad(row_no, cell, REASON_DUPLICATE % {"row": first_row[phone]})
            continue
        first_row[phone] = row_no
        result.recipients.append(Recipient(phone=phone, distributor_id=distributor_of(row_no) if distributor_of else None))
    return result


# --- Files ----------------------------------------------------------------------------------------------


def file_rejected(message) -> CampaignError:
    return CampaignError(message, field="file")


def _header_key(cell) -> str:
    text = str(cell if cell is not None else "").strip().lstrip("\ufeff").strip().lower()
    return re.sub(r"[\s\-]+", "_", text).strip("?*_：:")


def _phone_column(first: list) -> tuple[int, bool]:
    """(column of the phones, whether `first` is a header). Without a header: the first column."""
    for position, cell in enumerate(first):
        if _header_key(cell) in PHONE_HEADERS:
            return position, True
    if any(phone_normalized(cell) for cell in first):
        return next(i for i, cell in enumerate(first) if phone_normalized(cell)), False
    raise file_rejected(_("No phone column: name it “phone” or “手机号”, or put one number per line without a header."))


def _decode(data: bytes) -> str:
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise file_rejected(_("The file is not readable text (save it as UTF-8 CSV or XLSX)."))


def _numbered(rows: Iterable, filled) -> Iterator[tuple[int, list]]:
    for row_no, row in enumerate(rows, start=1):
        if filled(row):
            yield row_no, list(row)


def _csv_rows(data: bytes) -> Iterator[tuple[int, list]]:
    text = _decode(data)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = next((d for d in ("\t", ";", ",") if d in first_line), ",")
    try:
        yield from _numbered(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), lambda r: any(c.strip() for c in r))
    except csv.Error as exc:
        raise file_rejected(_("The CSV file cannot be read: %(error)s") % {"error": str(exc)[:80]})


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError):
        raise file_rejected(_("The XLSX file cannot be read."))
    try:
        sheet = book.active if book.active is not None and hasattr(book.active, "iter_rows") else book.worksheets[0]
        filled = lambda row: any(c is not None and str(c).strip() for c in row)  # noqa: E731
        yield from _numbered(sheet.iter_rows(values_only=True), filled)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, IndexError):
        raise file_rejected(_("The XLSX file cannot be read."))
    finally:
        book.close()


def recipients_from_file(data: bytes, *, filename: str = "") -> RecipientList:
    """The recipients of a CSV or XLSX file of mobile numbers, rows numbered as a spreadsheet shows them.
    Raises CampaignError(field="file") for an empty, oversized, unreadable or unsupported file, or one with
    more than max_rows() data rows."""
    if not data or not data.strip():
        raise file_rejected(_("The file is empty."))
    if len(data) > max_bytes():
        raise file_rejected(_("The file is larger than %(mb)s MB: split it.") % {"mb": max_bytes() // (1024 * 1024)})
    if data.startswith((b"\xd0\xcf\x11\xe0", b"%PDF")) or filename.lower().endswith((".xls", ".pdf", ".doc", ".docx")):
        raise file_rejected(_("Upload a CSV or XLSX file (an old .xls file: save it as XLSX)."))
    rows = _xlsx_rows(data) if data.startswith(b"PK\x03\x04") else _csv_rows(data)
    first = next(rows, None)
    if first is None:
        raise file_rejected(_("The file is empty."))
    column, is_header = _phone_column(first[1])
    limit = max_rows()

    def cells() -> Iterator[tuple[int, object]]:
        for count, (row_no, row) in enumerate(itertools.chain([] if is_header else [first], rows), start=1):
            if count > limit:
                raise file_rejected(_("The file has more than %(max)s rows: split it.") % {"max": f"{limit:,}"})
            yield row_no, row[column] if column < len(row) else None

    return _collect(cells())


# --- Distributors and segments ---------------------------------------------------------------------------


def recipients_of_distributors(distributor_ids: Iterable[int]) -> RecipientList:
    """Each chosen distributor at its contact mobile number; one without a usable number is a bad row
    (numbered by its place in the choice, named by the distributor)."""
    ids = sorted({int(pk) for pk in distributor_ids})
    if not ids:
        raise CampaignError(_("Choose at least one distributor."), field="distributors")
    found = {d.pk: d for d in Distributor.objects.filter(pk__in=ids)}
    if len(found) != len(ids):
        raise CampaignError(_("One of the chosen distributors does not exist."), field="distributors")
    result = RecipientList()
    first_row: dict[str, int] = {}
    for row_no, pk in enumerate(ids, start=1):
        distributor = found[pk]
        phone = phone_normalized(distributor.phone)
        if phone is None:
            result.bad(row_no, distributor.name, REASON_NO_PHONE)
        elif phone in first_row:
            result.bad(row_no, distributor.name, REASON_DUPLICATE % {"row": first_row[phone]})
        else:
            first_row[phone] = row_no
            result.recipients.append(Recipient(phone=phone, distributor_id=pk))
    return result


def _held_phones(codes) -> Iterator[str]:
    """The phones the active holdings of `codes` were delivered to (a gift counts for its receiver)."""
    links = CodeHolding.objects.filter(active=True, code__in=codes).values("link_id")
    contacts = HolderLink.objects.filter(pk__in=links, contact_kind=HolderLink.ContactKind.PHONE).values_list("contact", flat=True)
    yield from contacts.distinct().order_by("contact").iterator(chunk_size=2000)


def _days(params: dict) -> int:
    try:
        days = int(params.get("days") or 30)
    except (TypeError, ValueError):
        raise CampaignError(_("Enter a number of days."), field="days")
    if not 1 <= days <= 366:
        raise CampaignError(_("Enter between 1 and 366 days."), field="days")
    return days


def segment_phones(segment: dict) -> Iterator[str]:
    """The raw contacts of a segment ({"kind", "sku_id" | "category", "days"}). Raises CampaignError naming the field."""
    kind = (segment or {}).get("kind")
    if kind == SEGMENT.BOUGHT_NOT_REDEEMED:
        sku = Sku.objects.filter(pk=segment.get("sku_id") or 0).first()
        if sku is None:
            raise CampaignError(_("Choose a SKU."), field="sku")
        since = timezone.now() - timedelta(days=_days(segment))
        codes = CardCode.objects.filter(sku=sku, status=CardCode.Status.SOLD, holdings__created_at__gte=since)
        return _held_phones(codes)
    if kind == SEGMENT.BOUGHT_CATEGORY:
        category = segment.get("category")
        if category not in Product.Category.values:
            raise CampaignError(_("Choose a category."), field="category")
        since = timezone.now() - timedelta(days=_days(segment))
        codes = CardCode.objects.filter(sku__product__category=category, holdings__created_at__gte=since)
        return _held_phones(codes)
    if kind == SEGMENT.SIGNED_IN_NEVER_BOUGHT:
        bought = HolderLink.objects.filter(contact=OuterRef("phone"), gifted_by__isnull=True)
        consumers = Consumer.objects.filter(last_login_at__isnull=False).exclude(Exists(bought))
        return consumers.order_by("phone").values_list("phone", flat=True).iterator(chunk_size=2000)
    raise CampaignError(_("Choose a segment."), field="segment")


def recipients_of_segment(segment: dict) -> RecipientList:
    """Everyone in a segment, once each; a contact that is not a mainland mobile number is left out (and counted)."""
    return _collect((row_no, phone) for row_no, phone in enumerate(segment_phones(segment), start=1))
