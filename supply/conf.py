"""Supply's settings, each with a default that suits a demo; override in voucherhub/settings/apps.py or the
environment (SUPPLY_* there)."""

from datetime import timedelta

from django.conf import settings


def _get(name, default):
    return getattr(settings, name, default)


def sync() -> bool:
    """Submit a new top-up in the committing process instead of queueing a django-q2 task (tests, demos)."""
    return bool(_get("SUPPLY_SYNC", False))


def callback_base_url() -> str:
    """The public address suppliers post their callbacks to (the site's own by default)."""
    return str(_get("SUPPLY_CALLBACK_BASE_URL", "") or _get("SITE_URL", "http://127.0.0.1:8000")).rstrip("/")


def query_backoff(queries_done: int) -> timedelta:
    """How long to wait before the next query of an attempt that already had `queries_done` queries:
    the steps of SUPPLY_QUERY_BACKOFF_SECONDS, then the last step again and again."""
    steps = list(_get("SUPPLY_QUERY_BACKOFF_SECONDS", [2, 5, 15, 30, 60, 120, 300]))
    return timedelta(seconds=float(steps[min(queries_done, len(steps) - 1)]))


def processing_check() -> timedelta:
    """An accepted attempt waits this long for its callback before the poller asks."""
    return timedelta(seconds=float(_get("SUPPLY_PROCESSING_CHECK_SECONDS", 60)))


def submit_window() -> timedelta:
    """A supplier that still does not know our number this long after we sent it never received it: only
    then is "not found" a confirmed failure."""
    return timedelta(seconds=float(_get("SUPPLY_SUBMIT_WINDOW_SECONDS", 120)))


def failover_delay() -> timedelta:
    """The pause between a confirmed failure and the next attempt (0: at once)."""
    return timedelta(seconds=float(_get("SUPPLY_FAILOVER_DELAY_SECONDS", 5)))


def alert_quiet() -> timedelta:
    """An open alert of one kind for one upstream is not repeated within this time."""
    return timedelta(minutes=float(_get("SUPPLY_ALERT_QUIET_MINUTES", 60)))


def poll_budget_seconds() -> float:
    """How long one poller run keeps taking batches of due rows (it runs every minute)."""
    return float(_get("SUPPLY_POLL_BUDGET_SECONDS", 45))


def stuck_after() -> timedelta:
    """How long an attempt may wait for a final answer (still queried all along) before ops are alerted."""
    return timedelta(minutes=float(_get("SUPPLY_STUCK_ALERT_MINUTES", 30)))
