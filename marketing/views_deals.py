"""A storefront's deals page (`/deals/s/<slug>/`, linked from every shop page's header): what a shopper can take
part in there now — flash sales, group buys, bundles, new-user prices, coupons to claim, share-and-earn — each
linking to its own page."""

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from channels.selectors import storefront_public
from marketing.selectors import shop_deals
from marketing.selectors_flash import flash_cards


@require_GET
def deals(request, slug: str):
    storefront = storefront_public(slug)
    if storefront is None:
        raise Http404
    context = {"shop": storefront, "flash": flash_cards(storefront=storefront), "deals": shop_deals(storefront=storefront)}
    return render(request, "marketing/deals/shop.html", context)
