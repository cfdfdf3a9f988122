"""Consumer order lookup: the order number AND the contact AND the lookup password, rate-limited.

Failures are counted in the cache per order number and per client address within a window; once either
reaches the limit every attempt (a right one too) is refused until the window passes, so the password
cannot be guessed by trying. A wrong answer never says which of the three secrets was wrong.

Each attempt is counted before its secrets are checked (an atomic increment that returns its own total) and
given back when it turns out not to be a failure, so guesses sent all at once are checked no more often
than the limit allows: counted after the check, every one of them would have seen the count from before
any of them failed.

The cache is the fast path, the audit log the record: every failure is audited (`order.lookup_failed`, with
the address and the normalized number). A count the cache does not have (first use in a window, or a Redis
restart or flush) starts from the failures the audit log holds for the window, so losing Redis unlocks nothing.
"""

import hashlib
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.core.cache import cache
from django.utils import timezone

from settlement import conf
from settlement.errors import LookupFailed, LookupLocked
from settlement.models import Order
from settlement.services.orders import contact_key
from voucherhub.core.audit import audit_record
from voucherhub.core.models import AuditLog

_DUMMY = make_password("voucherhub-lookup-dummy")  # compare against something when the order is unknown: same time


# The wall clock of the failure history. Tests move time by replacing this.
clock = timezone.now


def _normalized(number: str) -> str:
    return (number or "").strip().upper()


def _keys(number: str, ip: str | None) -> list[tuple[str, dict]]:
    """(cache key, the audit log filter of its failures) per count: the order number's, the address's."""
    digest = hashlib.sha256(_normalized(number).encode()).hexdigest()[:24]
    keys = [(f"settlement:lookup:n:{digest}", {"data__number": _normalized(number)[:32]})]
    if ip:
        keys.append((f"settlement:lookup:ip:{ip}", {"ip": ip}))
    return keys


def _count(key: str, history: dict, window: int) -> int:
    """Add this attempt to a key's count; the count including it. A count the cache lacks starts from the
    failures of the window in the audit log."""
    try:
        return cache.incr(key)
    except ValueError:  # not in the cache: first use in the window, or the cache lost it
        pass
    since = clock() - timedelta(seconds=window)
    total = AuditLog.objects.filter(action="order.lookup_failed", created_at__gte=since, **history).count() + 1
    if cache.add(key, total, window):
        return total
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, total, window)
        return total


def _give_back(keys) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # expired (or restarted by a right answer) meanwhile: nothing to give back
            pass


def order_lookup(*, number: str, contact: str, password: str, ip: str | None) -> Order:
    """The consumer order with all three secrets, or LookupFailed / LookupLocked (429)."""
    counted = _keys(number, ip)
    keys = [key for key, _history in counted]
    window = conf.lookup_window_seconds()
    if max([_count(key, history, window) for key, history in counted]) > conf.lookup_max_failures():
        _give_back(keys)  # refused unchecked: not a failure
        audit_record(action="order.lookup_locked", obj="order lookup", ip=ip, data={"number": _normalized(number)[:32]})
        raise LookupLocked()
    order = Order.objects.filter(number=_normalized(number), channel=Order.Channel.STOREFRONT).first()
    stored = order.lookup_password if order is not None and order.lookup_password else _DUMMY
    password_ok = check_password(password or "", stored)
    contact_ok = order is not None and bool(contact) and order.contact_key == contact_key(contact)
    if order is None or not (password_ok and contact_ok):
        audit_record(action="order.lookup_failed", obj="order lookup", ip=ip, data={"number": _normalized(number)[:32]})
        raise LookupFailed()  # the attempt stays counted
    # The order's count starts over: zero, not deleted, so the next attempt does not recount the audit log.
    cache.set(keys[0], 0, window)
    _give_back(keys[1:])  # and the address's right answer is no failure
    return order
