"""Redemption settings, each with a default that suits a laptop (override them in the environment)."""

from django.conf import settings


def reversal_window_hours() -> int:
    return int(getattr(settings, "REDEMPTION_REVERSAL_WINDOW_HOURS", 24))


def reminder_days() -> list[int]:
    days = getattr(settings, "REDEMPTION_REMINDER_DAYS", [7, 1])
    return sorted({int(d) for d in days if int(d) > 0}, reverse=True)


def qr_max_age() -> int:
    """Seconds a QR redemption token stays valid after the holder's page drew it."""
    return int(getattr(settings, "REDEMPTION_QR_MAX_AGE", 30 * 60))


def sms_backend() -> str:
    return getattr(settings, "REDEMPTION_SMS_BACKEND", "redemption.notify.ConsoleSmsBackend")


def sms_url() -> str:
    """Where redemption.notify.HttpSmsBackend posts each SMS."""
    return str(getattr(settings, "REDEMPTION_SMS_URL", ""))


def sms_token() -> str:
    return str(getattr(settings, "REDEMPTION_SMS_TOKEN", ""))


def sms_timeout() -> float:
    return float(getattr(settings, "REDEMPTION_SMS_TIMEOUT", 10))


def site_url() -> str:
    return str(getattr(settings, "SITE_URL", "http://127.0.0.1:8000")).rstrip("/")


def reveal_limit() -> tuple[int, int]:
    """(reveals, seconds): how often one link may reveal codes."""
    return int(getattr(settings, "REDEMPTION_REVEAL_LIMIT", 20)), int(getattr(settings, "REDEMPTION_REVEAL_WINDOW", 600))


def idempotency_days() -> int:
    return int(getattr(settings, "REDEMPTION_IDEMPOTENCY_DAYS", 7))


def terminal_cache_seconds() -> float:
    """How long a process keeps a terminal's credentials (revocation elsewhere applies within this time)."""
    return float(getattr(settings, "REDEMPTION_TERMINAL_CACHE_SECONDS", 10))
