"""The distributor portal's one navigation. Channels registers its own pages here; apps above it (settlement's
orders, wallet, commission ...) add theirs from their AppConfig.ready(), so channels imports none of them.
Every portal page renders the same menu (channels/portal/base.html), grouped, with the current page marked.
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# Groups in the order the menu shows them.
GROUPS = {
    "overview": "",  # one page, named by its link
    "sales": _("Buy and sell"),
    "money": _("Money"),
    "team": _("Team"),
    "developers": _("Developers"),
}


@dataclass(frozen=True)
class PortalLink:
    url_name: str
    label: object  # a lazy translation
    group: str
    order: int
    also: tuple[str, ...] = ()  # URL names of the pages under this one (an order's detail under Orders)


_links: dict[str, PortalLink] = {}


def portal_link_add(*, url_name: str, label, group: str, order: int, also: tuple[str, ...] = ()) -> None:
    """Register a portal page (by namespaced URL name) in `group` at position `order`; registering the same
    URL name again replaces it."""
    if group not in GROUPS:
        raise ValueError(f"unknown portal menu group {group!r}")
    _links[url_name] = PortalLink(url_name=url_name, label=label, group=group, order=order, also=also)


def portal_menu(current: str | None) -> list[dict]:
    """[{"label", "links": [{"url", "label", "name", "active"}]}] for every group that has pages; `current` is
    the namespaced URL name of the page shown (request.resolver_match.view_name)."""
    menu = []
    for key, group_label in GROUPS.items():
        links = []
        for link in sorted((lk for lk in _links.values() if lk.group == key), key=lambda lk: lk.order):
            try:
                url = reverse(link.url_name)
            except NoReverseMatch:  # an app whose URLs are not mounted (a trimmed deployment)
                continue
            active = current == link.url_name or current in link.also
            links.append({"url": url, "label": str(link.label), "name": link.url_name.split(":")[-1], "active": active})
        if links:
            menu.append({"key": key, "label": str(group_label) if group_label else "", "links": links})
    return menu


def register_channels_pages() -> None:
    portal_link_add(url_name="channels:portal-home", label=_("Overview"), group="overview", order=10)
    portal_link_add(url_name="channels:portal-prices", label=_("Price list"), group="sales", order=30)
    portal_link_add(url_name="channels:portal-quotas", label=_("Quotas"), group="sales", order=40, also=("channels:portal-quota-detail",))
    portal_link_add(url_name="channels:portal-storefront", label=_("Storefront"), group="sales", order=50)
    portal_link_add(
        url_name="channels:portal-downline", label=_("My team"), group="team", order=10, also=("channels:portal-downline-detail",)
    )
    portal_link_add(url_name="channels:portal-invitations", label=_("Invitations"), group="team", order=20)
    portal_link_add(url_name="channels:portal-api-keys", label=_("API keys"), group="developers", order=10)
