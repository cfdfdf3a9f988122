"""The signed API's routes, /api/v1/..., on their own.

voucherhub/urls.py includes `api_v1` at /api/v1/ (so reverse() and the OpenAPI schema see the API as always);
the slim API stack (voucherhub/core/apihandler.py) resolves requests against `urlpatterns` here, which holds
only /api/v1/ — a few patterns to try instead of every page's. The error handlers answer what Django
itself answers on that stack (an unknown path, an unreadable request, a crash) in the API's JSON error body.
"""

from django.urls import include, path

api_v1 = [
    path("", include("catalog.api_urls")),
    path("", include("channels.api_urls")),
    path("", include("riskcontrol.api_urls")),
    path("", include("redemption.api_urls")),
    path("", include("settlement.api_urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
]

handler400 = "voucherhub.core.api.bad_request"
handler403 = "voucherhub.core.api.permission_denied"
handler404 = "voucherhub.core.api.not_found"
handler500 = "voucherhub.core.api.server_error"
