"""DATABASES and CACHES, from DATABASE_URL and CACHE_URL (SQLite and local memory when unset); sessions cached in Redis."""

from .base import BASE_DIR, env

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'voucherhub.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The same backend, with decimal sums read back at their field's places (voucherhub/core/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "voucherhub.core.sqlite"
    # Tests get an in-memory database, as with Django's own engine name (pytest-xdist would otherwise name a
    # worker's database after this file's path: test_/path/voucherhub.sqlite3_gw0, which cannot be opened).
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
    # WAL + IMMEDIATE: the web server and the django-q2 cluster share one file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # voucherhub/core/prepared.py: the hot paths' statements prepared on the server (False behind a pooler in
    # transaction mode that does not track prepared statements, such as PgBouncer before 1.21).
    PREPARED_STATEMENTS = env.bool("PREPARED_STATEMENTS", default=True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that asks the socket instead of sending SELECT 1.
        DATABASES["default"]["ENGINE"] = "voucherhub.core.postgres"
# A streaming replica of the primary (docs/operations.md "Read replica"): when set, the dashboards' reads of the
# analytics rollups go there (voucherhub/core/dbrouter.py); every write and every other read stays on "default".
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    if DATABASES["replica"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["replica"]["ENGINE"] = "voucherhub.core.postgres"
        DATABASES["replica"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
        DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # Tests never open the replica on its own: it reads the test database (a mirror of "default").
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["voucherhub.core.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://voucherhub")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Redis: one redis-py client per pool, not one per cache call (voucherhub/core/cache.py, docs/performance.md).
    CACHES["default"]["BACKEND"] = "voucherhub.core.cache.ReusedClientRedisCache"
    # Sessions read from the shared Redis cache first and are written through to the database (which stays
    # the record): a signed-in request no longer costs a session query. Only with a cache every node shares:
    # with a per-process cache a session ended on one worker would live on in another's memory.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
