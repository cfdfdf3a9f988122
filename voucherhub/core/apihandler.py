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
ROOT_URLCONF, so API code may link to pages; a 404 under /api/v1/ is the site's usual 404 response.
docs/performance.md has the measurements.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.urls import get_resolver
from django.utils.module_loading import import_string

API_PREFIX = "/api/v1/"
API_URLCONF = "voucherhub.api_urls"


class ApiHandler(BaseHandler):
    """A synchronous middleware chain from settings.API_MIDDLEWARE that resolves against API_URLCONF."""

    def load_middleware(self, is_async=False):
        if is_async:  # pragma: no cover - ApiStackMiddleware is sync-only; Django adapts it under ASGI
            raise ImproperlyConfigured("ApiHandler builds a synchronous chain only.")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
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
            handler = convert_exception_to_response(instance)
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
