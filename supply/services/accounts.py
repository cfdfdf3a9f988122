"""Checking the account a top-up goes to, against its SKU's top-up profile."""

import re

from django.utils.translation import gettext_lazy as _

from catalog.models import Sku
from supply.errors import InvalidAccount, SupplyError
from supply.models import TopupProfile

PHONE = re.compile(r"^1[3-9]\d{9}$")
QQ = re.compile(r"^[1-9]\d{4,11}$")
GAME_ACCOUNT_MAX = 64


def _profile_of(sku: Sku) -> TopupProfile:
    if sku.fulfilment != Sku.Fulfilment.TOPUP:
        raise SupplyError(_("This product is not a direct top-up."), field="sku")
    try:
        return sku.topup_profile
    except TopupProfile.DoesNotExist:
        raise SupplyError(_("This top-up product is not set up yet."), field="sku") from None


def _phone(text: str) -> str:
    digits = re.sub(r"[\s\-]", "", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not PHONE.match(digits):
        raise InvalidAccount(_("Enter an 11-digit mainland mobile number."), field="account")
    return digits


def _qq(text: str) -> str:
    number = text.strip()
    if not QQ.match(number):
        raise InvalidAccount(_("Enter a QQ number (5 to 12 digits)."), field="account")
    return number


def _game(text: str, region: str, regions: list) -> tuple[str, str]:
    account = text.strip()
    if not account or len(account) > GAME_ACCOUNT_MAX or any(ch.isspace() for ch in account):
        raise InvalidAccount(_("Enter the game account (no spaces, at most 64 characters)."), field="account")
    region = region.strip()
    if regions and region not in regions:
        raise InvalidAccount(_("Choose one of the product's regions."), field="region")
    return account, region


def topup_account_check(*, sku: Sku, account: str, region: str = "") -> tuple[str, str]:
    """The account and region normalised for `sku`'s profile, or InvalidAccount naming the field."""
    profile = _profile_of(sku)
    account = account or ""
    if profile.account_kind == TopupProfile.AccountKind.PHONE:
        return _phone(account), ""
    if profile.account_kind == TopupProfile.AccountKind.QQ:
        return _qq(account), ""
    return _game(account, region or "", list(profile.regions or []))
