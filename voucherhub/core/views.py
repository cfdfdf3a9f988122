import sys

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.static import serve as static_serve

from voucherhub.core.outages import is_outage, retry_after_seconds
from voucherhub.core.roles import home_url_name


@login_required
def home(request):
    """Send each user to its role's home page."""
    target = home_url_name(request.user)
    if target == "account":
        return redirect("account")
    return redirect(target)


def media(request, path: str):
    """An upload under MEDIA_ROOT (SERVE_MEDIA: development and `make run`; in production the proxy serves them).
    Django's static.serve refuses paths outside the folder; Pillow-checked pictures only are uploaded."""
    return static_serve(request, path, document_root=settings.MEDIA_ROOT)


class LogoutView(auth_views.LogoutView):
    """Django's logout (POST only), and the login page it leads to says that it happened."""

    def post(self, request, *args, **kwargs):
        was_logged_in = request.user.is_authenticated
        response = super().post(request, *args, **kwargs)
        if was_logged_in:
            messages.success(request, _("You are logged out."))
        return response


@login_required
def account(request):
    return render(request, "core/account.html")


def server_error(request):
    """handler500 of the pages and the admin. A database or Redis that is away for a moment (see
    voucherhub/core/outages.py) gets the "try again in a moment" page with 503 and Retry-After; anything
    else Django's own 500 page. The 503 page is rendered without a request context: its context processors
    (the user, the menu) would ask the database or the cache that are away."""
    if not is_outage(sys.exception()):
        return defaults.server_error(request)
    retry_after = retry_after_seconds()
    again = request.get_full_path() if request.method == "GET" else ""
    body = loader.get_template("503.html").render({"retry_after": retry_after, "again_url": again})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response
