"""django-q2 entry points; each calls a service and is safe to run twice."""


def orders_expire():
    from settlement.services.orders import orders_expire as run

    return run()


def commissions_release_due():
    from settlement.services.commission import commissions_release_due as run

    return run()


def statements_monthly():
    from settlement.services.statements import statements_monthly as run

    return run()


def merchant_statements_monthly():
    from settlement.services.merchant_statements import merchant_statements_monthly as run

    return run()


def webhooks_send_due():
    from settlement.services.notify import webhooks_send_due as run

    return run()


def webhook_send(delivery_id: int):
    from settlement.services.notify import webhook_send as run

    return run(delivery_id=delivery_id)


def export_run(job_id: int):
    from settlement.services.exports import export_run as run

    return run(job_id=job_id)


SCHEDULES = [
    # (name, function, minutes)
    ("settlement: expire unpaid orders", "settlement.tasks.orders_expire", 1),
    # Frequent: commission is released for each redeemed code within minutes (a run with nothing to do is one query).
    ("settlement: release commission", "settlement.tasks.commissions_release_due", 5),
    ("settlement: retry webhooks", "settlement.tasks.webhooks_send_due", 1),
    ("settlement: monthly statements", "settlement.tasks.statements_monthly", 24 * 60),
    ("settlement: monthly merchant statements", "settlement.tasks.merchant_statements_monthly", 24 * 60),
]
# Intervals an earlier release created; a schedule still at one of them moves to the new default.
FORMER_MINUTES = {"settlement: release commission": {60}}


def schedules_ensure() -> None:
    """Create the scheduled jobs once (called after migrate)."""
    from django_q.models import Schedule

    for name, func, minutes in SCHEDULES:
        schedule, created = Schedule.objects.get_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
        if not created and schedule.minutes in FORMER_MINUTES.get(name, ()):
            Schedule.objects.filter(pk=schedule.pk).update(minutes=minutes)
