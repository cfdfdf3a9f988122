"""Money is Decimal with two places, rounded once, half up. Never float."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models

CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
ZERO = Decimal("0.00")


def money(value) -> Decimal:
    """Round an amount to cents, half up. Refuses float so binary fractions never sneak in."""
    if isinstance(value, float):
        raise TypeError("money() takes Decimal, int or str, never float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def rate(value) -> Decimal:
    if isinstance(value, float):
        raise TypeError("rate() takes Decimal, int or str, never float")
    return Decimal(value).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def MoneyField(verbose_name=None, **kwargs) -> models.DecimalField:  # noqa: N802 - reads like a field class
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    return models.DecimalField(verbose_name, **kwargs)


def RateField(verbose_name=None, **kwargs) -> models.DecimalField:  # noqa: N802
    kwargs.setdefault("max_digits", 7)
    kwargs.setdefault("decimal_places", 4)
    return models.DecimalField(verbose_name, **kwargs)


class Currency(models.TextChoices):
    CNY = "CNY", "CNY"
    USD = "USD", "USD"
    HKD = "HKD", "HKD"
