"""`manage.py check --deploy`: no SMS printed to the server's log in production unless allowed."""

from django.core.checks import Error, Tags, register

from redemption import conf
from voucherhub.core.checks import printing_backend_errors

CONSOLE_SMS = "redemption.notify.ConsoleSmsBackend"
HTTP_SMS = "redemption.notify.HttpSmsBackend"


@register(Tags.security, deploy=True)
def console_sms_check(app_configs=None, **kwargs) -> list[Error]:
    errors = printing_backend_errors(
        setting="REDEMPTION_SMS_BACKEND", backend=conf.sms_backend(), printing={CONSOLE_SMS}, masking=CONSOLE_SMS, check_id="redemption.E00"
    )
    if conf.sms_backend() == HTTP_SMS and not conf.sms_url().startswith("https://"):
        errors.append(
            Error(
                "REDEMPTION_SMS_URL must be an https:// address when REDEMPTION_SMS_BACKEND is HttpSmsBackend.",
                hint="Set REDEMPTION_SMS_URL to your SMS gateway's https address.",
                id="redemption.E003",
            )
        )
    return errors
