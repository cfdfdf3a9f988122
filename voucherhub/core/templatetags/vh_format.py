"""One money format and one date format per language, for every page.

    {% load vh_format %}
    {{ order.total|money }}             ¥1,234.50 (the same digits in Chinese and English)
    {{ order.created_at|when }}         2027-03-07 09:39 (zh-hans) / 7 Mar 2027, 09:39 (en), in the reader's time zone
    {{ statement.day|day }}             2027-03-07 / 7 Mar 2027
    {% include "core/_empty.html" with message=... action_url=... action_label=... %}

Money never goes through float: the value is a Decimal (or int/str) rounded once by core.money."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.translation import get_language

from voucherhub.core.money import money as to_money

register = template.Library()

SYMBOLS = {"CNY": "¥", "USD": "US$", "HKD": "HK$"}

# One format per language; a language not listed reads the English one.
DATETIME_FORMATS = {"zh-hans": "Y-m-d H:i", "en": "j M Y, H:i"}
DATE_FORMATS = {"zh-hans": "Y-m-d", "en": "j M Y"}


def money_text(value, currency: str = "CNY") -> str:
    """`value` as ¥1,234.50 (a minus sign before the symbol); '' for None or something that is no amount."""
    if value is None or value == "":
        return ""
    try:
        amount = to_money(value if isinstance(value, (Decimal, int)) else str(value))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency + ' ')}{abs(amount):,.2f}"


def _language_key() -> str:
    language = (get_language() or "en").lower()
    return "zh-hans" if language.startswith("zh") else "en"


def when_text(value) -> str:
    """A moment in the current (the reader's) time zone, in the current language's one format. An ISO string
    (what an API answer or a stored JSON holds) is read first; anything else that is no moment reads ''."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return ""
    if not isinstance(value, datetime):
        return day_text(value)
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, DATETIME_FORMATS[_language_key()])


def day_text(value) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if not isinstance(value, date):
        return ""
    return date_format(value, DATE_FORMATS[_language_key()])


@register.filter
def money(value, currency: str = "CNY") -> str:
    return money_text(value, currency or "CNY")


@register.filter
def when(value) -> str:
    return when_text(value)


@register.filter
def day(value) -> str:
    return day_text(value)
