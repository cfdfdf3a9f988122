"""The reader's time zone: voucherhub.js stores the browser's IANA zone name in the `vh_tz` cookie, and a page
that shows moments to a person renders them in it (`with timezone.override(reader_timezone(request))`).
Anything that is not a known zone name is ignored: the site's TIME_ZONE stays."""

from functools import cache
from zoneinfo import ZoneInfo, available_timezones

COOKIE = "vh_tz"


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def reader_timezone(request) -> ZoneInfo | None:
    name = request.COOKIES.get(COOKIE, "")
    if not name or len(name) > 64 or name not in _zones():
        return None
    return ZoneInfo(name)
