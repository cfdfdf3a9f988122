"""What ops' side of supply declares at start-up (called from SupplyConfig.ready): the permissions of the ops and
finance roles on supply's pages, the labels of the audit codes written here, and the replenishment schedule."""

from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

REPLENISH_SCHEDULE = "supply: replenish card stock"

AUDIT_ACTIONS = {
    "supply.statement.import": _("Supplier statement imported"),
    "supply.statement.resolve": _("Statement difference resolved"),
    "supply.alert.acknowledge": _("Supply alert acknowledged"),
    "supply.replenish.done": _("Card stock replenished"),
    "supply.replenish.failed": _("Card replenishment failed"),
    "supply.upstream.secrets": _("Supplier secrets changed"),
}

_CRUD = ("view", "add", "change")
OPS_PERMISSIONS = [
    *[f"supply.{verb}_{model}" for model in ("upstream", "upstreamproduct", "topupprofile") for verb in _CRUD],
    "supply.view_topup",
    "supply.change_topup",  # decide held top-ups (resubmit or refund)
    "supply.view_topupattempt",
    "supply.view_topupevent",
    "supply.view_supplycallback",
    "supply.view_supplyalert",
    "supply.change_supplyalert",  # acknowledge
    "supply.view_statementimport",
    "supply.add_statementimport",
    "supply.view_statementdifference",
    "supply.change_statementdifference",  # resolve
    "supply.view_replenishment",
    "supply.add_replenishment",
]
FINANCE_PERMISSIONS = [
    "supply.view_upstream",
    "supply.view_upstreamproduct",
    "supply.view_topup",
    "supply.view_topupattempt",
    "supply.view_topupevent",
    "supply.view_supplyalert",
    "supply.view_statementimport",
    "supply.add_statementimport",
    "supply.view_statementdifference",
    "supply.change_statementdifference",
    "supply.view_replenishment",
]


def schedules_ensure() -> None:
    """Create (or fix) the replenishment check's schedule. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=REPLENISH_SCHEDULE,
        defaults={"func": "supply.replenish.replenishments_check_task", "schedule_type": Schedule.MINUTES, "minutes": 5, "repeats": -1},
    )


def _after_migrate(sender, **kwargs):
    schedules_ensure()


def ops_ready(app_config) -> None:
    from voucherhub.core import roles
    from voucherhub.core.audit import audit_actions_register

    audit_actions_register(AUDIT_ACTIONS)
    roles.grant(roles.OPS, OPS_PERMISSIONS)
    roles.grant(roles.FINANCE, FINANCE_PERMISSIONS)
    post_migrate.connect(_after_migrate, sender=app_config, dispatch_uid="supply.ops_after_migrate")
