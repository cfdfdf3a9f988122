"""`manage.py check --deploy`: the Redis behind the cache must keep what the lockouts and limits write.

PostgreSQL holds the failures and the lockouts; Redis holds their fast copies and the limit counters, and
refills itself from PostgreSQL when it comes back empty. Two settings of the Redis server would still lose
them quietly: evicting keys under memory pressure (a running lockout or a counter disappears while every
other key stays), and restoring an old RDB snapshot after a restart (state taken since the snapshot is
gone, and nothing says so). See docs/riskcontrol.md, "What Redis must be in production".
"""

from django.core import checks

from voucherhub.core.health import redis_backend, redis_config_problems


@checks.register(checks.Tags.caches, deploy=True)
def redis_keeps_security_state(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    backend = redis_backend()
    if backend is None:
        return []
    try:
        problems = redis_config_problems(backend)
    except Exception as error:  # noqa: BLE001 - unreachable, or CONFIG renamed away (managed Redis): say so
        return [
            checks.Warning(
                f"Could not read the Redis server's configuration ({type(error).__name__}: {error}).",
                hint="Check by hand that maxmemory-policy is noeviction and that the server does not restore RDB snapshots "
                "without an append-only file (docs/riskcontrol.md), then silence riskcontrol.W003.",
                id="riskcontrol.W003",
            )
        ]
    found = []
    for problem in problems:
        if problem.kind == "eviction":
            found.append(
                checks.Warning(
                    f"Redis evicts keys under memory pressure ({problem.detail}): lockouts and limit counters can vanish.",
                    hint="Set maxmemory-policy noeviction on the Redis server of CACHE_URL, and size maxmemory for it.",
                    id="riskcontrol.W001",
                )
            )
        elif problem.kind == "snapshots":
            found.append(
                checks.Warning(
                    "Redis restores RDB snapshots without an append-only file: after a restart, counters and lockout copies "
                    "taken since the last snapshot are gone (lockouts come back from PostgreSQL within a minute, limit "
                    "counters only where a bucket is missing).",
                    hint='Turn on appendonly yes with appendfsync everysec, or turn persistence off (save "") '
                    "so a restart comes back empty and refills.",
                    id="riskcontrol.W002",
                )
            )
    return found
