"""The site's URLconf: every app's pages and the signed API (the roof; it mounts every app's urls).

Two entry points serve these routes. `voucherhub.wsgi` (the site) resolves `urlpatterns` below. In
production the proxy routes /api/ to `voucherhub.api_wsgi` (settings in voucherhub/settings/api_only.py),
whose URLconf, voucherhub/api_urls.py, tries the `api` routes first. This entry serves /api/ too, so
`make run` and the tests need no proxy: here /api/ paths get the API's JSON error body as well.
"""

from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views import defaults
from django.views.generic.base import RedirectView
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from voucherhub.core import api as api_errors
from voucherhub.core import health
from voucherhub.core import views as core_views

API_PREFIX = "/api/"

api_v1 = [
    path("", include("catalog.api_urls")),
    path("", include("channels.api_urls")),
    path("", include("riskcontrol.api_urls")),
    path("", include("redemption.api_urls")),
    path("", include("settlement.api_urls")),
]

api = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

pages = [
    path("", core_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", RedirectView.as_view(url=static("core/favicon.svg"), permanent=True)),
    path("account/", core_views.account, name="account"),
    path("accounts/logout/", core_views.LogoutView.as_view(), name="logout"),  # says "You are logged out."
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("dashboards/", include("analytics.urls")),
    path("catalog/", include("catalog.urls")),
    path("", include("channels.urls")),
    path("risk/", include("riskcontrol.urls")),
    path("supply/", include("supply.urls")),
    path("supply/ops/", include("supply.ops_urls")),
    path("captcha/", include("captcha.urls")),
    path("", include("redemption.urls")),
    path("", include("marketing.urls")),
    path("", include("settlement.urls")),
]
if settings.SERVE_MEDIA:  # product pictures; in production the proxy serves MEDIA_ROOT (docs/operations.md)
    pages += [re_path(r"^media/(?P<path>.*)$", core_views.media)]
if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    pages += staticfiles_urlpatterns()

urlpatterns = pages + api


def _api_or_page(api_handler, page_handler):
    """An error handler that answers /api/ in the API's JSON error body (as voucherhub/api_urls.py does on the
    API entry) and everything else with the branded page."""

    def handler(request, *args, **kwargs):
        chosen = api_handler if request.path_info.startswith(API_PREFIX) else page_handler
        return chosen(request, *args, **kwargs)

    return handler


# Branded error pages in the reader's language: Django's own handlers render templates/403.html, 404.html and
# 500.html (voucherhub/core/views.py picks 500 or 503). A database or Redis that is away for a moment gets the
# "try again in a moment" page (voucherhub/core/outages.py).
handler400 = _api_or_page(api_errors.bad_request, defaults.bad_request)
handler403 = _api_or_page(api_errors.permission_denied, defaults.permission_denied)
handler404 = _api_or_page(api_errors.not_found, defaults.page_not_found)
handler500 = _api_or_page(api_errors.server_error, core_views.server_error)
