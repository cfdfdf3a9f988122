"""Shared fixtures: users per role, clients, and the PostgreSQL/CI rules.

* `@pytest.mark.postgres` tests need PostgreSQL. Elsewhere they are skipped, except under
  CI=true, where they fail: CI must never go green without them.
* Each xdist worker gets its own cache key prefix, so tests that count in Redis don't collide.
"""

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tests import factories
from voucherhub.core import roles

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

settings.CACHES["default"]["KEY_PREFIX"] = f"vhtest-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"


@pytest.fixture(autouse=True)
def _postgres_only(request):
    if request.node.get_closest_marker("postgres") is None:
        return
    if connection.vendor != "postgresql":
        message = "this test needs PostgreSQL (set DATABASE_URL)"
        if IN_CI:
            pytest.fail(message + ": CI=true, so it must run")
        pytest.skip(message)


def _clear_own_cache() -> None:
    """Empty this process's cache keys. On Redis only our own prefix: cache.clear() would FLUSHDB the
    whole database under every other test process (xdist workers, parallel runs) sharing it."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        cache.clear()
        return
    client = backend._cache.get_client(None, write=True)
    keys = list(client.scan_iter(match=f"{backend.key_prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


@pytest.fixture(autouse=True)
def _fresh_cache():
    _clear_own_cache()
    yield


@pytest.fixture
def clear_cache():
    """Call it to empty this test process's cache keys mid-test (never cache.clear(): see above)."""
    return _clear_own_cache


@pytest.fixture(autouse=True)
def _fresh_risk_rules():
    """Each test reads the risk rules anew: the compiled snapshot lives in the process (re-checked at most
    every second), so a rule a previous test created and rolled back would otherwise still hold orders."""
    from riskcontrol import engine

    engine._local.snapshot = None
    yield
    engine._local.snapshot = None


@pytest.fixture
def ops_user(db):
    return factories.UserFactory(username="ops1", role=roles.OPS, is_staff=True)


@pytest.fixture
def finance_user(db):
    return factories.UserFactory(username="finance1", role=roles.FINANCE, is_staff=True)


@pytest.fixture
def ops_client(client, ops_user):
    client.force_login(ops_user)
    return client


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


@pytest.fixture
def q_sync(monkeypatch):
    """django-q2's sync mode: a queued task runs at once, in this process (its setting is read at import)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
