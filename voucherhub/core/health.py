"""Health of the process and its dependencies: `/healthz` (liveness) and `/readyz` (readiness), and the
inspection of the Redis server behind the cache that `manage.py check --deploy` reuses (riskcontrol.checks).

PostgreSQL is the record of the lockouts and limits that protect codes; Redis is their fast path and must
keep what it is given: no eviction (`maxmemory-policy noeviction`) and no RDB snapshots without an
append-only file (a restart would restore old counts). See docs/riskcontrol.md, "What Redis must be in production".
"""

from typing import NamedTuple

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

SAFE_EVICTION = "noeviction"


class RedisProblem(NamedTuple):
    kind: str  # "eviction" or "snapshots"
    detail: str  # short and plain: "eviction policy allkeys-lru"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_backend() -> RedisCache | None:
    """The default cache when it is Redis, else None (the laptop's local-memory cache)."""
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def redis_config_problems(backend: RedisCache) -> list[RedisProblem]:
    """What in the Redis server's configuration would lose lockouts and limit counters.

    Asks the server (CONFIG GET); raises what redis-py raises when it cannot (server down, CONFIG renamed away).
    """
    client = backend._cache.get_client(None, write=True)
    config = {}
    for name in ("maxmemory-policy", "appendonly", "save"):
        config.update({_text(key): _text(value) for key, value in client.config_get(name).items()})
    problems = []
    policy = config.get("maxmemory-policy", "")
    if policy != SAFE_EVICTION:
        problems.append(RedisProblem("eviction", f"eviction policy {policy}"))
    if config.get("appendonly", "no") != "yes" and config.get("save", "").strip():
        problems.append(RedisProblem("snapshots", "RDB snapshots without an append-only file"))
    return problems


def _failure(error: Exception) -> str:
    return f"{type(error).__name__}: {error}".strip()[:200]


def database_status() -> str:
    """ "ok" when the default database answers SELECT 1, else what went wrong."""
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means not ready; say which
        return _failure(error)
    return "ok"


def cache_status() -> str:
    """ "ok" when the cache is local memory, or Redis answers PING and keeps what it is given; else the reason."""
    backend = redis_backend()
    if backend is None:
        return "ok"
    try:
        backend._cache.get_client(None, write=True).ping()
        problems = redis_config_problems(backend)
    except Exception as error:  # noqa: BLE001 - unreachable, or its configuration unreadable: not ready
        return _failure(error)
    return "; ".join(problem.detail for problem in problems) or "ok"


@csrf_exempt
@never_cache
@require_safe
def healthz(request):
    """Liveness: the process answers. Touches no dependency (a database outage must not restart every worker)."""
    return JsonResponse({"status": "ok"})


@csrf_exempt
@never_cache
@require_safe
def readyz(request):
    """Readiness: 200 when PostgreSQL and Redis answer and Redis is configured to keep lockouts and counters; else 503
    naming each failing dependency. No login, no session."""
    checks = {"database": database_status(), "cache": cache_status()}
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
