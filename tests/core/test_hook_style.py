"""One read-only admin for every app, one cross-app hook style (signals for events, registries for menu
links), and no guards for apps that are always installed (issue 14, item 6)."""

import ast
from pathlib import Path

import pytest
from django.contrib import admin

from voucherhub.core.admin_readonly import ReadOnlyAdmin

ROOT = Path(__file__).resolve().parents[2]
APPS = ["voucherhub", "catalog", "channels", "riskcontrol", "redemption", "settlement", "analytics"]


def _sources():
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def test_read_only_admin_is_defined_once_in_core():
    defined = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for path in _sources()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name in {"ReadOnlyAdmin", "ReadOnlyInline"}
    ]
    assert sorted(defined) == ["voucherhub/core/admin_readonly.py:ReadOnlyAdmin", "voucherhub/core/admin_readonly.py:ReadOnlyInline"]


@pytest.mark.django_db
def test_every_read_only_admin_refuses_add_change_and_delete(rf, admin_user):
    request = rf.get("/")
    request.user = admin_user
    read_only = [model_admin for model_admin in admin.site._registry.values() if isinstance(model_admin, ReadOnlyAdmin)]
    assert len(read_only) > 10  # every app's logs, ledgers and events
    for model_admin in read_only:
        assert not model_admin.has_add_permission(request), model_admin
        assert not model_admin.has_change_permission(request), model_admin
        assert not model_admin.has_delete_permission(request), model_admin


def _catches_import_error(node: ast.Try) -> bool:
    names = {"ImportError", "ModuleNotFoundError"}
    return any(isinstance(handler.type, ast.Name) and handler.type.id in names for handler in node.handlers)


def _imports_in(body: list[ast.stmt]) -> list[str]:
    """Modules imported in a try block: `from x import y`, `import x`, `importlib.import_module(...)`."""
    found = []
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.ImportFrom):
                found.append(node.module or "")
            elif isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                found.append("<dynamic>")
    return found


def test_no_guard_for_an_app_that_is_always_installed():
    guarded = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Try) and _catches_import_error(node):
                modules = _imports_in(node.body)
                if any(module == "<dynamic>" or module.split(".")[0] in APPS for module in modules):
                    guarded.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert guarded == []
