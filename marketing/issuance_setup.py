"""What targeted issuance declares at start-up (called from MarketingConfig.ready): its job for the sweeper,
the ops role's permissions on its pages, its audit labels and the notification retry schedule."""

from django.utils.translation import gettext_lazy as _

NOTICES_SCHEDULE = "marketing: retry issuance notifications"
NOTICES_TASK = "marketing.tasks_issuance.issuance_notices_retry_task"

AUDIT_ACTIONS = {
    "marketing.issuance.prepare": _("Targeted issuance prepared"),
    "marketing.issuance.confirm": _("Targeted issuance confirmed"),
    "marketing.issuance.cancel": _("Targeted issuance dropped"),
    "marketing.issuance.retry": _("Targeted issuance retried"),
}

OPS_PERMISSIONS = [
    "marketing.view_issuance",
    "marketing.add_issuance",  # prepare, confirm, drop and retry an issuance
    "marketing.view_issuancerecipient",
]
FINANCE_PERMISSIONS = ["marketing.view_issuance"]


def schedules_ensure() -> None:
    """Create (or fix) the notification retry's schedule. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=NOTICES_SCHEDULE,
        defaults={"func": NOTICES_TASK, "schedule_type": Schedule.MINUTES, "minutes": 10, "repeats": -1},
    )


def _after_migrate(sender, **kwargs):
    schedules_ensure()


def issuance_ready(app_config) -> None:
    """Register the issuance job with the sweeper, the roles' permissions, the audit labels and the schedule."""
    from django.db.models.signals import post_migrate

    from marketing.models import Issuance
    from marketing.services.issuance import issuance_give_up, issuance_requeue
    from voucherhub.core import roles
    from voucherhub.core.audit import audit_actions_register
    from voucherhub.core.jobs import jobs_register

    jobs_register(model=Issuance, requeue=issuance_requeue, give_up=issuance_give_up)
    roles.grant(roles.OPS, OPS_PERMISSIONS)
    roles.grant(roles.FINANCE, FINANCE_PERMISSIONS)
    audit_actions_register(AUDIT_ACTIONS)
    post_migrate.connect(_after_migrate, sender=app_config, dispatch_uid="marketing.issuance_after_migrate")
