"""Campaigns on the storefront's settlement pages (issue 16): who is signed in, the campaign a checkout
carries and the price it shows, where a stranger goes to sign in."""

from dataclasses import dataclass, field

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from catalog.models import Sku
from marketing.consumer_session import consumer_of
from marketing.models import Campaign, Consumer
from marketing.selectors import campaign_new_user_for
from marketing.services import offers as marketing_offers
from settlement import forms
from settlement.adapters import adapters_enabled
from settlement.selectors.offers import first_order

# The kinds a product's checkout carries as ?campaign=: each has a per-consumer rule, so a consumer signs in.
CHECKOUT_KINDS = (Campaign.Kind.FLASH_SALE, Campaign.Kind.NEW_USER, Campaign.Kind.GROUP_BUY)


def consumer_signed_in(request) -> Consumer | None:
    """The consumer signed in on this browser (marketing's SMS sign-in), or None."""
    return consumer_of(request)


def sign_in_redirect(request):
    """To the consumer sign-in, coming back to this very page (its query string kept)."""
    return redirect(reverse("marketing:consumer-login") + "?" + urlencode({"next": request.get_full_path()}))


def default_pay_method() -> str:
    """The sandbox when it is on (development, the bench), else the first enabled consumer adapter."""
    enabled = adapters_enabled()
    for value, _label in forms.PAYMENT_CHOICES:
        if value in enabled:
            return value
    return ""


@dataclass(frozen=True)
class CheckoutOffer:
    """The campaign a checkout carries (None: the list price) and the price the page shows for it."""

    campaign: Campaign | None = None
    display: dict = field(default_factory=dict)
    group_token: str = ""

    @property
    def needs_sign_in(self) -> bool:
        return self.campaign is not None or bool(self.group_token)


def new_user_campaign(request, *, storefront, sku) -> Campaign | None:
    """The live new-user price of `sku` in this shop when the signed-in consumer's order would be their first paid
    one (settlement.selectors.offers.first_order), else None. The checkout shows it and carries it as its
    campaign, so the page shows the price the order is placed at."""
    consumer = consumer_of(request)
    if consumer is None or sku.fulfilment == Sku.Fulfilment.TOPUP or not first_order(contact=consumer.phone):
        return None
    return campaign_new_user_for(storefront=storefront, sku=sku)


def checkout_offer(request, *, form, storefront, sku, price) -> CheckoutOffer:
    """The campaign named by the checkout (its hidden field, or ?campaign= on the first visit) when it is one of
    CHECKOUT_KINDS for this SKU in this shop; anything else is ignored. Without one, a signed-in consumer's first
    order gets the shop's new-user price (new_user_campaign); else the list price is shown."""
    raw = (form.data.get("campaign") if form.is_bound else request.GET.get("campaign")) or ""
    group = ((form.data.get("group") if form.is_bound else request.GET.get("group")) or "").strip()[:24]
    campaign = None
    if raw.isdigit():
        campaign = Campaign.objects.filter(pk=int(raw), kind__in=CHECKOUT_KINDS, sku=sku).first()
    if campaign is not None and campaign.storefront_id not in (None, storefront.pk):
        campaign = None
    if campaign is None and not group:
        campaign = new_user_campaign(request, storefront=storefront, sku=sku)
    if campaign is None:
        return CheckoutOffer(group_token=group)
    display = marketing_offers.offer_for_display(campaign=campaign, distributor=storefront.distributor, sku=sku, list_unit_price=price)
    return CheckoutOffer(campaign=campaign, display=display or {}, group_token=group)
