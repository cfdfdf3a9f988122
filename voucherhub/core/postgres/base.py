"""Django's PostgreSQL backend, with two changes for the hot paths.

Prepared statements (voucherhub/core/prepared.py) are set up on each new connection: psycopg may prepare
what it is asked to, and PostgreSQL plans a prepared statement once (`plan_cache_mode`). Set here, at
connect time in autocommit, so that no rolled-back transaction can undo it.

The health check costs no round trip.

With CONN_HEALTH_CHECKS a persistent connection is checked before its first use in each request, so a
request after a database restart or a killed backend reconnects instead of failing. Django checks with a
`SELECT 1`: one more round trip on every request (an API order is eight statements, a redeem two; the
check would be the ninth and the third). Here the check asks the socket instead. Between requests an
idle connection has nothing to read; a server that closes it (restart, pg_terminate_backend,
idle_session_timeout) first sends a FATAL message and then EOF, which makes the socket readable. So a
connection is kept when psycopg still counts it as open and idle and its socket has nothing waiting; in
every other case Django's own `SELECT 1` decides, as before.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

from voucherhub.core import prepared


class DatabaseWrapper(base.DatabaseWrapper):
    def _configure_connection(self, connection):
        commit = super()._configure_connection(connection)
        return prepared.connection_setup(connection) or commit

    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE and not _readable(connection):
            return True
        return super().is_usable()


def _readable(connection) -> bool:
    """Whether the server has sent anything (or closed the socket); True when that cannot be told."""
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
