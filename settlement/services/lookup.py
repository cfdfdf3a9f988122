"""Consumer order lookup: the order number AND the contact AND the lookup password, rate-limited.

Failures are counted in the cache per order number and per client address within a window; once either
reaches the limit every attempt (a right one too) is refused until the window passes, so the password
cannot be guessed by trying. A wrong answer never says which of the three secrets was wrong.

Each attempt is counted before its secrets are checked (an atomic increment that returns its own total) and
given back when it turns out not to be a failure, so guesses sent all at once are checked no more often
than the limit allows: counted after the check, every one of them would have seen the count from before
any of them failed.
"""

import hashlib

from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache

from settlement import conf
from settlement.errors import LookupFailed, LookupLocked
from settlement.models import Order
from settlement.services.orders import contact_key
from voucherhub.core.audit import audit_record

_DUMMY = make_password("voucherhub-lookup-dummy")  # compare against something when the order is unknown: same time


def _keys(number: str, ip: str | None) -> list[str]:
    digest = hashlib.sha256((number or "").strip().upper().encode()).hexdigest()[:24]
    keys = [f"settlement:lookup:n:{digest}"]
    if ip:
        keys.append(f"settlement:lookup:ip:{ip}")
    return keys


def _count(key: str, window: int) -> int:
    """Add this attempt to a key's count; the count including it."""
    if cache.add(key, 1, window):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return 1


def _give_back(keys) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # expired (or restarted by a right answer) meanwhile: nothing to give back
            pass


def order_lookup(*, number: str, contact: str, password: str, ip: str | None) -> Order:
    """The consumer order with all three secrets, or LookupFailed / LookupLocked (429)."""
    keys = _keys(number, ip)
    window = conf.lookup_window_seconds()
    if max([_count(key, window) for key in keys]) > conf.lookup_max_failures():
        _give_back(keys)  # refused unchecked: not a failure
        audit_record(action="order.lookup_locked", obj="order lookup", ip=ip, data={"number": (number or "")[:32]})
        raise LookupLocked()
    order = Order.objects.filter(number=(number or "").strip().upper(), channel=Order.Channel.STOREFRONT).first()
    stored = order.lookup_password if order is not None and order.lookup_password else _DUMMY
    password_ok = check_password(password or "", stored)
    contact_ok = order is not None and bool(contact) and order.contact_key == contact_key(contact)
    if order is None or not (password_ok and contact_ok):
        audit_record(action="order.lookup_failed", obj="order lookup", ip=ip, data={"number": (number or "")[:32]})
        raise LookupFailed()  # the attempt stays counted
    cache.delete(keys[0])  # the order's count starts over
    _give_back(keys[1:])  # and the address's right answer is no failure
    return order
