"""Checking rows and the report of the bad ones.

`RowChecker` takes a source's rows a chunk at a time and sorts them into good rows (normalized code, its
blind index and masked hint, serial, expiry) and bad rows (row number, `Reason`, masked hint; never a
code). `rows_check` is the dry run of a whole file; `error_text` words a bad row for people. The blind
index is the identity of a code, so a duplicate in the file or a code already in the vault is caught
without decrypting anything.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog import vault
from catalog.importing.errors import ImportFileRejected
from catalog.models import CardCode, ImportJob
from catalog.services import existing_indexes

Failure = ImportJob.Failure

CODE_MIN_LENGTH = 6
CODE_MAX_LENGTH = 64
SERIAL_MAX_LENGTH = 64
MAX_ROWS = 1_000_000


def chunk_rows() -> int:
    """Rows per chunk: one vault lookup, one sealing call, one COPY step, one progress write."""
    return getattr(settings, "IMPORT_CHUNK_ROWS", 10_000)


class Reason(models.TextChoices):
    """Why a row is not stored."""

    MALFORMED = "malformed", _("Malformed code")
    DUPLICATE_IN_FILE = "duplicate_in_file", _("Duplicate in the file")
    ALREADY_IN_VAULT = "already_in_vault", _("Already in the vault")
    EXPIRED = "expired", _("Expired")
    BAD_EXPIRY = "bad_expiry", _("Unreadable expiry date")
    BAD_SERIAL = "bad_serial", _("Bad serial number")


MALFORMED_DETAILS = {
    "empty": _("the code is empty"),
    "too_short": _("shorter than %(min)s characters"),
    "too_long": _("longer than %(max)s characters"),
    "bad_characters": _("only printable ASCII letters, digits and symbols are allowed"),
}


def error_text(error: dict) -> str:
    """A bad row's reason for people, in the active language (the stored row keeps only codes)."""
    reason = Reason(error["reason"]).label
    detail = ""
    if error["reason"] == Reason.MALFORMED and error.get("detail") in MALFORMED_DETAILS:
        detail = MALFORMED_DETAILS[error["detail"]] % {"min": CODE_MIN_LENGTH, "max": CODE_MAX_LENGTH}
    elif error["reason"] == Reason.DUPLICATE_IN_FILE and error.get("first_row"):
        detail = gettext("same code as row %(row)s") % {"row": error["first_row"]}
    elif error["reason"] == Reason.BAD_SERIAL:
        detail = gettext("at most %(max)s printable characters") % {"max": SERIAL_MAX_LENGTH}
    if not detail:
        return str(reason)
    return gettext("%(reason)s: %(detail)s") % {"reason": reason, "detail": detail}


_BAD = object()
_DATE_RE = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
)


def _text_of(cell) -> str | None:
    """A cell as text: numbers as their digits; None for what cannot be a code (dates, booleans, fractions)."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() and abs(cell) < 2**53 else None
    return None


def _blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _code_problem(normalized: str) -> str:
    if not normalized:
        return "empty"
    if len(normalized) < CODE_MIN_LENGTH:
        return "too_short"
    if len(normalized) > CODE_MAX_LENGTH:
        return "too_long"
    if not (normalized.isascii() and normalized.isprintable()):
        return "bad_characters"
    return ""


def _end_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def _expiry_of(cell):
    """None (no expiry), an aware datetime, or _BAD. A bare date means the end of that day, local time."""
    if cell is None:
        return None
    if isinstance(cell, datetime):
        if cell.time() == time(0, 0) and cell.tzinfo is None:
            return _end_of_day(cell.date())  # a date typed into a spreadsheet
        value = cell
    elif isinstance(cell, date):
        return _end_of_day(cell)
    elif isinstance(cell, str):
        text = cell.strip()
        if not text:
            return None
        match = _DATE_RE.match(text)
        try:
            if match:
                parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
                if "H" not in parts:
                    value = _end_of_day(date(parts["y"], parts["m"], parts["d"]))
                else:
                    value = datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"], parts.get("S", 0))
            elif re.fullmatch(r"\d{8}", text):
                value = _end_of_day(date(int(text[:4]), int(text[4:6]), int(text[6:])))
            else:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return _BAD
    else:
        return _BAD
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if not 2000 <= value.year <= 2200:
        return _BAD
    return value


def _serial_of(cell) -> str | None:
    text = _text_of(cell)
    if text is None:
        return None
    text = text.strip()
    if len(text) > SERIAL_MAX_LENGTH or not text.isprintable():
        return None
    return text


class GoodRow:
    """A row that passed the checks; its plaintext code lives in memory only until it is sealed."""

    __slots__ = ("row", "code", "index", "hint", "serial", "expires_at")

    def __init__(self, row, code, index, hint, serial, expires_at):
        self.row, self.code, self.index, self.hint, self.serial, self.expires_at = row, code, index, hint, serial, expires_at


def by_index(row: GoodRow) -> str:
    """Sort key: rows in blind-index order (the unique index's order, so racing imports never deadlock)."""
    return row.index


@dataclass
class Checked:
    """The outcome of checking a file: the rows that can be stored and every bad row (never a code)."""

    total: int = 0
    good: list[GoodRow] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def reason_counts(self) -> dict[str, int]:
        return dict(Counter(error["reason"] for error in self.errors))

    def add_error(self, row: int, reason: str, hint: str, **extra) -> None:
        self.errors.append({"row": row, "reason": str(reason), "hint": hint, **extra})

    def add_in_vault(self, rows: list[GoodRow]) -> None:
        """These good rows turned out to be in the vault already: report them, keep them out of `good`."""
        if not rows:
            return
        taken = {r.index for r in rows}
        for r in rows:
            self.add_error(r.row, Reason.ALREADY_IN_VAULT, r.hint)
        self.errors.sort(key=lambda error: error["row"])
        self.good = [r for r in self.good if r.index not in taken]


def indexes_in_vault(indexes: list[str]) -> set[str]:
    """Which of these blind indexes the vault holds (one query on the unique index)."""
    if not indexes:
        return set()
    if connection.vendor != "postgresql":
        return existing_indexes(indexes)
    import psycopg

    connection.ensure_connection()
    # Server-side binding: the list travels as one binary array parameter instead of a long SQL literal.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"SELECT blind_index FROM {CardCode._meta.db_table} WHERE blind_index = ANY(%b)", [indexes])
        return {row[0] for row in cursor.fetchall()}


class RowChecker:
    """Checks rows a chunk at a time: malformed code, duplicate in the file, bad serial, bad or past expiry,
    and (with `lookup`) already in the vault. Collects every bad row in `checked`; yields the good rows."""

    def __init__(self, *, sealer: vault.BulkSealer, lookup: bool = True):
        self.sealer, self.lookup = sealer, lookup
        self.chunk = chunk_rows()
        self.checked = Checked()

    def good_chunks(self, rows, *, progress: Callable[[int], None] | None = None) -> Iterator[list[GoodRow]]:
        checked, seen, pending = self.checked, {}, []
        now = timezone.now()
        normalize, hint_of, index_of, add_error = vault.normalize, vault.hint_of, self.sealer.index, checked.add_error
        for row_no, code_cell, serial_cell, expiry_cell in rows:
            if _blank(code_cell) and _blank(serial_cell) and _blank(expiry_cell):
                continue  # a blank line is not a row
            checked.total += 1
            if checked.total > MAX_ROWS:
                raise ImportFileRejected(Failure.TOO_MANY_ROWS, detail=gettext("at most %(max)s rows") % {"max": f"{MAX_ROWS:,}"})
            text = code_cell if type(code_cell) is str else _text_of(code_cell)
            normalized = normalize(text) if text else ""
            problem = _code_problem(normalized) if text is not None else "bad_characters"
            hint = hint_of(normalized) if normalized else ""
            if problem:
                add_error(row_no, Reason.MALFORMED, hint, detail=problem)
                continue
            index = index_of(normalized)
            first = seen.get(index)
            if first is not None:
                add_error(row_no, Reason.DUPLICATE_IN_FILE, hint, first_row=first)
                continue
            seen[index] = row_no
            serial = "" if serial_cell is None or serial_cell == "" else _serial_of(serial_cell)
            if serial is None:
                add_error(row_no, Reason.BAD_SERIAL, hint)
                continue
            expires_at = None if expiry_cell is None or expiry_cell == "" else _expiry_of(expiry_cell)
            if expires_at is _BAD:
                add_error(row_no, Reason.BAD_EXPIRY, hint)
                continue
            if expires_at is not None and expires_at <= now:
                add_error(row_no, Reason.EXPIRED, hint)
                continue
            pending.append(GoodRow(row_no, normalized, index, hint, serial, expires_at))
            if len(pending) >= self.chunk:
                yield self._settle(pending)
                pending = []
                if progress:
                    progress(checked.total)
        if pending:
            yield self._settle(pending)
        checked.errors.sort(key=lambda error: error["row"])
        if progress:
            progress(checked.total)

    def _settle(self, pending: list[GoodRow]) -> list[GoodRow]:
        if not self.lookup:
            return pending
        found = indexes_in_vault([r.index for r in pending])
        if not found:
            return pending
        for r in pending:
            if r.index in found:
                self.checked.add_error(r.row, Reason.ALREADY_IN_VAULT, r.hint)
        return [r for r in pending if r.index not in found]


def rows_check(*, rows, sealer: vault.BulkSealer, progress: Callable[[int], None] | None = None) -> Checked:
    """The dry run of a file's rows: every bad row and the good ones, nothing stored."""
    checker = RowChecker(sealer=sealer, lookup=True)
    for chunk in checker.good_chunks(rows, progress=progress):
        checker.checked.good.extend(chunk)
    return checker.checked
