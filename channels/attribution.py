"""Where a storefront's buyers come from: the campaign and the referrer an order records.

A consumer rarely buys on the page a link brought them to: a WeChat group post or a poster's QR code
opens the shop (or a product) with `?utm_campaign=…` and perhaps `?ref=…` (a promoter's or group
leader's own tag), then the buyer looks around and checks out a few pages later. So the storefront pages
remember the source of the latest landing that had one, in the visitor's session, per storefront, and
checkout reads it from there (`source_for`).

* campaign: `utm_campaign` of the landing URL (at most 64 characters, Order.campaign).
* referrer: the `ref` tag when the link has one, else the page the visitor came from when it is another
  site (at most 200 characters, Order.referrer); moving between the shop's own pages is no referrer.

Nothing is stored for a visit without a source, so a plain visitor gets no session.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.utils import timezone

_SESSION_KEY = "vh_shop_source"
CAMPAIGN_MAX = 64
REFERRER_MAX = 200


@dataclass(frozen=True)
class Source:
    campaign: str = ""
    referrer: str = ""


def _clean(value: str, limit: int) -> str:
    return "".join(ch for ch in value if ch.isprintable()).strip()[:limit]


def source_of_request(request) -> Source:
    """The source this request itself carries (the query string and an outside Referer)."""
    campaign = _clean(request.GET.get("utm_campaign", ""), CAMPAIGN_MAX)
    referrer = _clean(request.GET.get("ref", ""), REFERRER_MAX)
    if not referrer:
        came_from = request.headers.get("Referer", "")
        host = urlsplit(came_from).hostname or ""
        if host and host != request.get_host().split(":", 1)[0]:
            referrer = _clean(came_from, REFERRER_MAX)
    return Source(campaign=campaign, referrer=referrer)


def source_remember(request, storefront) -> None:
    """Keep the source of this landing on `storefront`, if it has one (the latest such landing wins)."""
    source = source_of_request(request)
    if not (source.campaign or source.referrer):
        return
    sources = dict(request.session.get(_SESSION_KEY, {}))
    sources[storefront.slug] = {"campaign": source.campaign, "referrer": source.referrer, "at": timezone.now().isoformat()}
    request.session[_SESSION_KEY] = sources


def source_for(request, storefront) -> Source:
    """The source an order placed now on `storefront` records: the checkout URL's own, else the remembered one."""
    own = source_of_request(request)
    if own.campaign or own.referrer:
        return own
    remembered = request.session.get(_SESSION_KEY, {}).get(storefront.slug) if hasattr(request, "session") else None
    if not remembered:
        return Source()
    return Source(campaign=remembered.get("campaign", ""), referrer=remembered.get("referrer", ""))
