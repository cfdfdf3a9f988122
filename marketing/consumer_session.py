"""The signed-in consumer of a request, kept in the session under "vh_consumer" (the consumer's pk).

Sessions live in the database (or Redis), never in a node's memory, so any web node reads the same sign-in.
Signing in cycles the session key (no fixation); signing out flushes the whole session (on a shared phone
the next person finds nothing: no consumer, no receipts this browser had opened).
"""

from functools import wraps
from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from marketing.models import Consumer

SESSION_KEY = "vh_consumer"
_CACHED = "_vh_consumer"


def consumer_of(request) -> Consumer | None:
    """The consumer signed in on this request's session, or None (also when the row is gone)."""
    if hasattr(request, _CACHED):
        return getattr(request, _CACHED)
    consumer = None
    pk = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if pk is not None:
        consumer = Consumer.objects.filter(pk=pk).first()
        if consumer is None:
            request.session.pop(SESSION_KEY, None)
    setattr(request, _CACHED, consumer)
    return consumer


def consumer_sign_in(request, consumer: Consumer) -> None:
    """Sign `consumer` in on this session, under a new session key."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = consumer.pk
    setattr(request, _CACHED, consumer)


def consumer_sign_out(request) -> None:
    """Forget the consumer and everything else this session held (a new, empty session)."""
    request.session.flush()
    setattr(request, _CACHED, None)


def next_safe(request, target: str | None, default: str) -> str:
    """`target` when it is a path or URL on this site (same host, https when the request is), else `default`."""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def login_url(next_path: str) -> str:
    return reverse("marketing:consumer-login") + "?" + urlencode({"next": next_path})


def consumer_required(view):
    """A view only for a signed-in consumer: anyone else is sent to /me/login/?next=<this page>. The view
    finds the consumer as `request.consumer`."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        consumer = consumer_of(request)
        if consumer is None:
            return redirect(login_url(request.get_full_path()))
        request.consumer = consumer
        return view(request, *args, **kwargs)

    return wrapped
