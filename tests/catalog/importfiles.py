"""Building import files for tests: CSV and XLSX bytes, named uploads, fresh codes."""

import io

from openpyxl import Workbook

from catalog import codegen

HEADER = ("code", "serial", "expires_at")


def fresh_codes(n: int) -> list[str]:
    return [codegen.new_code() for _ in range(n)]


def csv_bytes(rows, header=HEADER, *, delimiter=",", encoding="utf-8") -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join("" if v is None else str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def xlsx_bytes(rows, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def named(data: bytes, name: str = "codes.csv") -> io.BytesIO:
    upload = io.BytesIO(data)
    upload.name = name
    return upload
