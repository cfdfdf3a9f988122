"""Where a page may send the browser back to: the one check every `next` (or other redirect target taken
from request data) goes through, so a link such as `?next=//evil.example/phish` cannot turn one of our
pages into a redirector to another site.

    from voucherhub.core.redirects import safe_next
    return redirect(safe_next(request, request.POST.get("next"), default=reverse("app:list")))
"""

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, target: str | None, *, default: str) -> str:
    """`target` when it stays on this site, else `default`.

    On this site means what Django's own login and language views accept (url_has_allowed_host_and_scheme):
    a path, or an absolute URL of the request's own host, and only https when the request came over https
    (behind a TLS proxy: SECURE_PROXY_SSL_HEADER). Protocol-relative `//host`, `/\\host`, another host,
    `javascript:` and other schemes are refused, and so is a target with a control character (a newline
    would not even fit in a Location header)."""
    target = (target or "").strip()
    if not target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default
