"""Admin search boxes: a card code typed into one is not searched for, kept in the address bar or logged.

Every admin change list takes its search box as `?q=`. A code typed there (to find its order, say) would sit
in the address bar, the browser's history and the access logs of every proxy on the way, and the search would
not find it anyway (codes are not stored in plaintext). So a request whose `q` holds a card code of the vault
(`catalog.codetext`, any spelling) is answered with a redirect to the same list without `q`, a message that
points to *Find by code*, and an audit entry (`codes.search_refused`) whose text has the code masked.
"""

import logging

from django.contrib import messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from catalog.codetext import text_codes_mask, text_mentions_code
from voucherhub.core.audit import audit_record
from voucherhub.core.net import client_ip

logger = logging.getLogger(__name__)


class AdminSearchCodeGuard:
    def __init__(self, get_response):
        self.get_response = get_response

    @sensitive_variables("term")
    def __call__(self, request):
        term = request.GET.get(SEARCH_VAR, "")
        if term and len(term) >= 12 and request.path.startswith(reverse("admin:index")) and text_mentions_code(term):
            masked, _count = text_codes_mask(term)
            audit_record(
                actor=getattr(request, "user", None),
                action="codes.search_refused",
                obj="card codes",
                ip=client_ip(request),
                data={"path": request.path, "search": masked[:200]},
            )
            logger.warning("admin search with a card code refused: %s q=%s", request.path, masked[:200])
            messages.error(
                request,
                _("That search holds a card code. Codes are not searched in lists: use Find by code on the card-code list."),
            )
            query = request.GET.copy()
            del query[SEARCH_VAR]
            return HttpResponseRedirect(request.path + (f"?{query.urlencode()}" if query else ""))
        return self.get_response(request)
