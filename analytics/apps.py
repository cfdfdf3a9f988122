from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _schedules(sender, **kwargs):
    from analytics.tasks import schedules_ensure

    schedules_ensure()


class AnalyticsConfig(AppConfig):
    """Role home pages and reports, the top of the import order (docs/architecture.md)."""

    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from voucherhub.core import roles

        roles.set_home(roles.OPS, "dashboards:ops-home")
        roles.set_home(roles.FINANCE, "dashboards:finance-home")

        from voucherhub.core import admin_nav

        admin_nav.page_link_add(
            section=_("Analytics"),
            icon="monitoring",
            title=_("Operations analytics"),
            url_name="dashboards:ops-analytics",
            allowed=lambda user: roles.has_role(user, roles.OPS),
        )
        post_migrate.connect(_schedules, sender=self, dispatch_uid="analytics.schedules")  # the rollup job (analytics/tasks.py)
