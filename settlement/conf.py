"""Settlement's settings, each with a default that suits a demo; override in voucherhub/settings/apps.py or the environment."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings


def _get(name, default):
    return getattr(settings, name, default)


def order_ttl() -> timedelta:
    """How long an unpaid order keeps its codes."""
    return timedelta(minutes=int(_get("SETTLEMENT_ORDER_TTL_MINUTES", 15)))


def release_after() -> timedelta:
    """Frozen commission becomes available after this long (or when the code is redeemed)."""
    return timedelta(days=int(_get("SETTLEMENT_COMMISSION_RELEASE_DAYS", 7)))


def max_order_quantity() -> int:
    return int(_get("SETTLEMENT_MAX_ORDER_QUANTITY", 1000))


def withdrawal_minimum() -> Decimal:
    return Decimal(str(_get("SETTLEMENT_WITHDRAWAL_MINIMUM", "100.00")))


def withdrawal_fee_rate() -> Decimal:
    """Fee as a fraction of the amount (0.006 = 0.6 %)."""
    return Decimal(str(_get("SETTLEMENT_WITHDRAWAL_FEE_RATE", "0.006")))


def withdrawal_fee_minimum() -> Decimal:
    return Decimal(str(_get("SETTLEMENT_WITHDRAWAL_FEE_MINIMUM", "2.00")))


def lookup_max_failures() -> int:
    """Failed order lookups allowed per order number and per IP within the window."""
    return int(_get("SETTLEMENT_LOOKUP_MAX_FAILURES", 5))


def lookup_window_seconds() -> int:
    return int(_get("SETTLEMENT_LOOKUP_WINDOW_SECONDS", 15 * 60))


def webhook_max_attempts() -> int:
    return int(_get("SETTLEMENT_WEBHOOK_MAX_ATTEMPTS", 8))


def export_dir():
    from pathlib import Path

    path = Path(_get("SETTLEMENT_EXPORT_DIR", settings.MEDIA_ROOT / "exports"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def payment_sandbox() -> bool:
    """The sandbox payment adapter is on (PAYMENT_SANDBOX; development's default, never production's)."""
    return bool(_get("PAYMENT_SANDBOX", False))


def sandbox_secret() -> str:
    """The sandbox payment provider's callback signing secret (derived from SECRET_KEY unless set)."""
    import hashlib

    configured = _get("SETTLEMENT_SANDBOX_SECRET", "")
    return configured or hashlib.sha256(("sandbox-pay:" + settings.SECRET_KEY).encode()).hexdigest()
