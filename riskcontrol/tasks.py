"""django-q2 entry points. Each one calls a service and is safe to run twice."""

from datetime import timedelta

from django.utils import timezone

from riskcontrol import alerts, engine
from riskcontrol.challenge import challenges_purge
from riskcontrol.models import FailedCheck, Outcome, RiskEvent, VerificationFailure

WATCH_SCHEDULE = "risk watch"
PURGE_SCHEDULE = "risk purge"
CHALLENGES_PURGE_SCHEDULE = "risk challenges purge"
CHALLENGES_PURGE_MINUTES = 5  # a challenge lives CAPTCHA_TIMEOUT (5) minutes


def risk_watch() -> str:
    """Every minute: raise spike alerts and mail the alerts not mailed yet."""
    raised = alerts.spikes_detect()
    sent = alerts.alerts_dispatch()
    return f"alerts raised={len(raised)} mailed={sent}"


def risk_alerts_dispatch() -> int:
    return alerts.alerts_dispatch()


def risk_challenges_purge() -> str:
    """Every few minutes: delete expired challenges, so anonymous askers cannot pile up captcha rows."""
    return f"challenges={challenges_purge()}"


def risk_purge() -> str:
    """Daily: drop allowed events past the retention, old failure rows and expired challenges."""
    days = engine.rules_snapshot().settings.event_retention_days
    cutoff = timezone.now() - timedelta(days=days)
    events, _ = RiskEvent.objects.filter(outcome=Outcome.ALLOW, created_at__lt=cutoff, review_status="").delete()
    failures, _ = VerificationFailure.objects.filter(created_at__lt=cutoff).delete()
    failed_checks, _ = FailedCheck.objects.filter(created_at__lt=cutoff).delete()
    failures += failed_checks
    challenges = challenges_purge()
    return f"events={events} failures={failures} challenges={challenges}"


def schedules_ensure() -> None:
    """Create (or fix) the schedules of risk control. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=WATCH_SCHEDULE,
        defaults={"func": "riskcontrol.tasks.risk_watch", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name=PURGE_SCHEDULE,
        defaults={"func": "riskcontrol.tasks.risk_purge", "schedule_type": Schedule.DAILY, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name=CHALLENGES_PURGE_SCHEDULE,
        defaults={
            "func": "riskcontrol.tasks.risk_challenges_purge",
            "schedule_type": Schedule.MINUTES,
            "minutes": CHALLENGES_PURGE_MINUTES,
            "repeats": -1,
        },
    )
