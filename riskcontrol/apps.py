from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _name_lockout_and_two_factor_admin() -> None:
    """Ops unlocks people in the admin sections of django-axes and django-otp, which ship no Chinese (and
    otp's app and device names are not even marked for translation): name them in our catalog. Only the
    names the admin shows change; migrations read a model's declared Meta, which stays as it is."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.apps import apps
    from django_otp.plugins.otp_totp.models import TOTPDevice

    apps.get_app_config("axes").verbose_name = _("Login lockout")
    apps.get_app_config("otp_totp").verbose_name = _("Two-factor authentication")
    for model, singular, plural in (
        (AccessAttempt, _("access attempt"), _("access attempts")),
        (AccessFailureLog, _("access failure"), _("access failures")),
        (AccessLog, _("access log"), _("access logs")),
        (TOTPDevice, _("authenticator app"), _("authenticator apps")),
    ):
        model._meta.verbose_name, model._meta.verbose_name_plural = singular, plural


def _after_migrate(sender, **kwargs):
    from riskcontrol.models import RiskSettings
    from riskcontrol.tasks import schedules_ensure

    RiskSettings.objects.get_or_create(pk=1)
    schedules_ensure()


class RiskcontrolConfig(AppConfig):
    name = "riskcontrol"
    verbose_name = _("Risk control")

    def ready(self) -> None:
        from riskcontrol import checks, eventlog  # noqa: F401 - the Redis deploy check; eventlog's request receivers
        from riskcontrol.audit_actions import AUDIT_ACTIONS
        from riskcontrol.protection import register_reveal_guard, register_second_factor
        from voucherhub.core import roles
        from voucherhub.core.audit import audit_actions_register

        audit_actions_register(AUDIT_ACTIONS)

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
                "riskcontrol.view_sourcelock",
                "riskcontrol.change_sourcelock",  # lift a brute-force lockout early
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
        _name_lockout_and_two_factor_admin()
