from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardsConfig(AppConfig):
    name = "voucherhub.dashboards"
    label = "dashboards"
    verbose_name = _("Dashboards")

    def ready(self) -> None:
        from voucherhub.core import roles

        roles.set_home(roles.OPS, "dashboards:ops-home")
        roles.set_home(roles.FINANCE, "dashboards:finance-home")
