"""Formats of the campaign pages: a rate as a percentage."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.1234 as "12.34%"; "—" for None (a rate over nothing)."""
    if value is None or value == "":
        return "—"
    return f"{(Decimal(value) * 100).quantize(Decimal('0.01'))}%"
