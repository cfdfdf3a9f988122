"""The URLconf of the API entry (voucherhub/api_wsgi.py, settings voucherhub/settings/api_only.py).

The proxy sends only /api/ here. The API's routes come first, so a request resolves against them without
trying every page's pattern; the pages follow only so that reverse() in an API answer (a holder's private
link, a payment page, a challenge image) finds them. What Django answers by itself on this entry (an unknown
path, an unreadable request, a crash) is in the API's JSON error body (voucherhub/core/api.py).
"""

from voucherhub.urls import api, pages

urlpatterns = api + pages

handler400 = "voucherhub.core.api.bad_request"
handler403 = "voucherhub.core.api.permission_denied"
handler404 = "voucherhub.core.api.not_found"
handler500 = "voucherhub.core.api.server_error"
