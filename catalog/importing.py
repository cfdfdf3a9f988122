"""Card-code imports: read a CSV or XLSX file, check every row (a dry run), store the good rows in the vault.

    import_job_create    seal the upload (it never rests in plaintext) and record the job
    import_job_start     check it now (a small file) or in the background (django-q2)
    import_job_validate  the dry run: every bad row with its row number, reason and masked hint
    import_job_confirm   the operator's go-ahead (optionally switching to "store the valid rows")
    import_job_commit    store the good rows: all or nothing, or just the valid ones
    import_job_cancel    give up; the sealed upload is wiped
    codes_import         check and store in one pass (the `import_codes` command, the benchmark)

The blind index is the identity of a code, so a code already in the vault (another batch, the same
file imported again) or twice in one file is caught without decrypting anything, and re-importing a
file stores nothing twice. The dry run looks every chunk of rows up in the vault (one query per chunk
on the unique index). Storing is one pass and one transaction: each chunk is checked, sealed and sent
with a binary COPY (psycopg) while PostgreSQL indexes the previous one. There the unique index itself
decides: when a code is in the vault already (or a concurrent import stored it after our check), the
COPY fails and the rows go through a staging table and `INSERT ... ON CONFLICT (blind_index) DO NOTHING`,
in blind-index order, and the codes that were taken are reported as already in the vault. A deadlock
between two racing imports is retried. Mode all rolls the whole transaction back if any row is bad.
SQLite (the laptop demo) checks and inserts under its write lock with `bulk_create`.
"""

import csv
import hashlib
import io
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, OperationalError, connection, connections, models, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog import vault
from catalog.models import CardCode, CodeBatch, ImportJob, Sku
from catalog.services import CatalogError, NewCode, batch_create, codes_insert, existing_indexes
from voucherhub.core.audit import audit_record
from voucherhub.core.jobs import JobHeartbeat, JobLost, JobNotRetryable, job_claim, job_take_over

logger = logging.getLogger(__name__)

CODE_MIN_LENGTH = 6
CODE_MAX_LENGTH = 64
SERIAL_MAX_LENGTH = 64
MAX_ROWS = 1_000_000
CHUNK = 10_000  # rows per vault lookup, per COPY progress step
Failure = ImportJob.Failure
Status = ImportJob.Status
Mode = ImportJob.Mode


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", 50 * 1024 * 1024)


def _inline_limits() -> tuple[int, int]:
    return getattr(settings, "IMPORT_INLINE_MAX_ROWS", 5_000), getattr(settings, "IMPORT_INLINE_MAX_BYTES", 1024 * 1024)


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


# --- Domain errors ----------------------------------------------------------------------------


class CodeImportError(CatalogError):
    code = "import_error"


class ImportFileRejected(CodeImportError):
    """The whole file is unusable (format, header, size). Nothing was stored."""

    code = "import_file_rejected"

    def __init__(self, failure: str, *, detail: str = "", job: ImportJob | None = None, field: str | None = None):
        self.failure = failure
        self.detail = detail
        self.job = job
        message = Failure(failure).label
        super().__init__(f"{message} {detail}".strip() if detail else message, field=field)


class ImportRefused(CodeImportError):
    """All or nothing, and some rows are bad: nothing was stored. `job.errors` lists the rows."""

    code = "import_refused"
    default_message = _("All or nothing: the file has bad rows, so nothing was stored.")

    def __init__(self, *, job: ImportJob):
        self.job = job
        super().__init__()


class ImportJobStateError(CodeImportError):
    code = "import_job_state"
    status = 409
    default_message = _("This import is not in a state that allows this step.")


class AllModeHasBadRows(CodeImportError):
    code = "import_all_mode_bad_rows"
    default_message = _("All or nothing is impossible: the file has bad rows. Store only the valid rows, or fix the file.")


class _Cancelled(Exception):
    """The job was cancelled while it ran."""


# --- Reading files ------------------------------------------------------------------------------

HEADER_ALIASES = {
    "code": {"code", "codes", "card_code", "voucher_code", "卡密", "卡券码", "券码", "兑换码", "激活码"},
    "serial": {"serial", "serial_no", "serial_number", "sn", "卡号", "序列号"},
    "expires_at": {
        "expires_at",
        "expires",
        "expiry",
        "expiry_date",
        "expire_at",
        "expiration",
        "valid_until",
        "有效期",
        "有效期至",
        "到期时间",
        "到期日",
        "过期时间",
    },
}
DELIMITERS = (",", "\t", ";", "|")


def _header_key(cell) -> str:
    text = str(cell if cell is not None else "").strip().lstrip("\ufeff").strip().lower()
    return re.sub(r"[\s\-]+", "_", text).strip("?*_：:")


def _columns(header) -> dict[str, int]:
    """Where code, serial and expires_at are (by header name or alias, case-insensitive)."""
    found: dict[str, int] = {}
    keys = [_header_key(cell) for cell in header]
    for position, key in enumerate(keys):
        for name, aliases in HEADER_ALIASES.items():
            if key in aliases:
                if name in found:
                    raise ImportFileRejected(Failure.DUPLICATE_COLUMN, detail=str(header[position])[:60])
                found[name] = position
    if "code" not in found:
        # A file whose only number column is 卡号 (card number) carries the codes in it.
        if "serial" in found and keys[found["serial"]] == "卡号":
            found["code"] = found.pop("serial")
        else:
            raise ImportFileRejected(Failure.NO_CODE_COLUMN)
    return found


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")  # Excel on Chinese Windows saves CSV in GBK
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileRejected(Failure.UNREADABLE)


@dataclass
class Source:
    """An opened file: its format, an estimate of its data rows, the column positions and the data rows
    as (row number, code cell, serial cell, expiry cell). Row numbers are those a spreadsheet shows."""

    format: str
    estimate: int
    columns: dict[str, int]
    rows: Iterator[tuple]


def source_open(data: bytes, *, filename: str = "") -> Source:
    """Open a CSV or XLSX file and read its header row. Raises ImportFileRejected."""
    if not data.strip():
        raise ImportFileRejected(Failure.EMPTY)
    if len(data) > max_bytes():
        raise ImportFileRejected(Failure.TOO_LARGE)
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_open(data)
    if data.startswith((b"\xd0\xcf\x11\xe0", b"%PDF")) or filename.lower().endswith((".xls", ".pdf", ".doc", ".docx")):
        raise ImportFileRejected(Failure.UNSUPPORTED)
    return _csv_open(data)


def _first_filled(rows, filled) -> tuple[int, list]:
    """The first row that is not blank (the header) and its number; (n, []) when there is none."""
    number = 0
    for number, row in enumerate(rows, start=1):
        if filled(row):
            return number, list(row)
    return number, []


def _csv_open(data: bytes) -> Source:
    text = _decode(data)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    # The delimiter is the one that splits the header into a code column (codes may contain ; or |).
    delimiter = ","
    for candidate in DELIMITERS:
        if candidate in first_line:
            try:
                _columns(next(csv.reader([first_line], delimiter=candidate)))
            except ImportFileRejected:
                continue
            delimiter = candidate
            break
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        row_no, header = _first_filled(reader, lambda row: any(cell.strip() for cell in row))
    except csv.Error as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=str(exc)[:100])
    if not any(cell.strip() for cell in header):
        raise ImportFileRejected(Failure.EMPTY)
    columns = _columns(header)
    estimate = max(text.count("\n") - row_no + (0 if text.endswith("\n") else 1), 0)
    return Source("csv", estimate, columns, _csv_rows(reader, row_no, columns))


def _csv_rows(reader, header_row: int, columns: dict[str, int]) -> Iterator[tuple]:
    code_at, serial_at, expiry_at = columns["code"], columns.get("serial"), columns.get("expires_at")
    row_no = header_row
    try:
        for row_no, row in enumerate(reader, start=header_row + 1):
            width = len(row)
            yield (
                row_no,
                row[code_at] if code_at < width else None,
                row[serial_at] if serial_at is not None and serial_at < width else None,
                row[expiry_at] if expiry_at is not None and expiry_at < width else None,
            )
    except csv.Error as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=gettext("row %(row)s") % {"row": row_no + 1} + f": {str(exc)[:80]}")


def _xlsx_open(data: bytes) -> Source:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        # The sheet the workbook opens on (the first one, unless it was saved on another).
        sheet = book.active if book.active is not None and hasattr(book.active, "iter_rows") else book.worksheets[0]
        rows = sheet.iter_rows(min_row=1, values_only=True)
        row_no, header = _first_filled(rows, lambda row: any(cell is not None and str(cell).strip() for cell in row))
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, IndexError, TypeError) as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=type(exc).__name__)
    if not any(cell is not None and str(cell).strip() for cell in header):
        book.close()
        raise ImportFileRejected(Failure.EMPTY)
    columns = _columns(list(header))
    estimate = max((sheet.max_row or 0) - row_no, 0)
    return Source("xlsx", estimate, columns, _xlsx_rows(book, rows, row_no, columns))


def _xlsx_rows(book, rows, header_row: int, columns: dict[str, int]) -> Iterator[tuple]:
    code_at, serial_at, expiry_at = columns["code"], columns.get("serial"), columns.get("expires_at")
    try:
        for row_no, row in enumerate(rows, start=header_row + 1):
            width = len(row)
            yield (
                row_no,
                row[code_at] if code_at < width else None,
                row[serial_at] if serial_at is not None and serial_at < width else None,
                row[expiry_at] if expiry_at is not None and expiry_at < width else None,
            )
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileRejected(Failure.UNREADABLE, detail=type(exc).__name__)
    finally:
        book.close()


# --- Checking rows ------------------------------------------------------------------------------

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
    __slots__ = ("row", "code", "index", "hint", "serial", "expires_at")

    def __init__(self, row, code, index, hint, serial, expires_at):
        self.row, self.code, self.index, self.hint, self.serial, self.expires_at = row, code, index, hint, serial, expires_at


def _by_index(row: GoodRow) -> str:
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


def _existing(indexes: list[str]) -> set[str]:
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
            if len(pending) >= CHUNK:
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
        found = _existing([r.index for r in pending])
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


# --- Storing rows -------------------------------------------------------------------------------

_COLUMNS = (
    "ciphertext",
    "key_id",
    "blind_index",
    "hint",
    "serial",
    "expires_at",
    "status",
    "order_ref",
    "created_at",
    "status_changed_at",
    "batch_id",
    "sku_id",
)
_TYPES = (
    "bytea",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "timestamptz",
    "varchar",
    "varchar",
    "timestamptz",
    "timestamptz",
    "int8",
    "int8",
)
_STAGE = "vh_import_stage"


def _records(rows: list[GoodRow], *, sealer: vault.BulkSealer, batch: CodeBatch):
    """COPY records of the rows, sealed a chunk at a time."""
    now = timezone.now()
    key_id, batch_id, sku_id, available = sealer.key_id, batch.pk, batch.sku_id, CardCode.Status.AVAILABLE.value
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        blobs = sealer.seal_many([(r.code, r.index) for r in chunk])
        for r, blob in zip(chunk, blobs, strict=True):
            yield (blob, key_id, r.index, r.hint, r.serial, r.expires_at, available, "", now, now, batch_id, sku_id)


def _copy(table: str, records) -> None:
    """Binary COPY of `records` into `table` (psycopg), inside the caller's transaction."""
    from psycopg.copy import QueuedLibpqWriter

    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        # A thread sends the data while this one goes on checking and sealing the next rows.
        sql = f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
            copy.set_types(_TYPES)
            write = copy.write_row
            for record in records:
                write(record)


def _stream_postgresql(*, batch: CodeBatch, chunks, sealer: vault.BulkSealer) -> tuple[list[GoodRow], list[GoodRow]]:
    """COPY each checked chunk into the vault as soon as it is checked and sealed, so that checking and sealing
    here overlap PostgreSQL's index work. Returns (good rows, those a concurrent import stored first).

    There is no vault lookup first: the unique blind index decides. A code already in the vault makes the
    COPY fail; then every row goes through a staging table and `INSERT ... ON CONFLICT DO NOTHING`."""
    good: list[GoodRow] = []

    def records():
        for chunk in chunks:
            chunk.sort(key=_by_index)
            good.extend(chunk)
            yield from _records(chunk, sealer=sealer, batch=batch)

    try:
        with transaction.atomic():
            _copy(CardCode._meta.db_table, records())
        return good, []
    except IntegrityError:
        logger.info("import into batch %s met codes already in the vault; inserting what is new", batch.pk)
    for chunk in chunks:  # the rest of the file, if the COPY stopped early
        good.extend(chunk)
    good.sort(key=_by_index)  # one global order: racing imports wait on each other instead of deadlocking
    return good, _insert_missing(batch=batch, rows=good, sealer=sealer)


def _insert_missing(*, batch: CodeBatch, rows: list[GoodRow], sealer: vault.BulkSealer) -> list[GoodRow]:
    """Stage the rows, insert those whose blind index is not taken; returns the rows that were taken."""
    table, columns = CardCode._meta.db_table, ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        # Same column types as the vault, no constraints; dropped when the transaction ends.
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")
        cursor.execute(f"TRUNCATE {_STAGE}")
    _copy(_STAGE, _records(rows, sealer=sealer, batch=batch))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE} ORDER BY blind_index "
            "ON CONFLICT (blind_index) DO NOTHING RETURNING blind_index"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute(f"TRUNCATE {_STAGE}")
    return [r for r in rows if r.index not in inserted]


def _store_other(*, batch: CodeBatch, rows: list[GoodRow], sealer: vault.BulkSealer) -> list[GoodRow]:
    """SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so one more lookup is authoritative."""
    taken = existing_indexes([r.index for r in rows])
    fresh = [r for r in rows if r.index not in taken]
    blobs = [
        blob
        for start in range(0, len(fresh), CHUNK)
        for blob in sealer.seal_many([(r.code, r.index) for r in fresh[start : start + CHUNK]])
    ]
    codes = [
        NewCode(
            sealed=vault.SealedCode(blind_index=r.index, ciphertext=blob, key_id=sealer.key_id, hint=r.hint),
            serial=r.serial,
            expires_at=r.expires_at,
        )
        for r, blob in zip(fresh, blobs, strict=True)
    ]
    codes_insert(batch=batch, codes=codes)
    return [r for r in rows if r.index in taken]


def _is_retryable(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}


# --- Progress -------------------------------------------------------------------------------------


class _Progress:
    """Writes a running job's progress (0-100) where the progress page can see it.

    Outside a transaction the job row is updated directly; while the import's own transaction is open
    (storing the codes) PostgreSQL gets the update through a second connection, so it is visible at once.
    An update that finds the job no longer in `status` (or no longer this attempt's) means it was cancelled
    (or taken over). Each call also asks the worker's heartbeat whether the job is still this attempt's."""

    def __init__(self, job: ImportJob, status: str, heartbeat: JobHeartbeat | None = None):
        self.job_id, self.status, self.attempt, self.heartbeat = job.pk, status, job.attempts, heartbeat
        self.side = None
        self.side_broken = False
        self.last = -1

    def __call__(self, percent: float, *, side: bool = False) -> None:
        percent = max(0, min(99, int(percent)))
        if percent == self.last:
            return
        self.last = percent
        if self.heartbeat is not None:
            self.heartbeat.check()
        if not side:
            mine = ImportJob.objects.filter(pk=self.job_id, status=self.status, attempts=self.attempt)
            updated = mine.update(progress=percent)
            if not updated:
                raise _Cancelled
        elif connection.vendor == "postgresql" and not self.side_broken:
            try:
                if self.side is None:
                    self.side = connections.create_connection(DEFAULT_DB_ALIAS)
                    with self.side.cursor() as cursor:
                        # Never wait on a lock the import's own transaction might hold: progress is best effort.
                        cursor.execute("SET lock_timeout = '500ms'")
                with self.side.cursor() as cursor:
                    cursor.execute(f"UPDATE {ImportJob._meta.db_table} SET progress = %s WHERE id = %s", [percent, self.job_id])
            except DatabaseError:
                logger.warning("code import %s: progress not written", self.job_id, exc_info=True)
                self.side_broken = True

    def span(self, start: float, end: float, total: int, *, side: bool = False) -> Callable[[int], None]:
        total = max(total, 1)
        return lambda done: self(start + (end - start) * min(done, total) / total, side=side)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None


# --- Jobs ---------------------------------------------------------------------------------------


def _context(sha256: str) -> str:
    return f"catalog.importjob:{sha256}"


def _payload_open(job: ImportJob) -> bytes:
    if job.payload is None:
        raise ImportJobStateError(gettext("The uploaded file is gone (the job finished or was cancelled)."))
    data = vault.open_bytes(job.payload, key_id=job.payload_key_id, context=_context(job.file_sha256))
    if hashlib.sha256(data).hexdigest() != job.file_sha256:
        raise vault.VaultError("sealed file does not match its hash")
    return data


def _claim(job: ImportJob, *, frm: str, to: str) -> bool:
    """Move the job from `frm` to `to` if nobody else did: a task run twice does the work once. A job left in
    `to` by a worker that died (a stale heartbeat) is taken over (voucherhub/core/jobs.py)."""
    attempt = job_claim(ImportJob, pk=job.pk, frm=[frm], to=to, started_at=timezone.now(), progress=0)
    job.refresh_from_db()
    return attempt is not None


def _heartbeat(job: ImportJob) -> JobHeartbeat:
    """The claimed job's heartbeat (job.attempts is the claim's attempt)."""
    return JobHeartbeat(ImportJob, pk=job.pk, status=job.status, attempt=job.attempts)


def _audit_data(job: ImportJob, **extra) -> dict:
    return {
        "job": job.pk,
        "sku": job.sku.code,
        "mode": job.mode,
        "file_sha256": job.file_sha256,
        "rows": job.total_rows,
        "valid_rows": job.valid_rows,
        "bad_rows": job.invalid_rows,
        "stored": job.stored_rows,
        "reasons": job.reason_counts,
        **extra,
    }


def _job_finish(job: ImportJob, *, status: str, actor, ip=None, failure: str = "", detail: str = "", **fields) -> ImportJob:
    """Record the outcome, wipe the sealed upload, audit (counts only, never a code).

    Only a job still running is finished (or, for a cancel, the job being cancelled): when a cancel won
    the race, it stays cancelled; when another attempt took the job over, it is that attempt's to finish."""
    fields.update(status=status, failure=failure, message=detail[:500], payload=None, payload_key_id="", finished_at=timezone.now())
    if status == Status.DONE:
        fields["progress"] = 100
    expected = [Status.CANCELLED] if status == Status.CANCELLED else list(ImportJob.RUNNING)
    if not ImportJob.objects.filter(pk=job.pk, status__in=expected, attempts=job.attempts).update(**fields):
        job.refresh_from_db()
        return job
    for name, value in fields.items():
        setattr(job, name, value)
    action = {Status.DONE: "codes.import", Status.CANCELLED: "codes.import_cancelled"}.get(
        status, "codes.import_refused" if failure == Failure.REFUSED else "codes.import_failed"
    )
    audit_record(actor=actor, action=action, obj=job.batch or job, ip=ip, data=_audit_data(job, failure=failure))
    return job


def _checked_fields(checked: Checked) -> dict:
    return {
        "total_rows": checked.total,
        "valid_rows": len(checked.good),
        "invalid_rows": len(checked.errors),
        "errors": checked.errors,
        "reason_counts": checked.reason_counts(),
    }


def import_job_create(*, sku: Sku, upload, actor, mode: str = Mode.ALL, ip: str | None = None) -> ImportJob:
    """Take an uploaded file: check its format and header, seal it with the vault key, record the job."""
    data = upload.read() if hasattr(upload, "read") else bytes(upload)
    filename = Path(getattr(upload, "name", "") or "upload.csv").name[:200]
    try:
        source = source_open(data, filename=filename)
    except ImportFileRejected as exc:
        exc.field = "file"
        raise
    sha256 = hashlib.sha256(data).hexdigest()
    blob, key_id = vault.seal_bytes(data, context=_context(sha256))
    job = ImportJob.objects.create(
        sku=sku,
        filename=filename,
        file_sha256=sha256,
        file_size=len(data),
        file_format=source.format,
        payload=blob,
        payload_key_id=key_id,
        mode=mode,
        status=Status.QUEUED,
        total_rows=source.estimate,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    del data
    audit_record(actor=actor, action="codes.import_uploaded", obj=job, ip=ip, data=_audit_data(job, size=job.file_size))
    return job


def import_job_is_small(job: ImportJob) -> bool:
    max_rows, max_size = _inline_limits()
    return job.total_rows <= max_rows and job.file_size <= max_size


def _enqueue(task: str, job: ImportJob, step: str) -> None:
    """Queue a django-q2 task once the job row is committed (the worker must see it)."""
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(task, job.pk, task_name=f"code-import-{job.pk}-{step}", group="code-imports"))


def import_job_start(*, job: ImportJob) -> bool:
    """Run the dry run now for a small file, or queue it. Returns True when it was queued."""
    if import_job_is_small(job):
        import_job_validate(job=job)
        return False
    _enqueue("catalog.tasks.import_job_validate_task", job, "validate")
    return True


def import_job_validate(*, job: ImportJob) -> ImportJob:
    """The dry run: every row checked against the file and the vault; nothing stored. Safe to run twice."""
    if not _claim(job, frm=Status.QUEUED, to=Status.VALIDATING):
        return job
    with _heartbeat(job) as heartbeat:
        return _validate(job, _Progress(job, Status.VALIDATING, heartbeat))


def _validate(job: ImportJob, progress: _Progress) -> ImportJob:
    try:
        source = source_open(_payload_open(job), filename=job.filename)
        checked = rows_check(rows=source.rows, sealer=vault.BulkSealer(), progress=progress.span(0, 100, source.estimate))
    except ImportFileRejected as exc:
        return _job_finish(job, status=Status.FAILED, actor=job.created_by, failure=exc.failure, detail=exc.detail)
    except (_Cancelled, JobLost):
        job.refresh_from_db()
        return job
    except Exception as exc:
        logger.exception("code import %s: the dry run failed", job.pk)
        return _job_finish(job, status=Status.FAILED, actor=job.created_by, failure=Failure.ERROR, detail=type(exc).__name__)
    if checked.total == 0:
        return _job_finish(job, status=Status.FAILED, actor=job.created_by, failure=Failure.EMPTY)
    # Only if still validating under this attempt: a cancel (or a takeover) that came in meanwhile wins.
    ImportJob.objects.filter(pk=job.pk, status=Status.VALIDATING, attempts=job.attempts).update(
        status=Status.PREVIEW, progress=100, file_format=source.format, **_checked_fields(checked)
    )
    job.refresh_from_db()
    return job


def import_job_confirm(*, job: ImportJob, actor, mode: str | None = None, ip: str | None = None) -> bool:
    """The operator confirms the preview: store now (small file) or queue. Returns True when it was queued."""
    mode = Mode(mode or job.mode)
    if mode == Mode.ALL and job.status == Status.PREVIEW and job.invalid_rows:
        raise AllModeHasBadRows(field="mode")
    updated = ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEW).update(
        status=Status.CONFIRMED, mode=mode, progress=0, confirmed_by=actor if getattr(actor, "is_authenticated", False) else None
    )
    if not updated:
        raise ImportJobStateError()
    job.refresh_from_db()
    if import_job_is_small(job):
        import_job_commit(job=job, ip=ip)
        return False
    _enqueue("catalog.tasks.import_job_commit_task", job, "commit")
    return True


def import_job_commit(*, job: ImportJob, ip: str | None = None) -> ImportJob:
    """Store the confirmed job's good rows (see `_commit`). Safe to run twice."""
    if not _claim(job, frm=Status.CONFIRMED, to=Status.IMPORTING):
        return job
    actor = job.confirmed_by or job.created_by
    try:
        data = _payload_open(job)
    except Exception as exc:
        logger.exception("code import %s: the sealed upload does not open", job.pk)
        return _job_finish(job, status=Status.FAILED, actor=actor, failure=Failure.ERROR, detail=type(exc).__name__)
    with _heartbeat(job) as heartbeat:
        return _commit(job, data, actor=actor, ip=ip, heartbeat=heartbeat)


def import_job_cancel(*, job: ImportJob, actor, ip: str | None = None) -> ImportJob:
    """Give up on a job that is not storing codes; its sealed upload is wiped at once."""
    cancellable = [Status.QUEUED, Status.VALIDATING, Status.PREVIEW, Status.CONFIRMED]
    updated = ImportJob.objects.filter(pk=job.pk, status__in=cancellable).update(status=Status.CANCELLED)
    if not updated:
        raise ImportJobStateError()
    job.refresh_from_db()
    return _job_finish(job, status=Status.CANCELLED, actor=actor, ip=ip)


def import_jobs_expire(*, preview_ttl: timedelta = timedelta(hours=24)) -> int:
    """Cancel previews nobody confirmed, and wipe the sealed uploads that jobs whose worker stopped kept for a
    retry nobody made. (Jobs whose worker died are the sweeper's: `import_job_requeue`, `import_job_give_up`.)"""
    cutoff = timezone.now() - preview_ttl
    expired = 0
    for job in ImportJob.objects.filter(status=Status.PREVIEW, created_at__lt=cutoff).select_related("sku"):
        if ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEW).update(status=Status.CANCELLED):
            _job_finish(job, status=Status.CANCELLED, actor=None, detail="expired")
            expired += 1
    expired += ImportJob.objects.filter(
        status=Status.FAILED, failure=Failure.WORKER_STOPPED, finished_at__lt=cutoff, payload__isnull=False
    ).update(payload=None, payload_key_id="", message="")
    return expired


# --- Jobs whose worker died (the sweeper in voucherhub/core/jobs.py), and the retry ---------------------------

_STEP_TASKS = {
    Status.QUEUED: ("catalog.tasks.import_job_validate_task", "validate"),
    Status.CONFIRMED: ("catalog.tasks.import_job_commit_task", "commit"),
}


def import_job_requeue(job: ImportJob) -> bool:
    """A validating or importing job whose worker died is queued again from the start of its step (a commit
    runs in one transaction, so the dead one stored nothing)."""
    waiting = ImportJob.WORKING[job.status]
    if not job_take_over(ImportJob, job, status=waiting, progress=0):
        return False
    task, step = _STEP_TASKS[waiting]
    _enqueue(task, job, step)  # once committed
    return True


def import_job_give_up(job: ImportJob) -> bool:
    """The worker died on the job's last attempt: failed, "the worker stopped". The sealed upload is kept (the
    step that died is in `message`) so that it can be retried; `import_jobs_expire` wipes it after a day."""
    taken = job_take_over(
        ImportJob, job, status=Status.FAILED, failure=Failure.WORKER_STOPPED, message=job.status, finished_at=timezone.now()
    )
    if taken:
        job.refresh_from_db()
        audit_record(actor=None, action="codes.import_failed", obj=job, data=_audit_data(job, failure=Failure.WORKER_STOPPED))
    return taken


def import_job_retry(*, job: ImportJob, actor, ip: str | None = None) -> bool:
    """Run again the step of a job whose worker stopped: now for a small file, else queued (True)."""
    step = {Status.VALIDATING: Status.QUEUED, Status.IMPORTING: Status.CONFIRMED}.get(job.message)
    retryable = ImportJob.objects.filter(pk=job.pk, status=Status.FAILED, failure=Failure.WORKER_STOPPED, payload__isnull=False)
    if step is None or not retryable.update(status=step, attempts=0, failure="", message="", progress=0, finished_at=None):
        raise JobNotRetryable(gettext("Only an import whose worker stopped can be retried (and only within a day)."))
    job.refresh_from_db()
    audit_record(actor=actor, action="codes.import_retried", obj=job, ip=ip, data=_audit_data(job))
    if import_job_is_small(job):
        (import_job_validate if step == Status.QUEUED else import_job_commit)(job=job)
        return False
    task, name = _STEP_TASKS[step]
    _enqueue(task, job, name)
    return True


def _commit(job: ImportJob, data: bytes, *, actor, ip=None, heartbeat: JobHeartbeat) -> ImportJob:
    """Check every row again (the vault moves on) and store: all rows or none (mode all), or the good ones."""
    progress = _Progress(job, Status.IMPORTING, heartbeat)
    try:
        for attempt in range(3):
            try:
                return _store_and_finish(job, data, progress=progress, actor=actor, ip=ip)
            except OperationalError as exc:
                if attempt == 2 or not _is_retryable(exc):
                    raise
                logger.info("code import %s: retrying after %s", job.pk, type(exc.__cause__).__name__)
    except JobLost:
        # Another attempt took the job over (this one was taken for dead): everything here was rolled back.
        logger.warning("code import %s: attempt %s lost the job to another; stopped", job.pk, job.attempts)
        job.refresh_from_db()
        return job
    except ImportFileRejected as exc:
        return _job_finish(job, status=Status.FAILED, actor=actor, ip=ip, failure=exc.failure, detail=exc.detail)
    except _Refused as refused:
        checked = refused.checked
        if refused.failure == Failure.REFUSED:
            # Everything was rolled back: name the good rows that are in the vault too, for a complete report.
            checked.add_in_vault([r for r in checked.good if r.index in _existing([r.index for r in checked.good])])
        return _job_finish(job, status=Status.FAILED, actor=actor, ip=ip, failure=refused.failure, **_checked_fields(checked))
    except Exception as exc:
        logger.exception("code import %s: storing failed", job.pk)
        return _job_finish(job, status=Status.FAILED, actor=actor, ip=ip, failure=Failure.ERROR, detail=type(exc).__name__)
    finally:
        progress.close()


class _Refused(Exception):
    """Nothing may be stored (all or nothing with bad rows, or no rows at all): the transaction rolls back."""

    def __init__(self, failure: str, checked: Checked):
        self.failure, self.checked = failure, checked


@transaction.atomic
def _store_and_finish(job: ImportJob, data: bytes, *, progress: _Progress, actor, ip) -> ImportJob:
    """One transaction: the batch, its codes and the job's outcome are committed together or not at all."""
    source = source_open(data, filename=job.filename)
    job.file_format = source.format
    sealer = vault.BulkSealer()
    postgresql = connection.vendor == "postgresql"
    checker = RowChecker(sealer=sealer, lookup=not postgresql)
    chunks = checker.good_chunks(source.rows, progress=progress.span(0, 97, source.estimate, side=True))
    batch = batch_create(sku=job.sku, source=CodeBatch.Source.IMPORT, label=job.filename, actor=actor, file_sha256=job.file_sha256)
    if postgresql:
        good, taken = _stream_postgresql(batch=batch, chunks=chunks, sealer=sealer)
    else:
        good = sorted((row for chunk in chunks for row in chunk), key=_by_index)
        taken = _store_other(batch=batch, rows=good, sealer=sealer)
    checked = checker.checked
    checked.good = good
    checked.add_in_vault(taken)
    if checked.total == 0:
        raise _Refused(Failure.EMPTY, checked)
    if job.mode == Mode.ALL and checked.errors:
        raise _Refused(Failure.REFUSED, checked)
    stored = len(checked.good)
    if stored:
        batch.code_count = stored
        batch.save(update_fields=["code_count"])
    else:
        batch.delete()
        batch = None
    job = _job_finish(job, status=Status.DONE, actor=actor, ip=ip, batch=batch, stored_rows=stored, **_checked_fields(checked))
    if job.status != Status.DONE:
        raise JobLost  # another attempt holds the job now: roll this one's codes back
    return job


def _read_source(path_or_file) -> tuple[bytes, str]:
    if isinstance(path_or_file, str | Path):
        path = Path(path_or_file)
        if path.stat().st_size > max_bytes():
            raise ImportFileRejected(Failure.TOO_LARGE)
        return path.read_bytes(), path.name
    data = path_or_file.read()
    return (data.encode() if isinstance(data, str) else data), Path(getattr(path_or_file, "name", "") or "codes.csv").name


def codes_import(*, sku: Sku, path_or_file, mode: str = Mode.ALL, actor=None, ip: str | None = None) -> ImportJob:
    """Check and store a file in one pass (no preview): the `import_codes` command and the benchmark.

    Returns the finished job. Raises ImportFileRejected (unusable file) or ImportRefused (mode all with
    bad rows); either way the job is recorded as failed with its report, and nothing was stored."""
    data, filename = _read_source(path_or_file)
    job = ImportJob.objects.create(
        sku=sku,
        filename=filename[:200],
        file_sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        mode=mode,
        status=Status.IMPORTING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        attempts=1,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        confirmed_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    with _heartbeat(job) as heartbeat:
        job = _commit(job, data, actor=actor, ip=ip, heartbeat=heartbeat)
    if job.status == Status.FAILED and job.failure == Failure.REFUSED:
        raise ImportRefused(job=job)
    if job.status == Status.FAILED:
        raise ImportFileRejected(job.failure, detail=job.message, job=job)
    return job
