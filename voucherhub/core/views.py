from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from voucherhub.core.roles import home_url_name


@login_required
def home(request):
    """Send each user to its role's home page."""
    target = home_url_name(request.user)
    if target == "account":
        return redirect("account")
    return redirect(target)


@login_required
def account(request):
    return render(request, "core/account.html")
