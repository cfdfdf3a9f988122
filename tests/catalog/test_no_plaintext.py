"""Invariant 2: a plaintext card code never reaches the database, a log, an admin page or an export.

The test runs codes through every path that handles them (STEPS), keeps their plaintexts in memory,
then asks every place a plaintext could leak to (COLLECTORS) for its text and scans it,
case-insensitively, with and without dashes and blanks.

To cover a new path (an API, a task): append a step `step(scene)` that pushes codes through it
(recording any response or output with `scene.record(...)`), and, if it writes somewhere new (a file, a
cache, a queue), a collector `collector(scene)` yielding `(place, text_or_bytes)` pairs.

The first test seeds its imported codes with a helper; the second (IMPORT_STEPS) takes CSV and XLSX files
through the real import path: the admin upload (inline, and as a queued django-q2 job), its preview with
bad rows, the bad-rows download and the confirmation, and the import_codes command. Every logger's DEBUG
records are captured (`every_logger_at_debug`), SQL statements with their parameters included.
"""

import contextlib
import io
import json
import logging
import re
import secrets
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TestCase, override_settings
from django.urls import NoReverseMatch, reverse
from django_q.conf import Conf

from catalog import codegen, services, vault
from catalog.models import CardCode, CodeBatch, ImportJob, Sku
from tests import factories
from tests.catalog.importfiles import csv_bytes, named, xlsx_bytes
from tests.catalog.vault_helpers import action_post, insert_codes, plaintexts_of
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

Blob = str | bytes


@dataclass
class Scene:
    client: object
    caplog: object
    media_root: Path
    incoming: Path  # import files as a supplier sends them: plaintext by nature, so outside MEDIA_ROOT
    plaintexts: set[str] = field(default_factory=set)
    sources: list[tuple[str, bytes]] = field(default_factory=list)  # the import files' bytes (to test the scanner)
    imported: dict[str, list[str]] = field(default_factory=dict)  # good codes per import step, for later rows
    recorded: list[tuple[str, Blob]] = field(default_factory=list)
    reveals: list[tuple[str, Blob]] = field(default_factory=list)

    def record(self, place: str, response) -> None:
        """Keep a response's body, headers and cookies for the scan."""
        body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
        self.recorded.append((f"{place}: body", body))
        self._record_envelope(place, response)

    def record_reveal(self, place: str, response) -> None:
        """A reveal answer carries plaintext by design: its body is kept apart (to test the scanner)."""
        body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
        self.reveals.append((place, body))
        self._record_envelope(place, response)

    def _record_envelope(self, place: str, response) -> None:
        self.recorded.append((f"{place}: headers", "\n".join(f"{k}: {v}" for k, v in response.items())))
        self.recorded.append((f"{place}: cookies", response.cookies.output()))
        self.recorded.append((f"{place}: client cookies", self.client.cookies.output()))


# --- Steps: push codes through every path -------------------------------------------------------------


def step_generate_with_the_command(scene: Scene) -> None:
    Sku.objects.create(product=factories.ProductFactory(), code="SCAN-CMD", name="scan", face_value=10, cost_price=5, valid_days=30)
    out = io.StringIO()
    call_command("generate_codes", "--sku", "SCAN-CMD", "--count", "30", stdout=out, stderr=out)
    scene.recorded.append(("generate_codes output", out.getvalue()))


def step_generate_in_the_admin(scene: Scene) -> None:
    sku = factories.SkuFactory(code="SCAN-ADMIN", fulfilment=Sku.Fulfilment.GENERATED)
    url = reverse("admin:catalog_sku_changelist")
    scene.record("generate form", action_post(scene.client, url, "generate_for_selected", [sku.pk]))
    scene.record("generate", action_post(scene.client, url, "generate_for_selected", [sku.pk], apply="1", count="10"))


def _supplier_like_codes(n: int) -> list[str]:
    """Known plaintexts in the shapes suppliers send: dashed, lower-case, long digits, Crockford."""
    codes = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            raw = secrets.token_hex(8).upper()
            codes.append("-".join(raw[j : j + 4] for j in range(0, 16, 4)))
        elif kind == 1:
            codes.append(secrets.token_hex(7))
        elif kind == 2:
            codes.append("".join(secrets.choice("0123456789") for _ in range(18)))
        else:
            codes.append(codegen.pretty(codegen.new_code()).lower())
    return codes


def step_store_known_plaintexts(scene: Scene) -> None:
    sku = factories.SkuFactory(code="SCAN-IMPORT")
    known = _supplier_like_codes(16)
    insert_codes(sku=sku, plaintexts=known, serial_prefix="SN-")
    scene.plaintexts |= set(known)  # as the supplier wrote them (the vault keeps them normalized)


def step_remember_every_plaintext(scene: Scene) -> None:
    stored = set(plaintexts_of(CardCode.objects.all()).values())
    assert len(stored) == 56
    scene.plaintexts |= stored


def step_reveal(scene: Scene) -> None:
    codes = list(CardCode.objects.filter(sku__code="SCAN-IMPORT").order_by("pk"))
    url = reverse("admin:catalog_cardcode_changelist")
    pks = [c.pk for c in codes[:3]]
    scene.record("reveal form", action_post(scene.client, url, "reveal_selected", pks))
    scene.record("reveal, no password", action_post(scene.client, url, "reveal_selected", pks, apply="1", reason="scan"))
    wrong = action_post(scene.client, url, "reveal_selected", pks, apply="1", reason="scan", password="wrong")
    scene.record("reveal, wrong password", wrong)
    ok = action_post(scene.client, url, "reveal_selected", pks, apply="1", reason="scan", password=PASSWORD)
    scene.record_reveal("reveal page", ok)
    single = scene.client.post(reverse("admin:catalog_cardcode_reveal_code", args=[codes[5].pk]), {"apply": "1", "reason": "scan"})
    scene.record_reveal("single reveal page", single)
    batch = CodeBatch.objects.get(sku__code="SCAN-CMD")
    download = scene.client.post(
        reverse("admin:catalog_codebatch_download_batch", args=[batch.pk]), {"apply": "1", "reason": "scan", "password": PASSWORD}
    )
    scene.record_reveal("batch download", download)


def step_find_by_code(scene: Scene) -> None:
    url = reverse("admin:catalog_cardcode_find_by_code")
    known = sorted(scene.plaintexts)[0]
    scene.record("find by code (hit)", scene.client.post(url, {"apply": "1", "code": known}))
    fake = known[:-2] + ("00" if not known.endswith("00") else "11")
    scene.plaintexts.add(fake)  # a code that is not in the vault must not leak either
    scene.record("find by code (miss)", scene.client.post(url, {"apply": "1", "code": fake}))


def step_void_and_sell(scene: Scene) -> None:
    codes = list(CardCode.objects.filter(sku__code="SCAN-IMPORT").order_by("pk"))
    services.code_status_change(codes=codes[10:12], to_status=CardCode.Status.SOLD, reference="ORD-SCAN", order_ref="ORD-SCAN")
    scene.record(
        "void code", scene.client.post(reverse("admin:catalog_cardcode_void_code", args=[codes[12].pk]), {"apply": "1", "reason": "x"})
    )
    sold = scene.client.post(reverse("admin:catalog_cardcode_void_code", args=[codes[10].pk]), {"apply": "1", "reason": "x"})
    scene.record("void of a sold code (refused)", sold)
    batch = CodeBatch.objects.get(sku__code="SCAN-ADMIN")
    scene.record(
        "void batch", scene.client.post(reverse("admin:catalog_codebatch_void_batch", args=[batch.pk]), {"apply": "1", "reason": "x"})
    )


def step_export(scene: Scene) -> None:
    url = reverse("admin:catalog_cardcode_export")
    page = scene.client.get(url)
    scene.record("export form", page)
    form = page.context["form"]
    selected = {name: "on" for name in form.fields if name.startswith("cardcoderesource_")}
    for value, label in form.fields["format"].choices:
        if value == "":
            continue
        response = scene.client.post(url, {"format": value, "resource": 0, **selected})
        assert response.status_code == 200, label
        scene.record(f"export as {label}", response)


def step_rotate_the_key(scene: Scene) -> None:
    out = io.StringIO()
    with override_settings(VAULT_KEYS=[vault.new_key(), *settings.VAULT_KEYS]):
        call_command("rotate_vault_key", "--chunk-size", "7", "--pause", "0", stdout=out, stderr=out)
        call_command("rotate_vault_key", "--dry-run", stdout=out, stderr=out)
    scene.recorded.append(("rotate_vault_key output", out.getvalue()))


def step_crawl_the_admin(scene: Scene) -> None:
    """Every catalog changelist, and change, history and action-form pages of a few rows each, as ops."""
    client = scene.client
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        if opts.app_label != "catalog" and opts.label_lower != "core.auditlog":
            continue
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        for params in ({}, {"q": "a"}):
            response = client.get(reverse(f"{prefix}_changelist"), params)
            assert response.status_code == 200, (opts.label, params)
            scene.record(f"admin {opts.label} changelist {params}", response)
        detail_actions = model_admin._extract_action_names(getattr(model_admin, "actions_detail", ()))
        for index, obj in enumerate(model.objects.order_by("-pk")[:6]):
            for page in ["change", "history", *(detail_actions if index < 2 else [])]:
                try:
                    url = reverse(f"{prefix}_{page}", args=[obj.pk])
                except NoReverseMatch:
                    continue
                response = client.get(url)
                assert response.status_code == 200, (opts.label, page, obj.pk)
                scene.record(f"admin {opts.label} {page} #{obj.pk}", response)
    scene.record("admin find-by-code form", client.get(reverse("admin:catalog_cardcode_find_by_code")))
    scene.record("ops home", client.get(reverse("dashboards:ops-home")))


# --- Steps of a real import: CSV and XLSX files through the admin upload and the import_codes command ---


def _import_rows(scene: Scene, name: str, good: list[str], bad: list[tuple]) -> list[tuple]:
    """Rows of an import file: the good codes with a serial and a future expiry, then the bad rows.
    Every code in the file, good or bad, is a plaintext that must not come out anywhere."""
    future = (date.today() + timedelta(days=365)).isoformat()
    rows = [(code, f"{name}-{i:03d}", future) for i, code in enumerate(good)] + list(bad)
    scene.plaintexts |= {row[0] for row in rows}
    return rows


def _source(scene: Scene, place: str, data: bytes) -> bytes:
    scene.sources.append((place, data))
    return data


def _snapshot_database(scene: Scene, moment: str) -> None:
    """The database as it is now (a job's sealed upload and its bad rows live only until it finishes)."""
    scene.recorded += [(f"{place} ({moment})", blob) for place, blob in collect_database(scene)]


def _record_job_pages(scene: Scene, job: ImportJob, moment: str) -> None:
    for page in ("change", "progress", "errors"):
        response = scene.client.get(reverse(f"admin:catalog_importjob_{page}", args=[job.pk]))
        assert response.status_code == 200, (page, moment)
        scene.record(f"import #{job.pk} {page} ({moment})", response)


def step_import_csv_in_the_admin(scene: Scene) -> None:
    """Upload, dry-run preview with bad rows (in the request), confirm: the inline path."""
    sku = factories.SkuFactory(code="SCAN-CSV")
    good = _supplier_like_codes(12)
    scene.imported["csv"] = good
    bad = [
        (good[3], "", ""),  # duplicate in the file
        (codegen.pretty(codegen.new_code()), "", "2001-01-01"),  # expired
        ("F" * 70, "", ""),  # malformed: too long
        (secrets.token_hex(6) + "Ä", "", ""),  # malformed: not ASCII
    ]
    data = _source(scene, "CSV upload", csv_bytes(_import_rows(scene, "CSV", good, bad)))
    response = scene.client.post(reverse("admin:catalog_importjob_add"), {"sku": sku.pk, "mode": "valid", "file": named(data, "codes.csv")})
    scene.record("CSV upload", response)
    job = ImportJob.objects.get(sku=sku)
    assert job.status == ImportJob.Status.PREVIEW and job.invalid_rows == len(bad), job.reason_counts
    _record_job_pages(scene, job, "preview")
    _snapshot_database(scene, "CSV preview")
    confirmed = scene.client.post(reverse("admin:catalog_importjob_confirm", args=[job.pk]), {"mode": "valid"}, follow=True)
    scene.record("CSV confirm", confirmed)
    job.refresh_from_db()
    assert (job.status, job.stored_rows) == (ImportJob.Status.DONE, len(good))
    _record_job_pages(scene, job, "done")


def step_import_xlsx_in_the_admin_as_a_queued_job(scene: Scene) -> None:
    """An XLSX upload large enough to be a django-q2 job: dry run and commit run as tasks (synchronously
    here, through the ORM broker's task table), with codes already in the vault among its rows."""
    sku = factories.SkuFactory(code="SCAN-XLSX")
    good = _supplier_like_codes(10)
    bad = [(scene.imported["csv"][0], "", ""), (scene.imported["csv"][1].lower(), "", ""), (good[0], "", "")]  # in the vault x2, dup
    data = _source(scene, "XLSX upload", xlsx_bytes(_import_rows(scene, "XLSX", good, bad)))
    with override_settings(IMPORT_INLINE_MAX_ROWS=1), mock.patch.object(Conf, "SYNC", True):
        # the queued task runs when the request's transaction commits, which these capture and replay
        with TestCase.captureOnCommitCallbacks(execute=True) as validate:
            upload = scene.client.post(
                reverse("admin:catalog_importjob_add"), {"sku": sku.pk, "mode": "all", "file": named(data, "codes.xlsx")}
            )
        scene.record("XLSX upload", upload)
        job = ImportJob.objects.get(sku=sku)
        assert validate and job.status == ImportJob.Status.PREVIEW and job.invalid_rows == len(bad), job.reason_counts
        _record_job_pages(scene, job, "preview")
        _snapshot_database(scene, "XLSX preview")
        confirm = reverse("admin:catalog_importjob_confirm", args=[job.pk])
        scene.record("XLSX confirm all (refused)", scene.client.post(confirm, {"mode": "all"}, follow=True))
        with TestCase.captureOnCommitCallbacks(execute=True) as commit:
            scene.record("XLSX confirm valid", scene.client.post(confirm, {"mode": "valid"}))
    assert commit
    job.refresh_from_db()
    assert (job.status, job.stored_rows) == (ImportJob.Status.DONE, len(good))
    _record_job_pages(scene, job, "done")


def _import_command(scene: Scene, place: str, *args: str) -> None:
    out = io.StringIO()
    try:
        call_command("import_codes", *args, stdout=out, stderr=out)
    except CommandError as error:
        out.write(f"\nCommandError: {error}")
    scene.recorded.append((f"import_codes {place}", out.getvalue()))


def step_import_with_the_command(scene: Scene) -> None:
    """`import_codes` with a CSV (mode valid, a bad row) and an XLSX (mode all, refused), then the CSV again."""
    sku = factories.SkuFactory(code="SCAN-CLI")
    good = _supplier_like_codes(8)
    csv_rows = _import_rows(scene, "CLI", good[:4], [(scene.imported["csv"][2], "", ""), ("G" * 80, "", "")])
    xlsx_rows = _import_rows(scene, "CLIX", good[4:], [(good[4], "", "")])
    csv_path, xlsx_path = scene.incoming / "cli.csv", scene.incoming / "cli.xlsx"
    csv_path.write_bytes(_source(scene, "command CSV", csv_bytes(csv_rows)))
    xlsx_path.write_bytes(_source(scene, "command XLSX", xlsx_bytes(xlsx_rows)))
    _import_command(scene, "CSV", "--sku", sku.code, "--mode", "valid", str(csv_path))
    _import_command(scene, "XLSX all (refused)", "--sku", sku.code, str(xlsx_path))
    _import_command(scene, "XLSX valid", "--sku", sku.code, "--mode", "valid", str(xlsx_path))
    _import_command(scene, "CSV again (stores nothing)", "--sku", sku.code, "--mode", "valid", str(csv_path))
    assert CardCode.objects.filter(sku=sku).count() == 4 + 4


def step_remember_every_imported_plaintext(scene: Scene) -> None:
    stored = set(plaintexts_of(CardCode.objects.all()).values())
    assert len(stored) == 12 + 10 + 8
    scene.plaintexts |= stored


STEPS: list[Callable[[Scene], None]] = [
    step_generate_with_the_command,
    step_generate_in_the_admin,
    step_store_known_plaintexts,
    step_remember_every_plaintext,
    step_reveal,
    step_find_by_code,
    step_void_and_sell,
    step_export,
    step_rotate_the_key,
    step_crawl_the_admin,  # last: pages show the state every step left behind
]

IMPORT_STEPS: list[Callable[[Scene], None]] = [
    step_import_csv_in_the_admin,
    step_import_xlsx_in_the_admin_as_a_queued_job,
    step_import_with_the_command,
    step_remember_every_imported_plaintext,
    step_export,
    step_crawl_the_admin,
]


# --- Collectors: every place a plaintext could end up --------------------------------------------------


def collect_database(scene: Scene) -> Iterator[tuple[str, Blob]]:
    """Every column of every table (audit log, django-q, sessions, ... included), text and binary."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        assert "core_auditlog" in tables and "catalog_cardcode" in tables and "django_q_task" in tables
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if not isinstance(value, bytes | str):
                        value = json.dumps(value, ensure_ascii=False, default=str)
                    yield f"db {table}.{column}", value


def collect_sessions(scene: Scene) -> Iterator[tuple[str, Blob]]:
    for session in Session.objects.all():
        yield f"session {session.pk[:6]}…", json.dumps(session.get_decoded(), ensure_ascii=False, default=str)


def collect_logs(scene: Scene) -> Iterator[tuple[str, Blob]]:
    """Every log record of the run (SQL statements with their parameters included), formatted."""
    for record in scene.caplog.records:
        yield f"log {record.name}", f"{record.getMessage()} {record.args!r} {record.exc_text or ''} {getattr(record, 'sql', '')}"


def collect_recorded(scene: Scene) -> Iterator[tuple[str, Blob]]:
    """Responses (admin pages, form errors, exports, downloads' headers) and command output recorded by the steps."""
    yield from scene.recorded


def collect_files(scene: Scene) -> Iterator[tuple[str, Blob]]:
    """Anything written under MEDIA_ROOT (exports, uploads)."""
    for path in sorted(scene.media_root.rglob("*")):
        if path.is_file():
            yield f"file {path.relative_to(scene.media_root)}", path.read_bytes()


COLLECTORS: list[Callable[[Scene], Iterable[tuple[str, Blob]]]] = [
    collect_database,
    collect_sessions,
    collect_logs,
    collect_recorded,
    collect_files,
]


# --- The scanner ---------------------------------------------------------------------------------------


class Scanner:
    """Finds any of the plaintexts in text or bytes: case-insensitive, with and without dashes and blanks."""

    def __init__(self, plaintexts: Iterable[str]):
        needles = {vault.normalize(p).lower() for p in plaintexts} | {p.lower() for p in plaintexts}
        self.needles = sorted(n for n in needles if len(n) >= 8)
        self._squeeze = re.compile(r"[\s\-]+")

    def hits(self, blob: Blob) -> list[str]:
        if isinstance(blob, bytes):
            if blob[:4] == b"PK\x03\x04":  # xlsx, ods: scan what is inside the zip
                with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                    return [hit for name in archive.namelist() for hit in self.hits(archive.read(name))]
            texts = [blob.decode("utf-8", "replace")]
            if b"\x00" in blob:  # UTF-16 text (xls cells, some exports)
                texts += [blob.decode("utf-16-le", "ignore"), blob[1:].decode("utf-16-le", "ignore")]
        else:
            texts = [blob]
        found = []
        for text in texts:
            lowered = text.lower()
            squeezed = self._squeeze.sub("", lowered)
            found += [needle for needle in self.needles if needle in lowered or needle in squeezed]
        return found

    def leaks(self, blobs: Iterable[tuple[str, Blob]]) -> list[str]:
        return [f"{place}: …{hit[-4:]}" for place, blob in blobs for hit in self.hits(blob)]


@contextlib.contextmanager
def every_logger_at_debug(caplog) -> Iterator[None]:
    """caplog's handler sits on the root logger at DEBUG; make every record of every logger reach it.

    Loggers configured with a level of their own (django, django.db.backends, psycopg) would drop DEBUG
    records, and loggers that do not propagate (django.server, django-q when it set itself up) would
    keep theirs from the root: both are opened up for the test and restored after."""
    caplog.set_level(logging.DEBUG)
    changed = []
    for logger in [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]:
        if logger.level not in (logging.NOTSET, logging.DEBUG) or not logger.propagate:
            changed.append((logger, logger.level, caplog.handler if not logger.propagate else None))
            logger.setLevel(logging.DEBUG)
            if not logger.propagate:
                logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        for logger, level, handler in changed:
            logger.setLevel(level)
            if handler is not None:
                logger.removeHandler(handler)


@pytest.fixture
def scene(ops_client, caplog, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    (tmp_path / "incoming").mkdir()
    connection.force_debug_cursor = True  # every SQL statement and its parameters goes to the log
    try:
        with every_logger_at_debug(caplog):
            yield Scene(client=ops_client, caplog=caplog, media_root=settings.MEDIA_ROOT, incoming=tmp_path / "incoming")
    finally:
        connection.force_debug_cursor = False


def scan(scanner: Scanner, scene: Scene) -> tuple[int, list[str]]:
    """(places scanned, leaks) over every collector."""
    leaks = []
    scanned = 0
    for collect in COLLECTORS:
        for place, blob in collect(scene):
            scanned += 1
            leaks += scanner.leaks([(place, blob)])
    return scanned, leaks


def test_no_plaintext_code_in_the_database_logs_admin_pages_or_exports(scene):
    for step in STEPS:
        step(scene)
    scanner = Scanner(scene.plaintexts)

    # the scanner finds plaintext where it is meant to be: the reveal answers, in every form
    assert len(scene.reveals) == 3
    for place, body in scene.reveals:
        assert scanner.hits(body), f"the scanner missed the plaintexts on the {place}"
    known = next(p for p in scene.plaintexts if "-" in p)
    assert scanner.hits(f"log line {known.upper().replace('-', '')} end")
    assert scanner.hits(known.upper().encode("utf-16-le"))

    # and nowhere else
    scanned, leaks = scan(scanner, scene)
    assert scanned > 1000
    assert not leaks, "plaintext codes found in:\n" + "\n".join(leaks[:50])


def test_no_plaintext_after_importing_csv_and_xlsx_through_the_admin_and_the_command(scene):
    """The real import path, not a helper: admin upload (inline, and as a queued job), preview, bad rows,
    confirm, the import_codes command; then the database, every log record, the admin and the exports."""
    for step in IMPORT_STEPS:
        step(scene)
    scanner = Scanner(scene.plaintexts)

    # the scanner sees the codes in the files that carried them, CSV text and XLSX zip alike
    assert {place for place, _data in scene.sources} == {"CSV upload", "XLSX upload", "command CSV", "command XLSX"}
    for place, data in scene.sources:
        assert len(scanner.hits(data)) >= 4, f"the scanner missed the plaintexts in the {place}"
    # the logs were captured, SQL with its parameters and the import's own records included
    assert any(record.name == "django.db.backends" and "catalog_cardcode" in record.getMessage() for record in scene.caplog.records)

    scanned, leaks = scan(scanner, scene)
    assert scanned > 1000
    assert not leaks, "plaintext codes found in:\n" + "\n".join(leaks[:50])
