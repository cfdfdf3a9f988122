"""A consumer's sign-in by SMS code (/me/login/, one page in two steps that works without JavaScript) and
sign-out (/me/logout/, POST). The consumer's own page /me/ is settlement's (settlement/consumer_views.py)."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from marketing.consumer_session import consumer_of, consumer_sign_in, consumer_sign_out, next_safe
from marketing.errors import CampaignError
from marketing.services.consumers import (
    SEND_GAP_SECONDS,
    code_send,
    code_verify,
    otp_ttl_seconds,
    phone_masked,
    phone_normalized,
    send_wait_seconds,
)
from riskcontrol.challenge import challenge_new
from riskcontrol.errors import ChallengeRequired
from riskcontrol.forms import ChallengeForm
from riskcontrol.services import login_screen
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        help_text=_("A mainland China mobile number. We send a 6-digit code to it."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel", "placeholder": "138 0013 8000"}),
    )


class CodeForm(forms.Form):
    phone = forms.CharField(widget=forms.HiddenInput, max_length=20)
    code = forms.CharField(
        label=_("Code from the text message"),
        max_length=8,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*", "autofocus": True}),
    )


def _home() -> str:
    return reverse("settlement:consumer-home")


def _risk_refusal(request, phone: str) -> str:
    """Risk control's login rules (blocked address, device, number ...): the refusal to show, or ''."""
    decision = login_screen(request=request, username=phone)
    if not decision.blocked:
        return ""
    return " ".join(str(m) for m in decision.messages()) or gettext("Sign-in is not possible from here.")


def _status(error: DomainError) -> int:
    """A page answers a field error with 200 (the form again, as every form here does); a refusal that is no
    typo keeps its status (429 over a limit, 403 blocked)."""
    return 200 if error.status == 400 else error.status


def _page(request, *, step: str, form, next_url: str, phone: str = "", notice: str = "", status: int = 200, challenge=None):
    context = {
        "challenge": challenge,
        "notice": notice,
        "step": step,
        "form": form,
        "next": next_url,
        "phone": phone,
        "phone_masked": phone_masked(phone) if phone else "",
        "wait": send_wait_seconds(phone=phone) if phone else 0,
        "gap": SEND_GAP_SECONDS,
        "ttl_minutes": max(1, otp_ttl_seconds() // 60),
    }
    response = render(request, "marketing/consumers/login.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _challenged(request, form, next_url: str, message: str):
    """The number step again with risk control's picture challenge (428, as the checkout answers)."""
    form.add_error(None, message)
    return _page(request, step="phone", form=form, next_url=next_url, status=ChallengeRequired.status, challenge=challenge_new())


def _send(request, next_url: str):
    """Step 1 (and "send again" on step 2): check the number, screen it, send a code. When risk control asks
    for a challenge, the code goes out only once the picture posted with the number is solved (spent either way)."""
    from_code_step = request.POST.get("step") == "code"
    form = PhoneForm(request.POST)
    if not form.is_valid():
        return _page(request, step="phone", form=form, next_url=next_url)
    challenge_form = ChallengeForm(request.POST) if request.POST.get("challenge_key") else None
    if challenge_form is not None and not challenge_form.is_valid():
        return _challenged(request, form, next_url, gettext("The characters do not match. Try the new picture."))
    phone = ""
    try:
        phone = phone_normalized(form.cleaned_data["phone"])
        decision = login_screen(request=request, username=phone, challenge_passed=challenge_form is not None)
        if decision.blocked:
            form.add_error("phone", " ".join(decision.messages()) or gettext("Sign-in is not possible from here."))
            return _page(request, step="phone", form=form, next_url=next_url, status=403)
        if decision.needs_challenge:
            return _challenged(request, form, next_url, gettext("Please type the characters in the picture to continue."))
        code_send(phone=phone, ip=client_ip(request))
    except DomainError as error:
        if from_code_step and error.field == "phone" and error.status == 429:
            code_form = CodeForm(initial={"phone": phone})
            return _page(request, step="code", form=code_form, next_url=next_url, phone=phone, notice=str(error.message), status=429)
        form.add_error(error.field if error.field in form.fields else None, str(error.message))
        return _page(request, step="phone", form=form, next_url=next_url, status=_status(error))
    return _page(request, step="code", form=CodeForm(initial={"phone": phone}), next_url=next_url, phone=phone)


def _verify(request, next_url: str):
    """Step 2: the code; a right one signs the consumer in and goes on to `next`."""
    form = CodeForm(request.POST)
    try:
        phone = phone_normalized(request.POST.get("phone", ""))
    except CampaignError as error:  # a tampered or lost hidden number: start again
        return _page(request, step="phone", form=PhoneForm(), next_url=next_url, notice=str(error.message))
    if not form.is_valid():
        return _page(request, step="code", form=form, next_url=next_url, phone=phone)
    refusal = _risk_refusal(request, phone)
    if refusal:
        form.add_error(None, refusal)
        return _page(request, step="code", form=form, next_url=next_url, phone=phone, status=403)
    try:
        consumer = code_verify(phone=phone, code=form.cleaned_data["code"], ip=client_ip(request))
    except DomainError as error:
        form.add_error("code" if error.field == "code" else None, str(error.message))
        return _page(request, step="code", form=form, next_url=next_url, phone=phone, status=_status(error))
    consumer_sign_in(request, consumer)
    messages.success(request, gettext("You are signed in as %(phone)s.") % {"phone": consumer.phone_masked})
    return redirect(next_url)


@never_cache
def consumer_login(request):
    """/me/login/: step 1 asks for the number and sends a code, step 2 asks for the code. `next` (a page on
    this site only) is where a right code leads; /me/ by default."""
    next_url = next_safe(request, request.POST.get("next") or request.GET.get("next"), _home())
    if request.method == "POST":
        if request.POST.get("action") == "verify":
            return _verify(request, next_url)
        return _send(request, next_url)
    if consumer_of(request) is not None:
        return redirect(next_url)
    return _page(request, step="phone", form=PhoneForm(), next_url=next_url)


@require_POST
def consumer_logout(request):
    """/me/logout/ (POST): sign out and forget this browser's session."""
    consumer_sign_out(request)
    messages.info(request, gettext("You are signed out."))
    return redirect("marketing:consumer-login")
