"""Reads of the analytics rollups go to the read replica, when there is one (DATABASE_REPLICA_URL).

The dashboards read only rollup tables, which the rollup job rewrites every few minutes: a replica that lags a
few seconds shows the same picture, and the primary is spared the dashboards' reads. Everything else (every
write, every read of any other table, migrations) stays on "default". Issue 19 (scale-out) extends this router
with read-your-own-writes for the other read paths; until then the rule is one line: rollup reads -> replica.
"""

from django.conf import settings
from django.db import connections

REPLICA = "replica"
ROLLUP_APP = "analytics"
# analytics' tables that are not rollups: written by requests (visits) or by the job itself (its watermarks).
NOT_ROLLUPS = {"storefrontvisit", "rollupstate"}


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def is_rollup(model) -> bool:
    meta = model._meta
    return meta.app_label == ROLLUP_APP and meta.model_name not in NOT_ROLLUPS


class ReplicaRouter:
    """Rollup reads -> "replica" (when configured); all writes and migrations -> "default".

    A read inside a transaction on the primary (the rollup job summing a day's hours into its days) stays on the
    primary: the replica cannot see the transaction's own uncommitted rows."""

    def db_for_read(self, model, **hints):
        if is_rollup(model) and replica_configured() and not connections["default"].in_atomic_block:
            return REPLICA
        return None  # no opinion: the instance's own database, else "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # both aliases hold the same data (the replica follows the primary)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
