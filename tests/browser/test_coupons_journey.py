"""A consumer on a phone claims a coupon on its campaign page, then buys with it in a storefront: the order
costs the list price less the coupon, the coupon is used, the campaign's budget spent (issue 16: the coupon
kind from the consumer's side). Chinese and English; nothing scrolls sideways, no ISO date, no CSP breach."""

from decimal import Decimal
from importlib import import_module

import pytest
from django.conf import settings as django_settings

from marketing.consumer_session import SESSION_KEY
from marketing.models import Campaign, Coupon
from settlement.models import Order
from tests.browser.conftest import PHONE, follow
from tests.browser.pagecheck import iso_timestamp, too_wide
from tests.marketing.factories import ConsumerFactory, coupon_campaign
from tests.settlement.conftest import tree_make

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = {"zh-CN": {"claim": "立即领取", "rule": "立减 ¥5.00"}, "en-US": {"claim": "Claim the coupon", "rule": "¥5.00 off"}}


def signed_in(page, live_server, consumer) -> None:
    """Sign the browser in as `consumer` (the SMS step has its own browser test in the consumers part)."""
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = consumer.pk
    store.create()
    page.context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": store.session_key, "url": live_server.url}])


def fits(page) -> None:
    wide = too_wide(page, page.viewport_size["width"])
    assert wide is None, f"{page.url} scrolls sideways: {wide}"
    assert iso_timestamp(page) is None, f"{page.url}: an ISO timestamp"


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_consumer_claims_a_coupon_and_pays_less_with_it(new_page, live_server, settings, locale):
    settings.SITE_URL = live_server.url
    tree = tree_make()
    campaign = coupon_campaign(
        name="新客立减", discount_amount=Decimal("5.00"), budget_kind=Campaign.BudgetKind.MONEY, budget_amount=Decimal("50.00")
    )
    consumer = ConsumerFactory(phone="13800138000")
    page = new_page(device=PHONE, locale=locale)
    signed_in(page, live_server, consumer)

    # the campaign page: the rule, the claim button, then the coupon with its code
    page.goto(f"/c/{campaign.pk}/")
    assert TEXT[locale]["rule"] in page.locator("[data-testid=coupon-rule]").inner_text()
    fits(page)
    follow(page, page.locator("[data-testid=claim-button]"))
    coupon = Coupon.objects.get(consumer=consumer)
    assert coupon.code in page.locator("[data-testid=my-coupons]").inner_text()
    assert page.locator("[data-testid=claim-limit]").count() == 1
    fits(page)

    # the shop's checkout with the coupon typed in
    page.goto(f"/s/{tree.storefront.slug}/p/{tree.sku.code}/buy/")
    page.fill("input[name=coupon]", coupon.code.lower())
    follow(page, page.locator("[data-testid=checkout-submit]"))
    order = Order.objects.get()
    assert order.total == Decimal("24.90")  # 29.90 less the ¥5.00 coupon
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_ref) == (Coupon.Status.USED, order.number)
    campaign.refresh_from_db()
    assert campaign.spent_amount == Decimal("5.00")
    fits(page)
