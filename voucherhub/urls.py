from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic.base import RedirectView
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from voucherhub.api_urls import api_v1  # the /api/v1/ routes; voucherhub/core/apihandler.py serves them
from voucherhub.core import health
from voucherhub.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", RedirectView.as_view(url=static("core/favicon.svg"), permanent=True)),
    path("account/", core_views.account, name="account"),
    path("accounts/logout/", core_views.LogoutView.as_view(), name="logout"),  # says "You are logged out."
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("dashboards/", include("voucherhub.dashboards.urls")),
    path("catalog/", include("catalog.urls")),
    path("", include("channels.urls")),
    path("risk/", include("riskcontrol.urls")),
    path("captcha/", include("captcha.urls")),
    path("", include("redemption.urls")),
    path("", include("settlement.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# Branded error pages in the reader's language: Django's own handlers render templates/403.html, 404.html and
# 500.html (voucherhub/core/views.py picks 500 or 503). A database or Redis
# that is away for a moment gets the "try again in a moment" page (voucherhub/core/outages.py).
handler500 = "voucherhub.core.views.server_error"

if settings.SERVE_MEDIA:  # product pictures; in production the proxy serves MEDIA_ROOT (docs/operations.md)
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", core_views.media)]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
