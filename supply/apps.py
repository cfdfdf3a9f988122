from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _after_migrate(sender, **kwargs):
    from supply.tasks import schedules_ensure

    schedules_ensure()


class SupplyConfig(AppConfig):
    name = "supply"
    label = "supply"
    verbose_name = _("Supply")

    def ready(self) -> None:
        from supply.audit_actions import AUDIT_ACTIONS
        from voucherhub.core.audit import audit_actions_register

        audit_actions_register(AUDIT_ACTIONS)
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="supply.after_migrate")
        # Ops' side (helper ops): role permissions, its audit labels, the replenishment schedule.
        from supply.ops_setup import ops_ready

        ops_ready(self)
