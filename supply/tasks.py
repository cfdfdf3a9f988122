"""django-q2 entry points of supply; each calls a service and is safe to run twice."""

POLL_SCHEDULE = "supply: poll top-ups"
BALANCE_SCHEDULE = "supply: refresh upstream balances"


def schedules_ensure() -> None:
    """Create (or fix) supply's schedules. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=POLL_SCHEDULE,
        defaults={"func": "supply.tasks.topups_poll_task", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name=BALANCE_SCHEDULE,
        defaults={"func": "supply.tasks.upstream_balances_refresh_task", "schedule_type": Schedule.MINUTES, "minutes": 15, "repeats": -1},
    )


def topup_submit_task(topup_id: int) -> None:
    from supply.services.topups import topup_submit

    topup_submit(topup_id=topup_id)


def topups_poll_task() -> int:
    from supply.services.topups import topups_poll

    return topups_poll()


def upstream_balances_refresh_task() -> int:
    from supply.services.upstreams import upstream_balances_refresh

    return upstream_balances_refresh()
