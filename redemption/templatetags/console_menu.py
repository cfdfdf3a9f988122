from django import template

from redemption.console_menu import console_links

register = template.Library()


@register.simple_tag(takes_context=True)
def console_extra_links(context) -> list[tuple[str, str, str]]:
    """The merchant console's menu entries that other apps registered (redemption.console_menu)."""
    request = context.get("request")
    return console_links(request.user) if request is not None else []
