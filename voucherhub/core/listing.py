"""What every list page does the same way: search, a status filter, a date range, pagination that keeps them,
and a CSV or XLSX file of exactly what is filtered.

    form = ListFilterForm(request.GET, statuses=Order.Status.choices)
    if not form.is_valid(): render the page with the form's errors, status 400
    qs = list_filter(qs, form, search=["number", "sku__name"], date_field="created_at", status_field="status")
    if form.export_format: return table_response(rows=..., columns=[Column(_("Order"), "text"), ...], name="orders", fmt=...)

An XLSX reads well in Excel: translated headers in bold on a frozen row, money as numbers with two decimals,
moments as Excel date-times in the reader's time zone, column widths that fit."""

import csv
import io
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django import forms
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

EXPORT_LIMIT = 50_000  # rows in one file; a bigger export is a finance job


class ListFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), required=False)
    start = forms.DateField(label=_("Date from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Date to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    export = forms.ChoiceField(required=False, choices=[("", ""), ("csv", "CSV"), ("xlsx", "XLSX")], widget=forms.HiddenInput)

    def __init__(self, data=None, *, statuses=(), **kwargs):
        super().__init__(data, **kwargs)
        if statuses:
            self.fields["status"].choices = [("", _("All"))] + list(statuses)
        else:
            del self.fields["status"]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", _("The end date is before the start date."))
        return data

    @property
    def export_format(self) -> str:
        return self.cleaned_data.get("export") or ""

    def query(self, **extra) -> str:
        """The filter as a query string (for pagination and export links), with `extra` set or removed."""
        params = {k: v for k, v in (self.data.items() if self.is_bound else []) if k in self.fields and k != "export" and v}
        params.update({k: v for k, v in extra.items() if v})
        return urlencode(params)


def list_filter(
    qs: QuerySet, form: ListFilterForm, *, search=(), date_field: str | None = None, status_field: str | None = None
) -> QuerySet:
    """`qs` narrowed by a valid `form`: the search text in any of `search` (icontains), the status, and the
    local calendar days start..end (both included) on `date_field`."""
    data = form.cleaned_data
    if data.get("q") and search:
        text = data["q"].strip()
        qs = qs.filter(reduce(or_, (Q(**{f"{field}__icontains": text}) for field in search)))
    if status_field and data.get("status"):
        qs = qs.filter(**{status_field: data["status"]})
    tz = timezone.get_current_timezone()
    if date_field and data.get("start"):
        qs = qs.filter(**{f"{date_field}__gte": timezone.make_aware(datetime.combine(data["start"], time.min), tz)})
    if date_field and data.get("end"):
        qs = qs.filter(**{f"{date_field}__lt": timezone.make_aware(datetime.combine(data["end"] + timedelta(days=1), time.min), tz)})
    return qs


@dataclass(frozen=True)
class Column:
    header: object  # a (lazy) translated header
    kind: str = "text"  # text | money | int | datetime | date


# A text cell that a spreadsheet would read as a formula (a downline member named "=HYPERLINK(...)", a payee
# "+1..."): CSV gets a leading apostrophe, XLSX stores it as a string, never as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _plain(value, kind: str):
    if value is None:
        return ""
    if kind == "text" and str(value).startswith(FORMULA_START):
        return "'" + str(value)
    if kind == "datetime" and isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "money":
        return f"{Decimal(value):.2f}"
    return str(value)


def _excel(value, kind: str):
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if kind == "money":
        return Decimal(value)
    if kind in ("int", "date"):
        return value
    return str(value)


NUMBER_FORMATS = {"money": "#,##0.00", "datetime": "yyyy-mm-dd hh:mm", "date": "yyyy-mm-dd", "int": "0"}


def table_response(*, rows, columns: list[Column], name: str, fmt: str) -> HttpResponse:
    """A CSV (UTF-8 with a BOM, so Excel reads Chinese) or XLSX download of `rows` (tuples in column order)."""
    headers = [str(column.header) for column in columns]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for count, row in enumerate(rows):
            if count >= EXPORT_LIMIT:
                break
            writer.writerow([_plain(value, column.kind) for value, column in zip(row, columns, strict=True)])
        response = HttpResponse(buffer.getvalue().encode("utf-8-sig"), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            _xlsx(rows, columns, headers), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        fmt = "xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


def _xlsx(rows, columns: list[Column], headers: list[str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = [max(8, len(h.encode("gbk", "replace")) + 2) for h in headers]
    for count, row in enumerate(rows):
        if count >= EXPORT_LIMIT:
            break
        values = [_excel(value, column.kind) for value, column in zip(row, columns, strict=True)]
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # text that openpyxl took for a formula: a string, as it was typed
                cell.data_type = "s"
        for index, (value, column) in enumerate(zip(values, columns, strict=True)):
            shown = 16 if column.kind == "datetime" else len(str(value if value is not None else "").encode("gbk", "replace"))
            widths[index] = min(60, max(widths[index], shown + 2))
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = widths[index - 1]
        if column.kind in NUMBER_FORMATS:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = NUMBER_FORMATS[column.kind]
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
