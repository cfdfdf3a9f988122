"""The settings package (voucherhub/settings/): each concern defined once, in the module that owns it."""

import ast
from pathlib import Path

from django.conf import settings

SETTINGS_DIR = Path(__file__).resolve().parents[2] / "voucherhub" / "settings"
DEFINED_ONCE = ("MIDDLEWARE", "INSTALLED_APPS", "REST_FRAMEWORK")


def _writes(tree: ast.AST, name: str) -> list[int]:
    """Line numbers where a module assigns, augments or mutates `name` (x = ..., x += ..., x[...] = ..., x.append(...))."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                base = target
                while isinstance(base, ast.Subscript | ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and base.id == name:
                    lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            mutators = {"append", "insert", "extend", "remove", "update", "pop"}
            if isinstance(owner, ast.Name) and owner.id == name and node.func.attr in mutators:
                lines.append(node.lineno)
    return lines


def test_middleware_apps_and_rest_framework_are_each_defined_once():
    # api_only.py is the API entry's module: it derives its own MIDDLEWARE (tested in test_api_entry.py).
    modules = [path for path in sorted(SETTINGS_DIR.glob("*.py")) if path.name != "api_only.py"]
    assert {path.name for path in modules} >= {"__init__.py", "base.py", "database.py", "security.py", "api.py", "jobs.py"}
    for name in DEFINED_ONCE:
        writes = [(path.name, line) for path in modules for line in _writes(ast.parse(path.read_text()), name)]
        assert len(writes) == 1, f"{name} is written at {writes}; define it once"


def test_the_package_is_what_django_loads():
    assert settings.SETTINGS_MODULE == "voucherhub.settings"
    assert settings.ROOT_URLCONF == "voucherhub.urls"
    assert settings.BASE_DIR == SETTINGS_DIR.parent.parent
    assert "channels.api_auth.DistributorKeyAuthentication" in settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") < settings.MIDDLEWARE.index(
        "django_otp.middleware.OTPMiddleware"
    )
