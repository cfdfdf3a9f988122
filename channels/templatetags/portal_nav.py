from django import template

from channels.portal_menu import portal_menu

register = template.Library()


@register.simple_tag(takes_context=True)
def portal_nav(context) -> list[dict]:
    """The portal's menu groups with the current page marked (channels.portal_menu)."""
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    return portal_menu(match.view_name if match is not None else None)
