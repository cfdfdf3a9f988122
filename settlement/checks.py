"""`manage.py check --deploy`: the sandbox payment adapter must not be on in production."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def payment_sandbox_check(app_configs=None, **kwargs) -> list[Error]:
    if getattr(settings, "PRODUCTION", False) and getattr(settings, "PAYMENT_SANDBOX", False):
        return [
            Error(
                "PAYMENT_SANDBOX is on in production: the sandbox payment adapter credits wallets and delivers "
                "orders without any money received.",
                hint="Set PAYMENT_SANDBOX=false (production's default). Use the sandbox only with DJANGO_ENV=development.",
                id="settlement.E001",
            )
        ]
    return []
