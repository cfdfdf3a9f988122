from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _schedule_jobs(sender, **kwargs):
    from redemption.tasks import schedules_ensure

    schedules_ensure()


class RedemptionConfig(AppConfig):
    name = "redemption"
    verbose_name = _("Redemption")

    def ready(self) -> None:
        from redemption import checks  # noqa: F401 (registers the deploy checks)
        from redemption.audit_actions import AUDIT_ACTIONS
        from voucherhub.core import roles
        from voucherhub.core.audit import audit_actions_register

        audit_actions_register(AUDIT_ACTIONS)

        roles.grant(
            roles.MERCHANT,
            [
                "redemption.view_redemption",
                "redemption.add_redemption",
                "redemption.reverse_redemption",
                "redemption.export_redemption",
                "redemption.view_store",
                "redemption.view_terminal",
            ],
        )
        roles.grant(
            roles.OPS,
            [
                f"redemption.{action}_{model}"
                for model in ("merchant", "store", "terminal", "merchantclerk", "merchantskuprice")
                for action in ("view", "add", "change")
            ]
            + [
                "redemption.view_redemption",
                "redemption.view_redemptionattempt",
                "redemption.view_holderlink",
                "redemption.view_codeholding",
                "redemption.view_remindersent",
            ],
        )
        roles.grant(roles.FINANCE, ["redemption.view_redemption", "redemption.view_merchantskuprice", "redemption.export_redemption"])
        roles.set_home(roles.MERCHANT, "redemption:console")
        post_migrate.connect(_schedule_jobs, sender=self, dispatch_uid="redemption.schedule_jobs")
