"""Request middleware of risk control: the TOTP requirement for some roles, and the CSP header."""

from urllib.parse import urlencode

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.conf import settings
from django.shortcuts import redirect, render
from django.urls import reverse

from voucherhub.core.roles import has_role

# Paths a user who still owes a TOTP code may open (the code pages, logging out, static files, ...).
OTP_EXEMPT_PREFIXES = ("/risk/otp/", "/accounts/logout/", "/accounts/login/", "/i18n/", "/static/", "/captcha/", "/api/")


def otp_required(user) -> bool:
    roles = getattr(settings, "OTP_REQUIRED_FOR_ROLES", None) or []
    return bool(roles) and user.is_authenticated and any(has_role(user, role) for role in roles)


class OTPRequiredMiddleware:
    """After a password login, users of OTP_REQUIRED_FOR_ROLES must verify a TOTP code (or enroll a device first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OTP_EXEMPT_PREFIXES)
            and otp_required(user)
            and not user.is_verified()
        ):
            from riskcontrol.protection import user_has_totp

            target = "riskcontrol:otp-verify" if user_has_totp(user) else "riskcontrol:otp-setup"
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp with the relaxations of settings.CSP_RELAXED_PATHS applied only under their path prefixes."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if report_only:
            return parts
        for prefix, directives in getattr(settings, "CSP_RELAXED_PATHS", {}).items():
            if request.path_info.startswith(prefix):
                parts.replace = {**(parts.replace or {}), **directives}
                break
        return parts


class RiskLoginRefusedMiddleware:
    """Turns a login that risk control blocked (riskcontrol.auth.RiskLoginBackend left the decision on the
    request) into a 403 page with the reasons, like axes' middleware turns a locked-out login into its page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        decision = getattr(request, "risk_login_refused", None)
        if decision is None:
            return response
        return render(request, "riskcontrol/login_refused.html", {"reasons": decision.messages()}, status=403)
