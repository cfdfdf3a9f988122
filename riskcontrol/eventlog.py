"""Writing RiskEvents: holds for review at once, everything else through an in-process buffer.

Every evaluation leaves a RiskEvent. A hold for review is written before `risk_evaluate` returns
(the review queue and `review_decide` need the row at once). Allow, challenge and block rows are
answered on the spot and nothing reads them within the next second (spike alerts count blocks per
minute), so on PostgreSQL they are appended to a queue in this process and written by a background
thread with one COPY per batch: every RISK_EVENT_FLUSH_SECONDS (0.2 s) or as soon as
RISK_EVENT_FLUSH_ROWS (500) rows wait, at process exit (atexit), and whenever someone calls
`events_flush()`. The thread pauses briefly every few rows so request threads never wait long
for the GIL (see rows_write).

The row's id is known at once (Decision.event_id): ids come from the table's own sequence. The
background thread keeps a pool of them topped up to three rounds' worth at the current pace (at
least RISK_EVENT_ID_BLOCK, 200), so evaluations neither wait for one nor wake the thread early.

A failed write is logged and retried once; rows that still fail go back to the queue for the next
round (at most RISK_EVENT_BUFFER_MAX wait; beyond that the oldest are dropped and logged). The
caller never waits for the database. The price: allowed events still queued when a process is
killed (SIGKILL, OOM, power loss) are lost, at most ~0.2 s of them. See docs/riskcontrol.md.

SQLite (the laptop default) and RISK_EVENT_BUFFER=False write every row at once.
"""

import atexit
import functools
import json
import logging
import os
import threading
import time
from collections import deque

import psycopg
from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, DataError, connection, connections, transaction
from django.db.models import AutoField, BigAutoField
from django.dispatch import receiver

from riskcontrol.db import insert_quickly
from riskcontrol.models import RiskEvent

logger = logging.getLogger(__name__)

_FIELDS = [f for f in RiskEvent._meta.concrete_fields]
_JSON_FIELDS = {f.attname for f in _FIELDS if f.get_internal_type() == "JSONField"}
_COLUMNS = [f.column for f in _FIELDS]
_ATTNAMES = [f.attname for f in _FIELDS]
_DEFAULTS = {f.attname: f.get_default() for f in _FIELDS if not isinstance(f, (AutoField, BigAutoField))}


_SETTINGS: dict[str, object] = {}


def _setting(name: str, default):
    # Read once and kept: these settings are usually absent, and a missing setting costs an
    # AttributeError inside Django's settings object on every lookup (three per evaluation).
    try:
        return _SETTINGS[name]
    except KeyError:
        value = _SETTINGS[name] = getattr(settings, name, default)
        return value


@receiver(setting_changed)
def _setting_changed(*, setting: str, **kwargs) -> None:
    if setting.startswith("RISK_EVENT_"):
        _SETTINGS.clear()


def buffering() -> bool:
    """Are allowed events buffered here? (PostgreSQL and RISK_EVENT_BUFFER, default on.)"""
    return _setting("RISK_EVENT_BUFFER", True) and _vendor() == "postgresql"


@functools.cache
def _vendor() -> str:
    # The default database's kind, looked up once: `connection.vendor` goes through a thread-local
    # lookup on every call, and the kind of database never changes while the process runs.
    return connections["default"].vendor


class _Writer:
    """The queue, the id pool and the background thread of this process."""

    def __init__(self):
        self.queue_lock = threading.Lock()  # held for an append or a swap: microseconds
        self.write_lock = threading.Lock()  # held while a batch is taken and written
        self.pending: dict[int, dict] = {}  # id -> row (attname -> value), in arrival order
        self.ids: deque[int] = deque()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()
        self.atexit_registered = False
        self.rounds = 0  # completed flushes of the thread (events_flush waits for the next one)
        self.round_done = threading.Condition()
        self.flush_requested = False

    # --- ids -------------------------------------------------------------------------------
    def ids_fetch(self, count: int) -> list[int]:
        table = connection.ops.quote_name(RiskEvent._meta.db_table)
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, RiskEvent._meta.pk.column, count],
            )
            return [row[0] for row in cursor.fetchall()]

    def id_take(self) -> int:
        try:
            taken = self.ids.popleft()
        except IndexError:
            self.ids.extend(self.ids_fetch(_setting("RISK_EVENT_ID_BLOCK", 200)))  # the pool ran dry: pay one round trip
            taken = self.ids.popleft()
        if len(self.ids) < _setting("RISK_EVENT_ID_BLOCK", 200) // 2 and self.thread is not None:
            self.wake.set()
        return taken

    # --- the queue -------------------------------------------------------------------------
    def enqueue(self, row: dict) -> None:
        self.ensure_started()
        with self.queue_lock:
            self.pending[row["id"]] = row
            size = len(self.pending)
        if size >= _setting("RISK_EVENT_FLUSH_ROWS", 500):
            self.wake.set()

    def take(self) -> list[dict]:
        with self.queue_lock:
            batch, self.pending = self.pending, {}
        return list(batch.values())

    def give_back(self, batch: list[dict]) -> None:
        with self.queue_lock:
            merged = {row["id"]: row for row in batch}
            merged.update(self.pending)
            limit = _setting("RISK_EVENT_BUFFER_MAX", 100_000)
            if len(merged) > limit:
                dropped = len(merged) - limit
                logger.error("risk events: buffer full, %s allowed events dropped", dropped)
                merged = dict(list(merged.items())[dropped:])
            self.pending = merged

    # --- writing ---------------------------------------------------------------------------
    def flush_inline(self) -> int:
        """Write everything queued, on this thread's connection. Returns the rows written."""
        with self.write_lock:
            batch = self.take()
            if not batch:
                return 0
            for attempt in (1, 2):
                try:
                    rows_write(batch)
                    return len(batch)
                except _REFUSED:
                    # The database refuses a value (out of range, ...): find the row, keep the others.
                    return self.write_row_by_row(batch)
                except Exception:
                    if attempt == 1:
                        logger.warning("risk events: writing %s allowed events failed, retrying once", len(batch), exc_info=True)
                        _connection_reset()
                    else:
                        logger.exception("risk events: writing %s allowed events failed twice, kept for the next round", len(batch))
                        self.give_back(batch)
            return 0

    def write_row_by_row(self, batch: list[dict]) -> int:
        """Write a batch the database refused as a whole one row at a time; drop (and log) the rows it
        refuses, so one bad row never holds back the rest of the queue. Returns the rows written."""
        written = 0
        for index, row in enumerate(batch):
            try:
                rows_write([row])
                written += 1
            except _REFUSED as refused:
                logger.error("risk events: event %s (%s) refused by the database, dropped: %s", row["id"], row.get("reference"), refused)
            except Exception:
                logger.exception("risk events: writing event %s failed, the rest kept for the next round", row.get("id"))
                self.give_back(batch[index:])
                break
        return written

    # --- the background thread -------------------------------------------------------------
    def ensure_started(self) -> None:
        if self.pid != os.getpid():  # forked (gunicorn --preload): the parent's queue and thread are not ours
            self.__init__()
        if not self.atexit_registered:
            atexit.register(events_shutdown)
            self.atexit_registered = True
        if self.thread is None and _setting("RISK_EVENT_FLUSH_THREAD", True):
            with self.queue_lock:
                if self.thread is None:
                    self.stop.clear()
                    self.thread = threading.Thread(target=self.run, name="risk-event-writer", daemon=True)
                    self.thread.start()

    def run(self) -> None:
        interval = _setting("RISK_EVENT_FLUSH_SECONDS", 0.2)
        block = _setting("RISK_EVENT_ID_BLOCK", 200)
        written = 0
        try:
            while not self.stop.is_set():
                self.wake.wait(interval)
                self.wake.clear()
                # Keep three rounds' worth of ids at the current pace (at least a block): evaluations never
                # wait for one, and seldom wake this thread early (every wake-up competes with them for the GIL).
                wanted = max(block, 3 * written)
                try:
                    if len(self.ids) < wanted:
                        self.ids.extend(self.ids_fetch(wanted))
                except Exception:
                    logger.warning("risk events: could not fetch ids", exc_info=True)
                    _connection_reset()
                written = self.flush_inline()
                with self.round_done:
                    self.rounds += 1
                    self.round_done.notify_all()
        finally:
            self.flush_inline()
            connections.close_all()  # this thread's connections only (they are per thread)

    def flush_via_thread(self, timeout: float) -> bool:
        with self.round_done:
            target = self.rounds + 2  # a round that started after this call
            self.wake.set()
            return self.round_done.wait_for(lambda: self.rounds >= target or self.thread is None, timeout=timeout)


def _connection_reset() -> None:
    """A fresh connection for the retry (never inside a caller's transaction: that one stays the caller's)."""
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except DatabaseError:
        pass


def rows_write(batch: list[dict]) -> None:
    """COPY the rows into the table in one transaction (PostgreSQL).

    Run by the background thread, it pauses 0.1 ms after every RISK_EVENT_COPY_CHUNK rows (default
    10, ~0.2 ms of work) so that request threads waiting for the GIL get it at once instead of after
    the interpreter's 5 ms switch interval: a batch of a few hundred rows is 5-10 ms of Python, and
    evaluations running meanwhile would otherwise wait that long at every round trip. (Measured on
    the benchmark: p99 ~3.8 ms without the pauses, ~1.4-1.9 ms with chunks of 4, 10 or 25 rows.)
    """
    table = connection.ops.quote_name(RiskEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in _COLUMNS)
    chunk = max(1, _setting("RISK_EVENT_COPY_CHUNK", 10)) if threading.current_thread() is _writer.thread else len(batch)
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for start in range(0, len(batch), chunk):
                if start:
                    time.sleep(_GIL_PAUSE_SECONDS)
                for row in batch[start : start + chunk]:
                    copy.write_row(_copy_values(row))


# Long enough for a thread woken by the GIL's release to take it (a thread wakes in ~50 us).
_GIL_PAUSE_SECONDS = 0.0001
_JSON_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode
_JSON_AT = tuple((index, name) for index, name in enumerate(_ATTNAMES) if name in _JSON_FIELDS)


def _copy_values(row: dict) -> list:
    values = [row.get(name) for name in _ATTNAMES]
    for index, name in _JSON_AT:
        value = values[index]
        values[index] = _JSON_ENCODE(value if value is not None else _DEFAULTS[name])
    return values


# What the database says about a value it will not store (text with NUL, a number out of range,
# invalid JSON). COPY runs on psycopg's own cursor, so its errors come unwrapped by Django.
_REFUSED = (DataError, psycopg.DataError)

_writer = _Writer()


BUFFERED_OUTCOMES = frozenset({"allow", "challenge", "block"})


def event_write(values: dict) -> int:
    """Record one evaluation and return its id. `values`: RiskEvent attnames -> values.

    Holds for review are inserted at once; the other outcomes are queued when buffering is on.
    """
    if values["outcome"] in BUFFERED_OUTCOMES and buffering():
        values["id"] = _writer.id_take()
        _writer.enqueue(values)
        return values["id"]
    event = RiskEvent(**values)
    insert_quickly(event)
    return event.pk


def event_mark_released(event_id: int, when) -> bool | None:
    """Claim a queued event's release: True if it was queued and not released, False if it was
    released already, None if it is not in the queue (look in the database)."""
    with _writer.write_lock:
        with _writer.queue_lock:
            row = _writer.pending.get(event_id)
            if row is None:
                return None
            if row.get("released_at") is not None:
                return False
            row["released_at"] = when
            return True


def event_queued(event_id: int) -> dict | None:
    with _writer.queue_lock:
        row = _writer.pending.get(event_id)
        return dict(row) if row is not None else None


def queued_counters() -> list:
    """The counters reserved by this process's queued events that were not given back (counters_reload adds them)."""
    with _writer.queue_lock:
        return [row["counters"] for row in _writer.pending.values() if row.get("counters") and row.get("released_at") is None]


def events_pending() -> int:
    return len(_writer.pending)


def events_flush(*, timeout: float = 10.0) -> int:
    """Write every queued allowed event now. Tests and shutdown hooks call this.

    With the background thread running and a transaction open on this thread, the thread writes
    (so the rows do not join, and cannot roll back with, your transaction); otherwise this thread
    writes. Returns the number of rows this call wrote itself (0 when the thread did it).
    """
    writer = _writer
    if writer.thread is not None and writer.thread.is_alive() and connection.in_atomic_block:
        writer.flush_via_thread(timeout)
        return 0
    return writer.flush_inline()


def events_shutdown() -> None:
    """Stop the background thread after a last flush (atexit runs this; so can a worker's exit hook)."""
    writer = _writer
    if writer.pid != os.getpid():
        return
    thread = writer.thread
    if thread is not None:
        writer.stop.set()
        writer.wake.set()
        thread.join(timeout=10)
        writer.thread = None
    try:
        writer.flush_inline()
    except Exception:  # at exit: log, never raise
        logger.exception("risk events: the last flush failed")


def events_discard() -> int:
    """Forget what is queued (tests between cases). Returns how many rows were dropped."""
    with _writer.queue_lock:
        dropped = len(_writer.pending)
        _writer.pending = {}
    _writer.ids.clear()
    return dropped
