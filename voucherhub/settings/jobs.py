"""Background jobs (django-q2), long jobs' heartbeats, and the card-code imports that run as jobs."""

from .base import env

Q_CLUSTER = {
    "name": "voucherhub",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 1800,
    "retry": 1900,
    "max_attempts": 1,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=False),
    "label": "Django Q2",
}
# Long jobs (exports, code imports; voucherhub/core/jobs.py, docs/operations.md): a working job writes a
# heartbeat every JOBS_HEARTBEAT_SECONDS; one silent for JOBS_STALE_SECONDS lost its worker, and the sweeper
# (every minute) queues it again, or fails it ("the worker stopped") once it has had JOBS_MAX_ATTEMPTS.
JOBS_HEARTBEAT_SECONDS = env.int("JOBS_HEARTBEAT_SECONDS", default=10)
JOBS_STALE_SECONDS = env.int("JOBS_STALE_SECONDS", default=120)
JOBS_MAX_ATTEMPTS = env.int("JOBS_MAX_ATTEMPTS", default=2)
# A database or Redis that is away for a moment answers 503 with this Retry-After (voucherhub/core/outages.py).
UNAVAILABLE_RETRY_AFTER_SECONDS = env.int("UNAVAILABLE_RETRY_AFTER_SECONDS", default=5)

# Card-code imports: files up to these sizes are checked and stored during the request; larger ones run as
# django-q2 jobs (docs/code-imports.md).
IMPORT_INLINE_MAX_ROWS = env.int("IMPORT_INLINE_MAX_ROWS", default=5_000)
IMPORT_INLINE_MAX_BYTES = env.int("IMPORT_INLINE_MAX_BYTES", default=1024 * 1024)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
