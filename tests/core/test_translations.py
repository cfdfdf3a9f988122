"""Simplified Chinese is complete: every translatable string in the code is in a .po file, translated,
and compiled. (English is the source language, so it is complete by construction.)"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

from tests import factories
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "var", ".git", "staticfiles", "node_modules", ".pytest_cache", ".hypothesis", "tests", "bench"}


def po_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("locale/zh_Hans/LC_MESSAGES/django.po") if not SKIP_DIRS & set(p.relative_to(root).parts))


def msgids(po_path: Path) -> set[str]:
    return {entry.msgid for entry in polib.pofile(str(po_path)) if not entry.obsolete}


def test_every_entry_is_translated_and_not_fuzzy():
    problems = []
    for path in po_files(ROOT):
        po = polib.pofile(str(path))
        problems += [f"{path.relative_to(ROOT)}: untranslated {e.msgid!r}" for e in po.untranslated_entries()]
        problems += [f"{path.relative_to(ROOT)}: fuzzy {e.msgid!r}" for e in po.fuzzy_entries()]
    assert not problems, "\n".join(problems)


def test_compiled_catalogs_match_their_sources():
    for path in po_files(ROOT):
        mo_path = path.with_suffix(".mo")
        assert mo_path.exists(), f"{mo_path} missing: run `make messages`"
        # keyed by context and id: one msgid may mean two things ("System": the colour scheme, the admin section)
        compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(mo_path))}
        for entry in polib.pofile(str(path)).translated_entries():
            stale = f"{mo_path} is stale for {entry.msgid!r}: run `make messages`"
            assert compiled.get((entry.msgctxt, entry.msgid)) == entry.msgstr, stale


def test_catalogs_cover_every_string_in_the_code(tmp_path):
    if shutil.which("xgettext") is None:
        message = "gettext is not installed (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    copy = tmp_path / "tree"
    shutil.copytree(ROOT, copy, ignore=lambda d, names: [n for n in names if n in SKIP_DIRS or n.endswith(".mo")])
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete", "-i", "staticfiles/*"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    missing = []
    for path in po_files(copy):
        original = ROOT / path.relative_to(copy)
        have = msgids(original) if original.exists() else set()
        missing += [f"{original.relative_to(ROOT)}: {m!r}" for m in sorted(msgids(path) - have) if m]
    assert not missing, "strings missing from the catalogs (run `make messages` and translate):\n" + "\n".join(missing)


@pytest.mark.django_db
def test_the_chinese_admin_speaks_chinese_in_the_sections_and_controls_of_its_third_party_parts(ops_client):
    """django-axes, django-otp and the unfold theme ship no Chinese; the project's catalogs name them."""
    index = ops_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "登录锁定" in index and "登录尝试" in index and "身份验证器" in index
    assert not [word for word in ("Axes", "Access attempts", "Access failures", "Otp_Totp", "TOTP devices") if word in index]
    factories.SkuFactory()
    changelist = ops_client.get("/admin/catalog/sku/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "选择操作" in changelist and "全选" in changelist
    assert not [word for word in ("Select action", "Select all rows", "Apply Filters", ">Run<") if word in changelist]
