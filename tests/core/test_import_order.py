"""Imports only go left (DESIGN.md, docs/architecture.md): an app imports only from the apps before it.

voucherhub.core <- catalog <- channels <- riskcontrol <- supply <- redemption <- marketing <- settlement <- analytics

Every import counts, also one inside a function. The roof (voucherhub/urls.py, voucherhub/api_urls.py, the
settings, the WSGI/ASGI entry points) mounts every app; nothing but the roof imports analytics. A lower app
tells a higher one that something happened with a Django signal, never with an import.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORDER = ["voucherhub.core", "catalog", "channels", "riskcontrol", "supply", "redemption", "marketing", "settlement", "analytics"]
ROOF = {"voucherhub/urls.py", "voucherhub/api_urls.py", "voucherhub/wsgi.py", "voucherhub/api_wsgi.py", "voucherhub/asgi.py"}


def _app_of_module(module: str) -> str | None:
    for app in ORDER:
        if module == app or module.startswith(app + "."):
            return app
    return None


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # `from voucherhub import core` names the module after "import"
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _app_files(app: str):
    for path in sorted((ROOT / app.replace(".", "/")).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" not in relative and relative not in ROOF:
            yield relative, path


def test_every_app_imports_only_from_the_apps_before_it():
    wrong = []
    for rank, app in enumerate(ORDER):
        allowed = set(ORDER[: rank + 1])
        for relative, path in _app_files(app):
            for line, module in _imported_modules(ast.parse(path.read_text(), relative)):
                target = _app_of_module(module)
                if target is not None and target not in allowed:
                    wrong.append(f"{relative}:{line} imports {module} ({app} may import only {', '.join(ORDER[: rank + 1])})")
    assert wrong == []


def test_only_the_roof_imports_analytics():
    importers = set()
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith((".venv/", "analytics/", "tests/", "bench/")) or "/migrations/" in relative:
            continue
        if any(_app_of_module(module) == "analytics" for _, module in _imported_modules(ast.parse(path.read_text(), relative))):
            importers.add(relative)
    assert importers <= ROOF


def test_installed_apps_list_ours_in_import_order(settings):
    ours = [app for app in settings.INSTALLED_APPS if _app_of_module(app) is not None]
    assert ours == ORDER
