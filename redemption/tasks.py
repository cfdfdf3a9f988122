"""django-q2 entry points. Each calls a service and is safe to run twice."""

from datetime import timedelta

from django.utils import timezone

from redemption import conf
from redemption.reminders import reminders_send
from voucherhub.core.idempotency import idempotency_records_prune as _records_prune

SCHEDULES = [
    # (name, function, schedule type, minutes)
    ("redemption: expiry reminders", "redemption.tasks.expiry_reminders_send", "I", 60),
    ("redemption: forget old idempotency keys", "redemption.tasks.idempotency_records_prune", "D", None),
]


def expiry_reminders_send() -> str:
    run = reminders_send()
    return f"sent={run.sent} skipped={run.skipped} failed={run.failed}"


def idempotency_records_prune() -> int:
    """Forget redeem and reverse keys older than REDEMPTION_IDEMPOTENCY_DAYS (core's records of redemption's scopes)."""
    return _records_prune(scope_prefix="redemption:", before=timezone.now() - timedelta(days=conf.idempotency_days()))


def schedules_ensure() -> None:
    """Create the recurring jobs once (run after migrate); an operator's later edits are kept."""
    from django_q.models import Schedule

    for name, func, schedule_type, minutes in SCHEDULES:
        defaults = {"func": func, "schedule_type": schedule_type, "repeats": -1}
        if minutes:
            defaults["minutes"] = minutes
        Schedule.objects.get_or_create(name=name, defaults=defaults)
