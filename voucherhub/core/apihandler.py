"""The slim request stack of the signed API (/api/v1/...).

Every /api/v1/ request is signed (voucherhub/core/apisign.py): no session, no CSRF token, no login, no
messages, no htmx. The web stack's middleware for those (sessions, CSRF, auth, django-otp, the TOTP
requirement, messages, htmx, axes' login lockout page) only cost time there, and resolving the path
against every page's URL pattern first costs more. So `ApiStackMiddleware`, first in settings.MIDDLEWARE,
hands /api/v1/ requests to a second middleware chain built from settings.API_MIDDLEWARE (security
headers, CSP, language, common, X-Frame-Options) that resolves against voucherhub/api_urls.py only.

Because the switch is a middleware, gunicorn (wsgi.py), ASGI and django.test.Client all take the same
path: the tests exercise exactly what the server runs. Everything else (the OpenAPI schema and docs
under /api/schema/ and /api/docs/, the pages, the admin) keeps the full stack. reverse() still uses
ROOT_URLCONF, so API code may link to pages.

What Django answers by itself on this stack (an unknown path, a request it cannot read, a crash) comes
from the error handlers of voucherhub/api_urls.py, so an API client gets the API's JSON error body
(voucherhub/core/api.py) there too, never the site's HTML error pages. docs/performance.md has the
measurements.
"""

from functools import wraps

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import response_for_exception
from django.http import Http404, HttpResponse
from django.urls import get_resolver, get_urlconf, set_urlconf
from django.utils.module_loading import import_string

API_PREFIX = "/api/v1/"
API_URLCONF = "voucherhub.api_urls"


def api_response_for_exception(request, exc: Exception) -> HttpResponse:
    """Django's answer to an exception raised on the API stack, from the API urlconf's error handlers.

    Django's response_for_exception (its logging, signals and DEBUG pages included) looks the handlers up
    in the thread's urlconf, which stays ROOT_URLCONF during an API request so that reverse() sees the
    pages; it is switched for that lookup only. An Http404 (an unknown path, mostly) always gets the JSON
    404, also under DEBUG, whose technical 404 page is HTML: a client parses the answer the same way then.
    """
    if isinstance(exc, Http404):
        return get_resolver(API_URLCONF).resolve_error_handler(404)(request, exception=exc)
    urlconf = get_urlconf()
    set_urlconf(API_URLCONF)
    try:
        return response_for_exception(request, exc)
    finally:
        set_urlconf(urlconf)


def convert_exception_to_api_response(get_response):
    """django.core.handlers.exception.convert_exception_to_response (sync) with the API's error answers."""

    @wraps(get_response)
    def inner(request):
        try:
            return get_response(request)
        except Exception as exc:
            return api_response_for_exception(request, exc)

    return inner


class ApiHandler(BaseHandler):
    """A synchronous middleware chain from settings.API_MIDDLEWARE that resolves against API_URLCONF."""

    def load_middleware(self, is_async=False):
        if is_async:  # pragma: no cover - ApiStackMiddleware is sync-only; Django adapts it under ASGI
            raise ImproperlyConfigured("ApiHandler builds a synchronous chain only.")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_api_response(self._get_response)
        for middleware_path in reversed(settings.API_MIDDLEWARE):
            middleware = import_string(middleware_path)
            if not getattr(middleware, "sync_capable", True):
                raise ImproperlyConfigured(f"API middleware {middleware_path} must be sync-capable.")
            try:
                instance = middleware(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {middleware_path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_api_response(instance)
        self._middleware_chain = handler

    def resolve_request(self, request):
        # Only the API's patterns; the thread's urlconf (for reverse()) stays ROOT_URLCONF.
        match = get_resolver(API_URLCONF).resolve(request.path_info)
        request.resolver_match = match
        return match


class ApiStackMiddleware:
    """First in settings.MIDDLEWARE: sends /api/v1/ requests through the slim ApiHandler chain."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response
        self.api = ApiHandler()
        self.api.load_middleware()

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.api._middleware_chain(request)
        return self.get_response(request)
