from django.apps import AppConfig
from django.apps import apps as django_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender, **kwargs):
    # post_migrate comes once per app with models, in INSTALLED_APPS order, after that app's permissions are
    # made: the groups are synced once, after the last app's (a flush in a test also sends it for every app).
    last = [config for config in django_apps.get_app_configs() if config.models_module is not None][-1]
    if sender is not last:
        return
    from voucherhub.core.roles import roles_sync

    roles_sync()


def _ensure_schedules(sender, **kwargs):
    from voucherhub.core.audit import audit_seal_schedule_ensure
    from voucherhub.core.jobs import jobs_sweep_schedule_ensure
    from voucherhub.core.tasks import schedules_ensure

    audit_seal_schedule_ensure()
    jobs_sweep_schedule_ensure()
    schedules_ensure()


class CoreConfig(AppConfig):
    name = "voucherhub.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from voucherhub.core import checks, jobs, roles  # noqa: F401 - checks and jobs register their system checks
        from voucherhub.core.audit import AUDIT_ACTIONS, audit_actions_register, install_admin_audit

        roles.grant(roles.OPS, ["core.view_auditlog", "core.view_auditlog_all"])
        roles.grant(roles.FINANCE, ["core.view_auditlog"])
        post_migrate.connect(_sync_roles, dispatch_uid="voucherhub.core.sync_roles")
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="voucherhub.core.schedules")
        install_admin_audit()
        audit_actions_register(AUDIT_ACTIONS)
