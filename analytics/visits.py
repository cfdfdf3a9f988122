"""Storefront visits, counted without a cookie (issue 17): a visitor is an HMAC-SHA256 of the caller's address and
user agent under a salt derived from SECRET_KEY and the local date, so the same browser is one visitor for one
day and cannot be followed from one day to the next; neither the address nor the user agent is stored.

The visit middleware (analytics/middleware.py) calls `visit_record` for each storefront page answered 200 to a
GET or HEAD; obvious robots (a user agent naming a bot, crawler, spider ... or none at all) are not counted.
"""

import hashlib
import hmac
import re
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from analytics.models import StorefrontVisit

BOT = re.compile(r"bot|crawl|spider|slurp|preview|monitor|headless|curl|wget|python-|java/|go-http|httpclient|scrapy", re.I)


def visitor_is_bot(user_agent: str) -> bool:
    """An empty user agent, or one that says it is a program rather than a person's browser."""
    return not user_agent.strip() or bool(BOT.search(user_agent))


def _day_salt(day: date) -> bytes:
    """The day's salt: derived from SECRET_KEY and the local date, never stored."""
    secret = settings.SECRET_KEY.encode()
    return hmac.new(secret, f"analytics.storefront-visit:{day.isoformat()}".encode(), hashlib.sha256).digest()


def visitor_hash(*, address: str, user_agent: str, day: date) -> str:
    """The visitor of `day`: HMAC-SHA256(day's salt, address + user agent), 64 hex characters."""
    return hmac.new(_day_salt(day), f"{address}\n{user_agent}".encode(), hashlib.sha256).hexdigest()


def visit_record(*, storefront_id: int, address: str, user_agent: str, now=None) -> bool:
    """Count one page view of the storefront by this visitor today (local date): the first one of the day adds the
    visitor, later ones add to its views (one UPDATE; an INSERT for the day's first view). False for a robot."""
    if visitor_is_bot(user_agent):
        return False
    now = now or timezone.now()
    day = timezone.localdate(now)
    visitor = visitor_hash(address=address, user_agent=user_agent, day=day)
    mine = StorefrontVisit.objects.filter(day=day, storefront_id=storefront_id, visitor=visitor)
    if not mine.update(views=F("views") + 1, last_seen_at=now):
        try:
            with transaction.atomic():
                StorefrontVisit.objects.create(day=day, storefront_id=storefront_id, visitor=visitor, views=1, last_seen_at=now)
        except IntegrityError:  # the same visitor's other request inserted it first
            mine.update(views=F("views") + 1, last_seen_at=now)
    return True
