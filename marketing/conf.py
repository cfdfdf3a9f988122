"""Marketing's settings, each with a default that suits a demo (voucherhub/settings/apps.py reads them from the
environment, MARKETING_*)."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings


def distributor_max_discount_rate() -> Decimal:
    """The largest discount a distributor's own campaign may give, as a share of the list price (0.30 = 30%)."""
    return Decimal(str(getattr(settings, "MARKETING_DISTRIBUTOR_MAX_DISCOUNT_RATE", "0.30")))


def distributor_max_budget() -> Decimal:
    """The largest money budget of a distributor's own campaign (every one must have a budget)."""
    return Decimal(str(getattr(settings, "MARKETING_DISTRIBUTOR_MAX_BUDGET", "5000.00")))


def distributor_max_duration() -> timedelta:
    """The longest a distributor's own campaign may run, from its start to its end."""
    return timedelta(days=int(getattr(settings, "MARKETING_DISTRIBUTOR_MAX_DAYS", 31)))
