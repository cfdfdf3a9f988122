"""Pages of risk control: the ops review queue and alerts, the challenge fragment, TOTP enrollment and verification."""

import base64
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from riskcontrol import selectors
from riskcontrol.challenge import challenge_issue
from riskcontrol.errors import ChallengeRateLimited
from riskcontrol.forms import AlertAcknowledgeForm, OTPTokenForm, ReviewDecisionForm
from riskcontrol.models import RiskAlert, RiskEvent
from riskcontrol.services import review_decide
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip
from voucherhub.core.redirects import safe_next

REVIEW_PERMISSION = "riskcontrol.review_riskevent"
STATUSES = ["pending", "approved", "rejected", "all"]


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
def review_list(request):
    status = request.GET.get("status", "pending")
    if status not in STATUSES:
        status = "pending"
    page = Paginator(selectors.review_queue(status=status), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "riskcontrol/review_list.html",
        {"page": page, "status": status, "statuses": STATUSES, "pending_count": RiskEvent.objects.pending_review().count()},
    )


@login_required
@permission_required(REVIEW_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def review_detail(request, event_id: int):
    event = selectors.event_get(event_id=event_id)
    if event is None:
        raise Http404
    form = ReviewDecisionForm(request.POST or None, event=event)
    if request.method == "POST" and form.is_valid():
        try:
            review_decide(
                event_id=event.pk,
                approve=form.cleaned_data["decision"] == ReviewDecisionForm.APPROVE,
                actor=request.user,
                note=form.cleaned_data["note"],
                block=tuple(form.cleaned_data["block"]),
                ip=client_ip(request),
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Decision saved for event #%(id)s.") % {"id": event.pk})
            following = RiskEvent.objects.pending_review().order_by("id").values_list("pk", flat=True).first()
            return redirect("riskcontrol:review-detail", event_id=following) if following else redirect("riskcontrol:review-list")
    return render(
        request,
        "riskcontrol/review_detail.html",
        {
            "event": event,
            "reasons": event.reason_objects(),
            "related": selectors.related_events(event=event),
            "related_counts": selectors.related_counts(event=event),
            "form": form,
        },
    )


@login_required
@permission_required("riskcontrol.view_riskalert", raise_exception=True)
def alert_list(request):
    open_only = request.GET.get("open") == "1"
    page = Paginator(selectors.alerts_list(open_only=open_only), 50).get_page(request.GET.get("page"))
    return render(request, "riskcontrol/alert_list.html", {"page": page, "open_only": open_only, "form": AlertAcknowledgeForm()})


@login_required
@permission_required("riskcontrol.change_riskalert", raise_exception=True)
@require_POST
def alert_acknowledge(request, alert_id: int):
    from riskcontrol.alerts import alert_acknowledge as acknowledge

    form = AlertAcknowledgeForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        acknowledge(alert_id=alert_id, actor=request.user, note=note)
    except RiskAlert.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(request, _("Alert acknowledged."))
    return redirect(safe_next(request, request.POST.get("next"), default=reverse("riskcontrol:alert-list")))


@never_cache
def challenge_fragment(request):
    """A fresh challenge as an HTML fragment a storefront form includes (htmx: hx-get to refresh it)."""
    try:
        challenge = challenge_issue(ip=client_ip(request))
    except ChallengeRateLimited as refusal:
        # 429: htmx swaps nothing, so the picture on the page (still good) stays.
        return HttpResponse(
            str(refusal.message), status=429, headers={"Retry-After": str(refusal.retry_after)}, content_type="text/plain; charset=utf-8"
        )
    return render(request, "riskcontrol/challenge_fragment.html", {"challenge": challenge})


# --- TOTP -----------------------------------------------------------------------------------------------


def _next_url(request) -> str:
    return safe_next(request, request.POST.get("next") or request.GET.get("next"), default="/")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def otp_setup(request):
    """Enroll an authenticator app: scan the QR code (or type the key), then confirm one code."""
    if TOTPDevice.objects.filter(user=request.user, confirmed=True).exists():
        return redirect(f"{reverse('riskcontrol:otp-verify')}?{urlencode({'next': _next_url(request)})}")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name="VoucherHub", confirmed=False)
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _details = device.verify_is_allowed()
        if not allowed:
            form.add_error("token", _("Too many wrong codes. Wait a little and try again."))
        elif device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
            otp_login(request, device)
            audit_record(actor=request.user, action="auth.otp.enroll", obj=device, ip=client_ip(request))
            messages.success(request, _("Two-factor authentication is on for your account."))
            return redirect(_next_url(request))
        else:
            form.add_error("token", _("That code is not right. Check the time on your phone and try the newest code."))
    return render(
        request,
        "riskcontrol/otp_setup.html",
        {
            "form": form,
            "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#212529"),
            "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
            "next": _next_url(request),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request):
    devices = list(TOTPDevice.objects.filter(user=request.user, confirmed=True))
    if not devices:
        return redirect(f"{reverse('riskcontrol:otp-setup')}?{urlencode({'next': _next_url(request)})}")
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        for device in devices:
            allowed, _details = device.verify_is_allowed()
            if not allowed:
                form.add_error("token", _("Too many wrong codes. Wait a little and try again."))
                break
            if device.verify_token(form.cleaned_data["token"]):
                otp_login(request, device)
                audit_record(actor=request.user, action="auth.otp.verify", obj=device, ip=client_ip(request))
                return redirect(_next_url(request))
        else:
            audit_record(actor=request.user, action="auth.otp.failed", ip=client_ip(request))
            form.add_error("token", _("That code is not right. Try the newest code from your app."))
    return render(request, "riskcontrol/otp_verify.html", {"form": form, "next": _next_url(request)})


def login_locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout page (AXES_LOCKOUT_CALLABLE): a clear message, how long, status 429."""
    import math

    from axes.helpers import get_cool_off, get_failure_limit

    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    context = {"failure_limit": get_failure_limit(request, credentials), "cooloff_minutes": minutes}
    return render(request, "registration/locked_out.html", context, status=429)
