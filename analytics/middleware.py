"""Counts storefront page views per daily visitor (analytics/visits.py): no cookie, no stored address."""

import logging

from django.db import DatabaseError

from analytics.visits import visit_record
from channels.models import Storefront
from voucherhub.core.net import client_ip

logger = logging.getLogger(__name__)

# The consumer-facing pages of a storefront, by URL name (their URL has the storefront's slug).
STOREFRONT_PAGES = frozenset(
    {
        "channels:shop",
        "channels:shop-product",
        "settlement:checkout",
        "marketing:shop-deals",
        "marketing:flash-list",
    }
)


def storefront_page_slug(request, response) -> str | None:
    """The slug of the storefront whose page this is, if the answer is a page view worth counting."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return None
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name not in STOREFRONT_PAGES:
        return None
    return match.kwargs.get("slug")


class StorefrontVisitMiddleware:
    """After a storefront page is answered 200 to a GET or HEAD: one page view of its daily visitor."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        slug = storefront_page_slug(request, response)
        if slug:
            try:
                storefront_id = Storefront.objects.filter(slug=slug).values_list("pk", flat=True).first()
                if storefront_id is not None:
                    visit_record(
                        storefront_id=storefront_id, address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
                    )
            except DatabaseError:  # a visit not counted must not cost the buyer the page
                logger.exception("storefront visit of %s not counted", slug)
        return response
