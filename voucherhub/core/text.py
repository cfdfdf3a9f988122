"""Characters that do not belong in stored text, and the one place that keeps them out of spreadsheets.

* `text_unsafe_characters` / `validate_text_characters`: control characters (C0 and C1; tab, line feed and
  carriage return are allowed), lone surrogates and Unicode non-characters (U+FDD0..U+FDEF and the last two
  code points of every plane). The API refuses them in every text it accepts (voucherhub.core.api's parsers),
  so what a client sends can be stored, shown, exported and sent on.
* `xlsx_safe`: a cell value with those characters dropped. XML 1.0 (and so an XLSX file) cannot hold most of
  them and openpyxl refuses the C0 ones with IllegalCharacterError; every XLSX writer of the project runs its
  text through this (settlement.xlsx, redemption.exports, django-import-export through `SafeXLSX`), so rows
  written before the API refused them, or by another way in, never make an export fail.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from import_export.formats.base_formats import XLSX

_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 controls but tab, LF, CR; DEL and the C1 controls
    "\ud800-\udfff"  # lone surrogates (not characters; they cannot even be encoded as UTF-8)
    "\ufdd0-\ufdef"  # non-characters
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17))
    + "]"
)

# The same characters as a list, for SQL's translate(text, from, '') (settlement.exporting writes XLSX rows
# in PostgreSQL): without NUL and the surrogates, which PostgreSQL text cannot hold.
UNSAFE_CHARACTERS = "".join(
    [chr(c) for c in range(1, 0xA0) if (c < 0x20 and c not in (9, 10, 13)) or c >= 0x7F]
    + [chr(c) for c in range(0xFDD0, 0xFDF0)]
    + [chr(plane * 0x10000 + low) for plane in range(17) for low in (0xFFFE, 0xFFFF)]
)

UNSAFE_TEXT_MESSAGE = _("Remove the control characters or non-characters from this text (found: %(found)s).")


def text_unsafe_characters(value: str) -> list[str]:
    """The distinct unsafe characters of `value`, as U+XXXX, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _UNSAFE.finditer(value):
        seen.setdefault(f"U+{ord(match.group()):04X}", None)
    return list(seen)


def validate_text_characters(value) -> None:
    """A Django validator: refuses text with control characters, surrogates or non-characters."""
    if isinstance(value, str):
        found = text_unsafe_characters(value)
        if found:
            raise ValidationError(UNSAFE_TEXT_MESSAGE, code="unsafe_characters", params={"found": ", ".join(found[:5])})


def xlsx_safe(value):
    """A spreadsheet cell's value with the characters an XLSX file cannot hold removed (other values unchanged)."""
    if isinstance(value, str):
        return _UNSAFE.sub("", value)
    return value


class SafeXLSX(XLSX):
    """django-import-export's XLSX format with every text cell through `xlsx_safe` (IMPORT_EXPORT_FORMATS)."""

    def export_data(self, dataset, **kwargs):
        safe = dataset.__class__(headers=[xlsx_safe(h) for h in dataset.headers or []] or None, title=dataset.title)
        for row in dataset:
            safe.append([xlsx_safe(value) for value in row])
        return super().export_data(safe, **kwargs)
