"""Settlement's pages for marketing's campaigns (issue 16): the flash-sale buy endpoint the flash pages' button
(and bench/flash_sale.py) posts to, and a bundle's storefront page with its checkout.

Views stay thin: find the storefront and the campaign, call order_place, answer. Domain errors become a JSON
body `{"code", "message", "fields"}` with the error's status (the flash endpoint) or form errors (pages).
"""

from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from channels import selectors as channel_selectors
from marketing.errors import SoldOut
from marketing.models import BundleItem, Campaign
from marketing.services.flash import flash_sold_out
from marketing.services.offers import OfferRequest
from riskcontrol.devices import device_of, device_remember
from settlement import forms
from settlement.errors import OutOfStock
from settlement.models import Order
from settlement.services import payments as payment_services
from settlement.services.bundles import bundle_place
from settlement.services.orders import order_place
from settlement.shop_offers import consumer_signed_in, default_pay_method
from settlement.views import _form_error, _order_onward, _pay_url, _receipt_allow
from voucherhub.core.errors import DomainError
from voucherhub.core.net import client_ip


def _json_error(error: DomainError) -> JsonResponse:
    body = {"code": error.code, "message": str(error.message), "fields": error.as_fields()}
    return JsonResponse(body, status=error.status)


def _json_refusal(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "fields": {field: [message]} if field else {}}, status=status)


@never_cache
@require_POST
def flash_buy(request, slug: str, campaign_id: int):
    """A signed-in consumer buys in a flash sale: POST quantity (default 1) and pay_method (default the sandbox
    or the first enabled adapter); CSRF-protected. Answers 201 {"order", "pay_url", "expires_at"} or a 4xx
    {"code", "message", "fields"} (401 sign in first, 404 no such sale here, 409 sold out / limit reached)."""
    if flash_sold_out(campaign_id=campaign_id):  # the burst after the last place: one Redis read, no database
        return _json_error(SoldOut(field="campaign"))
    storefront = channel_selectors.storefront_public(slug)
    campaign = Campaign.objects.filter(pk=campaign_id, kind=Campaign.Kind.FLASH_SALE).select_related("sku").first()
    if storefront is None or campaign is None or campaign.sku is None:
        return _json_refusal(404, "not_found", _("There is no such flash sale in this shop."))
    if campaign.storefront_id not in (None, storefront.pk):
        return _json_refusal(404, "not_found", _("There is no such flash sale in this shop."))
    consumer = consumer_signed_in(request)
    if consumer is None:
        return _json_refusal(401, "sign_in_required", _("Sign in with your mobile number first."), "consumer")
    try:
        order = order_place(
            channel=Order.Channel.STOREFRONT,
            distributor=storefront.distributor,
            storefront=storefront,
            sku=campaign.sku,
            quantity=request.POST.get("quantity") or 1,
            pay_method=request.POST.get("pay_method") or default_pay_method(),
            consumer=consumer,
            offer_request=OfferRequest(campaign_id=campaign.pk),
            idempotency_key=(request.headers.get("Idempotency-Key") or "")[:100] or None,
            ip=client_ip(request),
            device=device_of(request),
        )
    except DomainError as error:
        return _json_error(error)
    _receipt_allow(request, order)
    payment = payment_services.payment_for_order(order=order) if order.status == Order.Status.PENDING else None
    body = {
        "order": order.number,
        "pay_url": _pay_url(payment) if payment else None,
        "expires_at": order.expires_at.isoformat() if order.expires_at else None,
    }
    return JsonResponse(body, status=201)


def _bundle_sold_out(parts: list[BundleItem], error: OutOfStock) -> str:
    """The buyer's words for a component out of stock: which one, and that nothing was reserved or charged
    (catalog's own message speaks of SKUs and codes, for operators)."""
    names = [part.sku.name for part in parts if part.sku.code == error.details.get("sku")]
    if not names:
        return _("Part of this bundle is sold out for now. Nothing was reserved or charged.")
    return _("“%(part)s” in this bundle is sold out for now. Nothing was reserved or charged.") % {"part": names[0]}


def bundle_checkout(request, slug: str, campaign_id: int):
    """A bundle's page in a shop: its components and price, and the form that buys it (one payment, every
    component's codes delivered together). 404 unless the bundle is live in this shop."""
    storefront = channel_selectors.storefront_public(slug)
    campaign = Campaign.objects.filter(pk=campaign_id, kind=Campaign.Kind.BUNDLE).first()
    if storefront is None or campaign is None or not campaign.is_live() or campaign.storefront_id not in (None, storefront.pk):
        raise Http404
    if campaign.distributor_id not in (None, storefront.distributor_id):
        raise Http404
    parts = list(BundleItem.objects.filter(campaign=campaign).select_related("sku__product").order_by("pk"))
    consumer = consumer_signed_in(request)
    form = forms.BundleCheckoutForm(request.POST or None, consumer=consumer)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lead = bundle_place(
                storefront=storefront,
                campaign=campaign,
                contact=data["contact"],
                lookup_password=data.get("lookup_password", ""),
                pay_method=data["pay_method"],
                consumer=consumer,
                idempotency_key=form.order_key(f"bundle-{storefront.pk}", campaign.pk, data["contact"], data["pay_method"]),
                ip=client_ip(request),
                device=device_of(request),
            )
        except OutOfStock as error:
            form.add_error(None, _bundle_sold_out(parts, error))
        except DomainError as error:
            _form_error(form, error)
        else:
            _receipt_allow(request, lead)
            return _order_onward(lead)
    context = {"shop": storefront, "campaign": campaign, "parts": parts, "form": form, "consumer": consumer}
    response = render(request, "settlement/shop/bundle.html", context)
    device_remember(request, response)
    return response
