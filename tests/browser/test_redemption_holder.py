from datetime import timedelta
from decimal import Decimal

import pytest

from redemption import holdings
from redemption.models import CodeHolding
from tests import factories
from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


def test_consumer_sees_the_qr_reveals_and_gifts_a_code(new_page, live_server):
    # given a holder with two delivered codes
    merchant = factories.MerchantFactory(name="星巴克")
    sku = factories.SkuFactory(name="星巴克中杯饮品券", face_value=Decimal("35.00"), allowed_merchant_ids=[merchant.pk])
    first, first_plain = factories.card_code(sku=sku, expires_in=timedelta(days=20))
    second, _second_plain = factories.card_code(sku=sku, expires_in=timedelta(days=40))
    url = holdings.holding_create(code_ids=[first.pk, second.pk], contact="13800138000", order_ref="SO-B1")
    path = "/" + url.split("/", 3)[3]
    page = new_page(device=PHONE)

    # when the holder opens the private link
    page.goto(path)

    # then each code is masked, with a QR code (an SVG drawn on the server), value and expiry
    cards = page.locator("[data-testid=held-code]")
    assert cards.count() == 2
    assert page.locator("[data-testid=qr] svg").count() == 2
    assert page.locator("[data-testid=masked-code]").first.inner_text() == first.hint
    assert first_plain not in page.content()
    assert "35.00" in cards.first.inner_text()

    # tapping reveals the code in place
    cards.first.locator("[data-testid=reveal-button]").tap()
    revealed = cards.first.locator("[data-testid=revealed-code]")
    revealed.wait_for()
    assert revealed.inner_text().replace("-", "") == first_plain

    # gifting the second code to a friend
    second_card = cards.nth(1)
    second_card.locator("[data-testid=gift] summary").tap()
    second_card.locator("[data-testid=gift-contact]").fill("friend@example.com")
    with page.expect_navigation():
        second_card.locator("[data-testid=gift-button]").tap()

    # the old page no longer shows it, and says to whom it went
    assert page.locator("[data-testid=held-code]").count() == 1
    assert second.hint not in page.locator("main").inner_text()
    assert "f***@example.com" in page.locator("[data-testid=gifted-list]").inner_text()
    assert CodeHolding.objects.get(code=second, active=True).link.contact == "friend@example.com"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
