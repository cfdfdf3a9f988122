"""django-q2 entry points of analytics; each calls a service and is safe to run twice."""


def rollups_refresh_task() -> str:
    """The incremental rollup job (every minute): each rollup's changed days recomputed."""
    from analytics.rollups import rollups_refresh

    done = rollups_refresh()
    return " ".join(f"{name}={days}" for name, days in done.items())


SCHEDULES = [
    # (name, function, minutes): dashboards lag the facts by about a minute.
    ("analytics: refresh rollups", "analytics.tasks.rollups_refresh_task", 1),
]


def schedules_ensure() -> None:
    """Create the scheduled jobs once (called after migrate)."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
