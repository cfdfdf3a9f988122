"""A warning to staff while the sandbox payment adapter is on in production: every "payment" through it
credits money that nobody paid (settings.PAYMENT_SANDBOX; `check --deploy` reports it as an error too)."""

from django.conf import settings
from django.utils.translation import gettext as _

from settlement.adapters import sandbox_enabled


def _sandbox_in_production() -> bool:
    return bool(getattr(settings, "PRODUCTION", False)) and sandbox_enabled()


def payment_sandbox_banner(request) -> dict:
    """`vh_sandbox_banner` for the site's pages (templates/base.html), shown to staff only."""
    user = getattr(request, "user", None)
    return {"vh_sandbox_banner": bool(user is not None and user.is_staff and _sandbox_in_production())}


def admin_environment(request) -> list[str] | None:
    """The admin header's environment label (django-unfold's UNFOLD["ENVIRONMENT"])."""
    if _sandbox_in_production():
        return [_("Sandbox payments on"), "danger"]
    return None
