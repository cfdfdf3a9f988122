"""django-q2 entry points of the kernel. Each one calls a service and is safe to run twice."""

from voucherhub.core.apisign import spent_nonces_prune

NONCE_PRUNE_SCHEDULE = "api nonce prune"
NONCE_PRUNE_MINUTES = 10


def api_nonces_prune() -> str:
    """Every few minutes: forget the API nonces whose timestamps are stale by now."""
    return f"nonces pruned={spent_nonces_prune()}"


def schedules_ensure() -> None:
    """Create (or fix) the kernel's schedules other than the audit sealer's. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=NONCE_PRUNE_SCHEDULE,
        defaults={
            "func": "voucherhub.core.tasks.api_nonces_prune",
            "schedule_type": Schedule.MINUTES,
            "minutes": NONCE_PRUNE_MINUTES,
            "repeats": -1,
        },
    )
