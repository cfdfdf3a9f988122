"""The consumer's own page /me/: their orders (with a link to each receipt and its private code page), their
coupons and their group buys. Signed-in consumers only (marketing's SMS sign-in); only their own rows."""

from decimal import Decimal

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache

from marketing.consumer_session import consumer_required
from marketing.models import Campaign
from marketing.selectors_consumers import CouponLine, consumer_coupons, consumer_groups
from settlement.selectors.consumers import consumer_orders
from voucherhub.core.templatetags.vh_format import money_text

ORDERS_PER_PAGE = 20


def coupon_value_text(line: CouponLine) -> str:
    """What a coupon takes off, in words: "¥10.00 off", "20% off, at most ¥15.00", with the minimum spend."""
    if line.discount_kind == Campaign.DiscountKind.PERCENT and line.discount_percent is not None:
        percent = (Decimal(line.discount_percent) * 100).quantize(Decimal("0.01")).normalize()
        text = gettext("%(percent)s%% off") % {"percent": f"{percent:f}"}
        if line.discount_cap:
            text = gettext("%(value)s, at most %(cap)s") % {"value": text, "cap": money_text(line.discount_cap)}
    elif line.discount_amount is not None:
        text = gettext("%(amount)s off") % {"amount": money_text(line.discount_amount)}
    else:
        text = ""
    if line.min_spend:
        text = gettext("%(value)s on orders from %(min)s") % {"value": text, "min": money_text(line.min_spend)}
    return text


@never_cache
@consumer_required
def consumer_home(request):
    """/me/: the signed-in consumer's orders (paged), coupons and group buys."""
    consumer = request.consumer
    page = Paginator(consumer_orders(consumer=consumer), ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    coupons = [(line, coupon_value_text(line)) for line in consumer_coupons(consumer=consumer)]
    context = {"consumer": consumer, "page": page, "coupons": coupons, "groups": consumer_groups(consumer=consumer)}
    response = render(request, "settlement/me/home.html", context)
    response["Cache-Control"] = "no-store"
    return response
