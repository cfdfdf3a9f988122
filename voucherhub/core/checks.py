"""`manage.py check --deploy`: no mail printed to the server's log in production unless allowed."""

from django.conf import settings
from django.core.checks import Error, Tags, register

MASKING_CONSOLE_EMAIL = "voucherhub.core.mail.ConsoleEmailBackend"
# Backends that write each message, links and all, to the server's output or disk.
PRINTING_EMAIL_BACKENDS = {
    MASKING_CONSOLE_EMAIL,
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


def printing_backend_errors(*, setting: str, backend: str, printing: set[str], masking: str, check_id: str) -> list[Error]:
    """The errors for a message backend named in `setting` that prints messages, in production: refused
    without CONSOLE_MESSAGES_ALLOWED=true, and with it refused unless it is the masking one. Shared with
    redemption's SMS check."""
    if not getattr(settings, "PRODUCTION", False) or backend not in printing:
        return []
    if not getattr(settings, "CONSOLE_MESSAGES_ALLOWED", False):
        return [
            Error(
                f"{setting} is {backend} in production: it prints every message, with holders' private links, to the log.",
                hint=f"Configure a real {setting}, or set CONSOLE_MESSAGES_ALLOWED=true to allow {masking} (links and codes masked).",
                id=f"{check_id}1",
            )
        ]
    if backend != masking:
        return [
            Error(
                f"{setting} is {backend}: even with CONSOLE_MESSAGES_ALLOWED it prints messages unmasked.",
                hint=f"Use {masking}, which masks every link and code in production.",
                id=f"{check_id}2",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def console_email_check(app_configs=None, **kwargs) -> list[Error]:
    return printing_backend_errors(
        setting="EMAIL_BACKEND",
        backend=settings.EMAIL_BACKEND,
        printing=PRINTING_EMAIL_BACKENDS,
        masking=MASKING_CONSOLE_EMAIL,
        check_id="core.E00",
    )
