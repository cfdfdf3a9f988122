from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

UPGRADE_SCHEDULE_NAME = "channels.levels_upgrade"


def _ensure_schedules(sender, **kwargs):
    """The daily level-upgrade job, created once (idempotent across migrates)."""
    from django.utils import timezone
    from django_q.models import Schedule

    Schedule.objects.get_or_create(
        name=UPGRADE_SCHEDULE_NAME,
        defaults={
            "func": "channels.tasks.levels_upgrade_run",
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
            "next_run": timezone.now().replace(hour=19, minute=30, second=0, microsecond=0),  # 03:30 Asia/Shanghai
        },
    )


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = _("Channels")

    def ready(self) -> None:
        from channels import commission  # noqa: F401 - registers the system check
        from channels.audit_actions import AUDIT_ACTIONS
        from channels.portal_menu import register_channels_pages
        from voucherhub.core import roles
        from voucherhub.core.audit import audit_actions_register

        audit_actions_register(AUDIT_ACTIONS)
        register_channels_pages()

        models = [
            "distributor",
            "distributorlevel",
            "distributorstaff",
            "invitation",
            "priceentry",
            "productpool",
            "commissionrule",
            "storefront",
            "storefrontitem",
        ]
        ops_perms = [f"channels.{verb}_{model}" for model in models for verb in ("view", "add", "change", "delete")]
        read_only = ["levelchange", "quota", "quotamovement", "codesale", "apikey", "priceviolation"]
        ops_perms += [f"channels.view_{model}" for model in read_only]
        ops_perms += ["channels.change_quota", "channels.change_apikey", "channels.move_distributor", "channels.trace_codesale"]
        roles.grant(roles.OPS, ops_perms)
        roles.grant(
            roles.FINANCE,
            [
                f"channels.view_{m}"
                for m in (
                    "distributor",
                    "distributorlevel",
                    "priceentry",
                    "commissionrule",
                    "quota",
                    "quotamovement",
                    "codesale",
                    "priceviolation",
                )
            ],
        )
        roles.set_home(roles.DISTRIBUTOR, "channels:portal-home")
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="channels.ensure_schedules")
