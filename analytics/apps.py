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
        post_migrate.connect(_schedules, sender=self, dispatch_uid="analytics.schedules")  # the rollup job (analytics/tasks.py)

        _admin_links_add()
        _partner_links_add()


def _admin_links_add() -> None:
    """The dashboards of ops and finance in the admin sidebar's Analytics section, each for the roles it serves."""
    from voucherhub.core import admin_nav, roles

    def ops(user) -> bool:
        return roles.has_role(user, roles.OPS)

    def finance(user) -> bool:
        return roles.has_role(user, roles.FINANCE)

    links = [
        ("monitoring", _("Operations analytics"), "dashboards:ops-analytics", ops),
        ("payments", _("Finance analytics"), "dashboards:finance-analytics", finance),
        ("campaign", _("Campaign analytics"), "dashboards:campaign-analytics", lambda user: ops(user) or finance(user)),
    ]
    for icon, title, url_name, allowed in links:
        admin_nav.page_link_add(section=_("Analytics"), icon=icon, title=title, url_name=url_name, allowed=allowed)


def _partner_links_add() -> None:
    """The distributor's and the merchant's dashboards in the portal menu and the console menu (registries of
    channels and redemption: they never import analytics)."""
    from channels.portal_menu import portal_link_add
    from redemption.console_menu import console_link_add

    portal_link_add(url_name="dashboards:portal-analytics", label=_("Sales analytics"), group="overview", order=20)
    console_link_add(url_name="dashboards:merchant-analytics", label=_("Analytics"))
