from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _after_migrate(sender, **kwargs):
    from riskcontrol.models import RiskSettings
    from riskcontrol.tasks import schedules_ensure

    RiskSettings.objects.get_or_create(pk=1)
    schedules_ensure()


class RiskcontrolConfig(AppConfig):
    name = "riskcontrol"
    verbose_name = _("Risk control")

    def ready(self) -> None:
        from riskcontrol.protection import register_reveal_guard, register_second_factor
        from voucherhub.core import roles

        models = ["riskrule", "risklist", "risklistentry"]
        roles.grant(roles.OPS, [f"riskcontrol.{verb}_{model}" for model in models for verb in ("view", "add", "change", "delete")])
        roles.grant(
            roles.OPS,
            [
                "riskcontrol.view_risksettings",
                "riskcontrol.change_risksettings",
                "riskcontrol.view_riskevent",
                "riskcontrol.review_riskevent",
                "riskcontrol.view_riskalert",
                "riskcontrol.change_riskalert",
                "riskcontrol.view_verificationfailure",
                # Unlock people: login lockouts (axes) and lost authenticator apps (otp).
                "axes.view_accessattempt",
                "axes.delete_accessattempt",
                "axes.view_accessfailurelog",
                "otp_totp.view_totpdevice",
                "otp_totp.delete_totpdevice",
            ],
        )
        roles.grant(roles.FINANCE, ["riskcontrol.view_riskevent", "riskcontrol.view_riskalert"])
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="riskcontrol.after_migrate")
        register_reveal_guard()
        register_second_factor()
