"""A small streaming XLSX writer: worksheet XML goes row by row straight into the zip member.

An XLSX file is a zip of a few XML parts: the content types, the package and workbook relations, the
workbook (its sheet list), a style sheet and one XML part per worksheet. Cells are written without
coordinates (spreadsheet programs and openpyxl number them in order): numbers as `<c><v>`, text as
inline strings (no shared-string table to hold in memory), date-times as serial numbers with style 1.
Money is a number with the `#,##0.00` format (style 4), a sheet's header row is bold (style 3) and frozen,
and each column gets a width that fits its header and its kind of value, so a file reads well in Excel.
"""

import unicodedata
import zipfile
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from voucherhub.core.text import xlsx_safe

_ENTITIES = {"\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_EPOCH = datetime(1899, 12, 30)

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "{sheets}</Types>"
)
SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{sheets}</sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}'
    '<Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>'
)
STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{views}{cols}<sheetData>\n'
)
# The first row stays in view while the rest scrolls.
FROZEN_HEADER = (
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    "</sheetView></sheetViews>"
)
TIME_STYLE, DATE_STYLE, HEADER_STYLE, MONEY_STYLE = 1, 2, 3, 4
SHEET_TAIL = "</sheetData></worksheet>"


def text_xml(value: str) -> str:
    value = escape(xlsx_safe(value))  # no control characters, surrogates or non-characters: XML cannot hold them
    for plain, entity in _ENTITIES.items():
        if plain in value:
            value = value.replace(plain, entity)
    return value


def cell(value) -> str:
    """One cell's XML for a Python value."""
    if value is None:
        return "<c/>"
    if isinstance(value, bool):
        return f'<c t="b"><v>{int(value)}</v></c>'
    if isinstance(value, Decimal):
        return f'<c s="{MONEY_STYLE}"><v>{value}</v></c>'
    if isinstance(value, int | float):
        return f"<c><v>{value}</v></c>"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        return f'<c s="1"><v>{(value - _EPOCH).total_seconds() / 86400}</v></c>'
    if isinstance(value, date):
        return f'<c s="2"><v>{(value - _EPOCH.date()).days}</v></c>'
    return f'<c t="inlineStr"><is><t xml:space="preserve">{text_xml(str(value))}</t></is></c>'


def header_cell(text: str) -> str:
    return f'<c t="inlineStr" s="{HEADER_STYLE}"><is><t xml:space="preserve">{text_xml(str(text))}</t></is></c>'


def display_width(text: str) -> int:
    """How many character widths `text` takes in a spreadsheet: a CJK character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def cols_xml(widths: list[float]) -> str:
    if not widths:
        return ""
    return "<cols>" + "".join(f'<col min="{i}" max="{i}" width="{w:.1f}" customWidth="1"/>' for i, w in enumerate(widths, 1)) + "</cols>"


class Workbook:
    """`with Workbook(path) as book: with book.sheet("name") as out: out.write(b"<row>…</row>")`."""

    def __init__(self, path: Path | str, *, compresslevel: int = 1):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self.titles: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self._finish()
        finally:
            self.zip.close()

    @contextmanager
    def sheet(self, title: str, *, widths: list[float] = (), frozen_header: bool = False):
        """A worksheet part to write rows into; `widths` per column, `frozen_header` keeps row 1 in view."""
        self.titles.append(title[:31] or f"Sheet{len(self.titles) + 1}")
        with self.zip.open(f"xl/worksheets/sheet{len(self.titles)}.xml", "w", force_zip64=True) as out:
            out.write(SHEET_HEAD.format(views=FROZEN_HEADER if frozen_header else "", cols=cols_xml(list(widths))).encode())
            yield out
            out.write(SHEET_TAIL.encode())

    def _finish(self) -> None:
        n = range(1, len(self.titles) + 1)
        self.zip.writestr("[Content_Types].xml", CONTENT_TYPES.format(sheets="".join(SHEET_TYPE.format(n=i) for i in n)))
        self.zip.writestr("_rels/.rels", ROOT_RELS)
        sheets = "".join(f'<sheet name="{text_xml(t)}" sheetId="{i}" r:id="rId{i}"/>' for i, t in zip(n, self.titles, strict=True))
        self.zip.writestr("xl/workbook.xml", WORKBOOK.format(sheets=sheets))
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in n
        )
        self.zip.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.format(rels=rels))
        self.zip.writestr("xl/styles.xml", STYLES)
