"""A consumer's contact at checkout: a mainland China mobile number or an e-mail address, nothing else.

The codes' private link goes there (an e-mail, or an SMS through redemption's SMS adapter), and with the
order number and the lookup password it opens the order again, so it is checked and written one way.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from settlement.errors import SettlementError

# 11 digits from 13x to 19x, optionally written with +86 / 86 in front and spaces or dashes between.
MAINLAND_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
CONTACT_HELP = _("A mainland China mobile number (11 digits, e.g. 138 0013 8000) or an e-mail address.")
CONTACT_INVALID = _("Enter a mainland China mobile number (11 digits starting with 1) or an e-mail address.")


@dataclass(frozen=True)
class Contact:
    kind: str  # "phone" or "email"
    value: str  # as stored on the order: 11 digits, or the address with its domain in lower case

    @property
    def masked(self) -> str:
        """What a page may show of it: 138****8000, b***@example.com."""
        if self.kind == "phone":
            return f"{self.value[:3]}****{self.value[-4:]}"
        local, _at, domain = self.value.partition("@")
        return f"{local[:1]}***@{domain}"


def contact_parse(raw: str) -> Contact:
    """The contact as stored, or SettlementError naming the field `contact`."""
    text = (raw or "").strip()
    digits = re.sub(r"[\s\-()]", "", text)
    mobile = MAINLAND_MOBILE.fullmatch(digits)
    if mobile:
        return Contact(kind="phone", value=mobile.group(1))
    if "@" in text and len(text) <= 200:
        try:
            validate_email(text)
        except ValidationError:
            pass
        else:
            local, _at, domain = text.rpartition("@")
            return Contact(kind="email", value=f"{local}@{domain.lower()}")
    raise SettlementError(CONTACT_INVALID, field="contact")


def contact_of(stored: str) -> Contact | None:
    """The parsed contact of an order (None for an order written before contacts were checked)."""
    try:
        return contact_parse(stored)
    except SettlementError:
        return None
