"""A dependency that is away for a moment (PostgreSQL restarting, full or unreachable; Redis down or
unreachable) is a 503 with Retry-After, not a 500.

`is_outage(exc)` tells such a failure from a bug: Django's OperationalError / InterfaceError at the connection
level (no connection, the server shutting down or starting up, no free connection slot) and redis-py's
ConnectionError / TimeoutError. A deadlock, a serialization failure, a lock or statement timeout are
OperationalErrors too, but not outages: the code that meets them retries or reports them, and a 500 is right
when it does not.

Who answers with it:
* the signed API: `voucherhub.core.api.exception_handler` (DRF views) and `voucherhub.core.api.server_error`
  (handler500 of the API stack, for what fails around a view): `{"error": {"code": "unavailable", ...}}`;
* pages and the admin: `voucherhub.core.views.server_error` (handler500 of voucherhub/urls.py), a branded
  "try again in a moment" page rendered without the database or the cache.
Both run inside Django's own exception handling, so a failure anywhere in the request (a middleware that
loads the session or counts a rate limit, the view, a response that saves the session) is covered.
"""

import logging

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError
from redis import exceptions as redis_exceptions

logger = logging.getLogger(__name__)

# SQLSTATEs of "the server is not there for us right now": connection exceptions (class 08), the server
# shutting down (57P01 admin, 57P02 crash), starting up or in recovery (57P03), no free connection slot
# (53300), out of memory / disk for a moment (53200, 53100).
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300", "53200", "53100"}
# SQLite (the laptop default): the database file is busy or locked by another process for longer than its timeout.
_UNAVAILABLE_SQLITE = {"SQLITE_BUSY", "SQLITE_LOCKED"}


_REDIS_ERRORS = (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError)  # BusyLoadingError is a ConnectionError
_DATABASE_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


def _database_unavailable(exc: BaseException) -> bool:
    """exc is a database OperationalError / InterfaceError (Django's, or the driver's own when raw)."""
    if isinstance(exc, InterfaceError):
        return True
    driver = exc.__cause__ if isinstance(exc, OperationalError) and exc.__cause__ is not None else exc
    sqlite_name = getattr(driver, "sqlite_errorname", None)
    if sqlite_name is not None:
        return sqlite_name in _UNAVAILABLE_SQLITE
    if isinstance(driver, psycopg.InterfaceError):
        return True  # the connection is closed
    sqlstate = getattr(driver, "sqlstate", None)
    # No SQLSTATE: the failure is the connection's own (refused, reset, closed by the server, timed out).
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def is_outage(exc: BaseException | None) -> bool:
    """True when `exc` (or what it was raised from) is a dependency that is away for a moment."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, _REDIS_ERRORS):
            return True
        if isinstance(exc, _DATABASE_ERRORS):
            return _database_unavailable(exc)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def retry_after_seconds() -> int:
    """What a client is told to wait before it tries again (PostgreSQL restarts in seconds; a failover longer)."""
    return int(getattr(settings, "UNAVAILABLE_RETRY_AFTER_SECONDS", 5))


def outage_log(request, exc: BaseException) -> None:
    logger.warning("%s %s: a dependency is unavailable (%s: %s)", request.method, request.path, type(exc).__name__, exc)
