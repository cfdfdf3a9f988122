"""A consumer on a 390 px phone: storefront → product → checkout → sandbox payment → receipt → private code
page, in Chinese and in English. No step scrolls sideways, logs a console error or breaks the
Content-Security-Policy (the new_page fixture fails the test on a violation). And the branded 404 page."""

import pytest

from catalog.models import Product
from settlement.models import Order
from tests.browser.conftest import DESKTOP, PHONE, follow
from tests.browser.pagecheck import internal_words, iso_timestamp, stored_values, too_wide
from tests.settlement.conftest import tree_make

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = {
    "zh-CN": {"buy": "立即购买", "paid": "谢谢，您的订单已付款。", "codes": "我的券码", "not_found": "页面不存在", "in_stock": "有货"},
    "en-US": {
        "buy": "Buy now",
        "paid": "Thank you, your order is paid.",
        "codes": "My codes",
        "not_found": "Page not found",
        "in_stock": "In stock",
    },
}


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return errors


def fits(page) -> None:
    """Nothing on the page is wider than the device (measured against its width, not innerWidth, which a phone
    widens to a page that does not fit); no stored internal value read as a word; no ISO timestamp."""
    wide = too_wide(page, page.viewport_size["width"])
    assert wide is None, f"{page.url} scrolls sideways: {wide}"
    shown = internal_words(page, stored_values("settlement", "channels", "redemption"))
    assert not shown, f"{page.url}: internal values shown: {shown}"
    assert iso_timestamp(page) is None, f"{page.url}: an ISO timestamp: {iso_timestamp(page)}"


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["390px", "1366px"])
def test_a_consumer_buys_on_a_phone_and_lands_on_the_receipt_then_the_code_page(new_page, live_server, settings, locale, device):
    settings.SITE_URL = live_server.url  # the private link points at the site's public address
    tree = tree_make()
    Product.objects.filter(pk=tree.sku.product_id).update(category=Product.Category.COFFEE)
    tree.storefront.support_contact = "WeChat: xiaodian-kefu-service-desk"
    tree.storefront.save()
    words = TEXT[locale]
    page = new_page(device=device, locale=locale)
    errors = watch_errors(page)

    # the storefront: a product card with its placeholder picture and stock state, a footer
    page.goto(f"/s/{tree.storefront.slug}/")
    assert page.locator("[data-testid=shop-item]").count() == 1
    assert page.locator("[data-testid=product-placeholder]").count() == 1
    assert words["in_stock"] in page.locator("[data-testid=stock-state]").inner_text()
    assert "xiaodian-kefu" in page.locator("[data-testid=shop-footer]").inner_text()
    fits(page)

    # the product page, then the checkout
    follow(page, page.locator("[data-testid=shop-item]"))
    fits(page)
    assert words["buy"] in page.locator("[data-testid=buy]").inner_text()
    follow(page, page.locator("[data-testid=buy]"))
    fits(page)

    # a contact that is neither a mobile number nor an e-mail address is refused at the field
    page.fill("input[name=contact]", "my wechat")
    page.fill("input[name=lookup_password]", "secret-123")
    follow(page, page.locator("[data-testid=checkout-submit]"))
    assert page.locator("input[name=contact].is-invalid").count() == 1
    assert not Order.objects.exists()
    fits(page)
    page.fill("input[name=contact]", "138 0013 8000")
    page.fill("input[name=lookup_password]", "secret-123")
    follow(page, page.locator("[data-testid=checkout-submit]"))

    # the sandbox payment says where the link will go
    assert "138****8000" in page.locator("[data-testid=pay-sent-to]").inner_text()
    fits(page)
    follow(page, page.locator("[data-testid=sandbox-pay]"))

    # the receipt: order number, what was bought, a button to the code page
    order = Order.objects.get()
    assert "/receipt/" in page.url
    assert words["paid"] in page.locator("[data-testid=receipt]").inner_text()
    assert page.locator("[data-testid=receipt-number]").inner_text() == order.number
    assert tree.sku.name in page.locator("[data-testid=receipt-product]").inner_text()
    fits(page)
    follow(page, page.locator("[data-testid=receipt-codes]"))

    # the private code page
    assert words["codes"] in page.locator("h1").inner_text()
    assert page.locator("[data-testid=held-code]").count() == 1
    assert page.locator("[data-testid=how-to-use]").count() == 1
    fits(page)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_mistyped_shop_address_gets_the_branded_404_page(new_page, locale):
    page = new_page(device=PHONE, locale=locale)
    errors = watch_errors(page)
    response = page.goto("/s/no-such-shop/")
    assert response.status == 404
    assert TEXT[locale]["not_found"] in page.locator("[data-testid=error-page] h1").inner_text()
    assert page.locator("[data-testid=error-home]").is_visible()
    fits(page)
    # the only console line allowed is chromium's own note about the 404 status of the page itself
    assert all("404" in e for e in errors), errors
