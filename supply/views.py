"""The callback endpoint suppliers post to (their signature is the authentication; no session, no CSRF)."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from supply.models import Upstream
from supply.services import callback_handle


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request, upstream_id: int):
    upstream = get_object_or_404(Upstream, pk=upstream_id)
    status, content_type, body = callback_handle(
        upstream=upstream,
        body=request.body,
        content_type=request.content_type or "",
        query=request.GET.dict(),
        headers=dict(request.headers),
        ip=request.META.get("REMOTE_ADDR"),
    )
    return HttpResponse(body, status=status, content_type=content_type)
