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

# Django's PBKDF2 (1,000,000 rounds) costs about a second per password on the shared 2-core machine, paid by every
# user a fixture creates (the demo data has dozens) and every login. Tests check what is hashed and compared, not
# what it costs (Django's "Speeding up the tests"); a test marked real_password_hashing gets the project's hashers
# back (tests/core/test_password_hashing.py).
PROJECT_PASSWORD_HASHERS = list(settings.PASSWORD_HASHERS)
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# seed_demo's 90 days of history (analytics/demo.py) take about as long as the rest of the demo: the tests that
# seed the demo get none; tests/analytics/test_demo_history.py asks for it.
settings.DEMO_HISTORY_DAYS = 0


@pytest.fixture(autouse=True)
def _real_password_hashing(request):
    """A test marked real_password_hashing runs with the project's password hashers (see below)."""
    if request.node.get_closest_marker("real_password_hashing") is not None:
        request.getfixturevalue("settings").PASSWORD_HASHERS = PROJECT_PASSWORD_HASHERS


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


class OwnRedis:
    """A redis-server of one test's own: a free port, no persistence (RDB or AOF), nothing shared."""

    def __init__(self, directory):
        import socket

        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        import subprocess
        import time

        import redis

        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # a crash, as far as Redis can tell: nothing is saved on the way out
            self.process.wait(timeout=10)
            self.process = None

    def flush(self) -> None:
        """FLUSHALL: on this test's own server only."""
        import redis

        redis.Redis.from_url(self.url).flushall()

    def restart(self) -> None:
        """Stop and start again: without persistence every key is gone."""
        self.stop()
        self.start()


@pytest.fixture
def own_redis(settings, tmp_path):
    """The cache on a Redis server of the test's own, which it may flush or restart (the suite's shared Redis
    database must never be flushed: other workers use it)."""
    import shutil

    if shutil.which("redis-server") is None:
        message = "redis-server is not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    server = OwnRedis(tmp_path)
    server.start()
    shared = settings.CACHES
    settings.CACHES = {
        "default": {
            "BACKEND": "voucherhub.core.cache.ReusedClientRedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", ""),
        }
    }
    yield server
    settings.CACHES = shared  # back on the shared cache before the server goes: later teardowns still write
    server.stop()


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
