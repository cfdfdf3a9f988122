"""Consumers' flash-sale pages (mobile-first, inside the storefront's frame): a storefront's flash sales and
one sale's page with its price, places left, a countdown (marketing/static/marketing/flash.js) and the buy
button, which posts to settlement's JSON endpoint POST /s/<slug>/flash/<campaign_id>/buy/."""

from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from channels.selectors import storefront_public
from marketing.consumer_session import consumer_of
from marketing.models import Campaign
from marketing.selectors_flash import flash_card, flash_cards, flash_held_by


def _storefront_or_404(slug: str):
    storefront = storefront_public(slug)
    if storefront is None:
        raise Http404
    return storefront


@require_GET
def flash_list(request, slug: str):
    storefront = _storefront_or_404(slug)
    return render(request, "marketing/flash/list.html", {"shop": storefront, "cards": flash_cards(storefront=storefront)})


@require_GET
def flash_page(request, campaign_id: int):
    """A flash sale's page. A storefront's own sale lives on its storefront; a platform sale (every
    storefront) needs ?s=<storefront slug> to know whose shop the buyer is in."""
    campaign = get_object_or_404(Campaign, pk=campaign_id, kind=Campaign.Kind.FLASH_SALE)
    slug = request.GET.get("s") or (campaign.storefront.slug if campaign.storefront_id else "")
    if not slug:
        raise Http404
    storefront = _storefront_or_404(slug)
    card = flash_card(storefront=storefront, campaign_id=campaign.pk)
    if card is None:
        raise Http404
    consumer = consumer_of(request)
    held = flash_held_by(campaign=campaign, consumer_id=consumer.pk if consumer else None)
    here = reverse("marketing:flash-page", args=[campaign.pk]) + "?" + urlencode({"s": storefront.slug})
    context = {
        "shop": storefront,
        "card": card,
        "signed_in": consumer is not None,
        "held": held,
        "may_buy": max(campaign.per_consumer_limit - held, 0),
        "buy_url": f"/s/{storefront.slug}/flash/{campaign.pk}/buy/",  # settlement's flash-buy endpoint
        "login_url": "/me/login/?" + urlencode({"next": here}),
    }
    return render(request, "marketing/flash/page.html", context)


@require_GET
def flash_page_in_shop(request, slug: str, campaign_id: int):
    """/flash/s/<slug>/<id>/: the same page, reached from a storefront's list."""
    return redirect(reverse("marketing:flash-page", args=[campaign_id]) + "?" + urlencode({"s": slug}))
