"""A browser's device id for the device rules: a random id in a signed first-party cookie.

The storefront sets it on the checkout page (`device_remember`) and reads it when the order is placed
(`device_of`). A script that drops the cookie has no device and only meets the other dimensions' rules
(IP, phone, e-mail); a person who buys again from the same browser keeps one id for a year, so "同一设备"
limits count what they should. The id is random, says nothing about the device and is signed, so a
client cannot choose another browser's id.
"""

import secrets

from django.conf import settings

COOKIE = "vh_device"
SALT = "riskcontrol.device"
MAX_AGE = 365 * 86400


def device_of(request) -> str:
    """This browser's device id, or "" when it has none (or a tampered one)."""
    return request.get_signed_cookie(COOKIE, default="", salt=SALT, max_age=MAX_AGE)


def device_remember(request, response) -> None:
    """Give the browser a device id if it has none yet (a cookie on `response`)."""
    if device_of(request):
        return
    response.set_signed_cookie(
        COOKIE,
        secrets.token_urlsafe(16),
        salt=SALT,
        max_age=MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
