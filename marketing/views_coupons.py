"""Consumers' coupon pages: a coupon campaign's claim page (/c/<id>/), claiming a code (/c/claim/), a
referral campaign's page with the consumer's own share link (/c/<id>/ too), and a share link's landing
(/r/<token>/), which remembers the token for checkout (session "vh_referral").

Views stay thin: a service does the work, a domain error becomes the page's message with its status
(RiskBlocked 403, LimitReached / SoldOut 409, SignInRequired 403 ...)."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from marketing.consumer_session import consumer_of, consumer_required, login_url
from marketing.models import Campaign, Coupon, ReferralLink
from marketing.services.coupons import coupon_claim, coupon_claim_code
from marketing.services.offers import coupon_rule_text
from marketing.services.referral import referral_link_by_token, referral_link_for
from riskcontrol.devices import device_of
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip

REFERRAL_SESSION_KEY = "vh_referral"
PAGE_KINDS = (Campaign.Kind.COUPON, Campaign.Kind.REFERRAL)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Coupon code"),
        max_length=24,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "placeholder": "ABCD EFGH 23"}),
    )


def _campaign_shown(campaign_id: int) -> Campaign:
    """A coupon or referral campaign a consumer may look at: never a draft (ops have not published it)."""
    campaign = (
        Campaign.objects.select_related("storefront", "reward_campaign")
        .filter(pk=campaign_id, kind__in=PAGE_KINDS)
        .exclude(status=Campaign.Status.DRAFT)
        .first()
    )
    if campaign is None:
        raise Http404
    return campaign


def _claim_context(campaign: Campaign, consumer) -> dict:
    mine = list(Coupon.objects.filter(campaign=campaign, consumer=consumer).order_by("-issued_at")) if consumer else []
    left = None
    if campaign.coupons_total is not None:
        left = max(0, campaign.coupons_total - campaign.coupons_issued)
    can_claim = campaign.is_live() and len(mine) < campaign.per_consumer_limit and left != 0
    return {"mine": mine, "left": left, "can_claim": can_claim}


@never_cache
@require_http_methods(["GET", "POST"])
def campaign_page(request, campaign_id: int):
    """GET: the campaign's offer and what this consumer has of it. POST: claim a coupon (coupon campaigns)
    or make the consumer's share link (referral campaigns)."""
    campaign = _campaign_shown(campaign_id)
    consumer = consumer_of(request)
    status = 200
    if request.method == "POST":
        if consumer is None:
            return redirect(login_url(request.path))
        try:
            _campaign_post(request, campaign=campaign, consumer=consumer)
            return redirect(request.path)
        except DomainError as error:
            messages.error(request, str(error.message))
            status = error.status
    context = {
        "campaign": campaign,
        "consumer": consumer,
        "rule": coupon_rule_text(campaign if campaign.kind == Campaign.Kind.COUPON else campaign.reward_campaign or campaign),
        "login_url": login_url(request.path),
    }
    if campaign.kind == Campaign.Kind.COUPON:
        context.update(_claim_context(campaign, consumer))
        template = "marketing/coupons/claim.html"
    else:
        link = ReferralLink.objects.filter(campaign=campaign, consumer=consumer).first() if consumer else None
        share_url = request.build_absolute_uri(reverse("marketing:referral-landing", args=[link.token])) if link else ""
        context.update(link=link, share_url=share_url)
        template = "marketing/coupons/share.html"
    return render(request, template, context, status=status)


def _campaign_post(request, *, campaign: Campaign, consumer) -> None:
    if campaign.kind == Campaign.Kind.COUPON:
        coupon = coupon_claim(campaign=campaign, consumer=consumer, ip=client_ip(request) or "", device=device_of(request))
        messages.success(request, gettext("The coupon is yours: %(code)s.") % {"code": coupon.code})
    else:
        referral_link_for(campaign=campaign, consumer=consumer, ip=client_ip(request) or "", device=device_of(request))
        messages.success(request, gettext("Your share link is ready. Send it to a friend."))


@never_cache
@consumer_required
@require_http_methods(["GET", "POST"])
def code_claim(request):
    """Enter a coupon code to make it yours (it then shows under "My coupons")."""
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            coupon = coupon_claim_code(code=form.cleaned_data["code"], consumer=request.consumer)
        except DomainError as error:
            form.add_error("code", str(error.message))
            status = error.status
        else:
            messages.success(
                request,
                gettext("The coupon %(code)s is yours: %(rule)s.") % {"code": coupon.code, "rule": coupon_rule_text(coupon.campaign)},
            )
            return redirect(reverse("marketing:coupon-code-claim"))
    elif request.method == "POST":
        status = 400
    return render(request, "marketing/coupons/code.html", {"form": form, "consumer": request.consumer}, status=status)


@never_cache
def referral_landing(request, token: str):
    """A friend followed a share link: remember it for checkout and show what both sides get."""
    link = referral_link_by_token(token)
    if link is None:
        raise Http404
    campaign = link.campaign
    live = campaign.is_live()
    if live:
        request.session[REFERRAL_SESSION_KEY] = link.token
    context = {
        "campaign": campaign,
        "live": live,
        "owner": link.consumer,
        "consumer": consumer_of(request),
        "rule": coupon_rule_text(campaign.reward_campaign) if campaign.reward_campaign else "",
        "shop_url": reverse("channels:shop", args=[campaign.storefront.slug]) if campaign.storefront_id else "",
    }
    return render(request, "marketing/coupons/landing.html", context, status=200 if live else 410)
