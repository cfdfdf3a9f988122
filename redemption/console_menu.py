"""Pages of higher apps that belong in the merchant console's menu. Redemption imports none of them: an app
above it (settlement's merchant statements, say) adds its page here from its AppConfig.ready(), and the
console layout lists the pages the signed-in user may open."""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class ConsoleLink:
    url_name: str
    label: object  # a lazy translation
    visible: Callable[[object], bool] | None = None  # user -> may this user open the page


_links: dict[str, ConsoleLink] = {}


def console_link_add(*, url_name: str, label, visible: Callable[[object], bool] | None = None) -> None:
    """Register a page (by URL name) for the console's menu; registering the same URL name again replaces it."""
    _links[url_name] = ConsoleLink(url_name=url_name, label=label, visible=visible)


def console_links(user) -> list[tuple[str, str, str]]:
    """(url, label, url name) of the registered pages `user` may open."""
    return [
        (reverse(link.url_name), str(link.label), link.url_name) for link in _links.values() if link.visible is None or link.visible(user)
    ]
