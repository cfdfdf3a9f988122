"""Issue 16 from the consumer's side, in the browser: a flash sale bought on a phone (the shop's flash list, the
sale's page with its price, struck-through list price, places left and a running countdown, the SMS sign-in, the
sandbox payment, the receipt, the private code page, the limit), the new-user price on a first order only, and a
bundle bought with one payment whose codes all arrive together (and refused, with nothing reserved, when one
component is out of stock). No page scrolls sideways, shows an internal value, an ISO timestamp or a console error,
or breaks the Content-Security-Policy."""

import re
from datetime import timedelta
from decimal import Decimal
from importlib import import_module

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from catalog.models import CardCode
from marketing.consumer_session import SESSION_KEY
from marketing.models import Campaign, CampaignUse, Consumer, FlashReservation, FlashSlot
from redemption.notify import ConsoleSmsBackend
from settlement.models import Order
from tests.browser.conftest import PHONE, follow
from tests.browser.pagecheck import page_problems, stored_values, watch_console
from tests.settlement.conftest import tree_make
from tests.settlement.test_offer_orders import bundle

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "13800138000"


def flash_sale(tree, *, stock: int) -> Campaign:
    """A platform-funded flash sale in the tree's shop: ¥9.90 instead of ¥29.90, one per person, its slot running
    for another hour."""
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="午间秒杀", kind=Campaign.Kind.FLASH_SALE, status=Campaign.Status.ACTIVE, starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2), storefront=tree.storefront, distributor=tree.seller, sku=tree.sku,
        price=Decimal("9.90"), per_consumer_limit=1, payment_minutes=10, funding=Campaign.Funding.PLATFORM,
    )  # fmt: skip
    FlashSlot.objects.create(campaign=campaign, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1), stock=stock)
    return campaign


def sms_sign_in(page, phone: str) -> None:
    """On /me/login/: the number, then the code read from the console SMS outbox."""
    page.fill("input[name=phone]", phone)
    follow(page, page.get_by_test_id("phone-submit"))
    message = ConsoleSmsBackend.outbox[-1]
    assert message.to == phone
    page.fill("input[name=code]", re.search(r"\b(\d{6})\b", message.text).group(1))
    follow(page, page.get_by_test_id("code-submit"))


def signed_in(page, live_server, consumer: Consumer) -> None:
    """Sign the browser in as `consumer` (the SMS step is driven in the flash-sale test)."""
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = consumer.pk
    store.create()
    page.context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": store.session_key, "url": live_server.url}])


def pay_in_sandbox(page) -> None:
    """From the sandbox's payment page to the receipt."""
    assert "/pay/sandbox/" in page.url
    follow(page, page.get_by_test_id("sandbox-pay"))
    assert "/receipt/" in page.url


def test_a_consumer_buys_in_a_flash_sale_on_a_phone(new_page, live_server, settings):
    settings.SITE_URL = live_server.url
    tree = tree_make()
    campaign = flash_sale(tree, stock=3)
    ConsoleSmsBackend.outbox.clear()
    internal = stored_values("settlement", "marketing")
    page = new_page(device=PHONE, locale="zh-CN")
    errors = watch_console(page)
    problems = []

    def check() -> None:
        nonlocal problems
        problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")

    # the shop's header leads to the consumer's own page
    page.goto(f"/s/{tree.storefront.slug}/")
    assert page.get_by_test_id("shop-me").inner_text().strip() == "我的"
    assert page.get_by_test_id("shop-me").get_attribute("href") == "/me/"
    check()

    # ... and to the shop's deals, where the flash sale is found (the shopper types no URL)
    follow(page, page.get_by_test_id("shop-deals"))
    assert page.get_by_test_id("deals-title").inner_text() == "本店活动"
    check()
    assert page.get_by_test_id("deal-flash").count() == 1
    page.go_back()

    # the shop's flash list: the sale with its price, the list price struck through, the places left
    page.goto(f"/flash/s/{tree.storefront.slug}/")
    card = page.get_by_test_id("flash-card")
    assert card.count() == 1 and card.get_attribute("data-campaign") == str(campaign.pk)
    assert card.get_by_test_id("flash-price").inner_text() == "¥9.90"
    assert card.get_by_test_id("flash-list-price").inner_text() == "¥29.90"
    assert "剩余 3 个名额" in card.get_by_test_id("flash-left").inner_text()
    check()
    follow(page, card)

    # the sale's page: the price, the list price struck through, places left, a countdown that runs
    assert f"/flash/{campaign.pk}/" in page.url
    assert page.get_by_test_id("flash-price").inner_text() == "¥9.90"
    struck = page.get_by_test_id("flash-list-price")
    assert struck.inner_text() == "¥29.90" and struck.evaluate("el => el.tagName") == "S"
    assert "剩余 3 个名额" in page.get_by_test_id("flash-left").inner_text()
    countdown = page.get_by_test_id("flash-countdown")
    shown = countdown.inner_text()
    assert re.fullmatch(r"距结束 00:5\d:\d\d", shown.strip()), shown
    page.wait_for_function("t => document.querySelector('[data-testid=flash-countdown]').innerText !== t", arg=shown)
    check()

    # not signed in: the button asks for the SMS sign-in, which comes back to this page
    follow(page, page.get_by_test_id("flash-sign-in"))
    assert "/me/login/" in page.url
    sms_sign_in(page, NUMBER)
    assert f"/flash/{campaign.pk}/" in page.url and "s=" in page.url
    check()
    sale_url = page.url
    stale = page.context.new_page()  # the same sale open in a second tab, before buying (for the limit below)
    stale.goto(sale_url)

    # buy: the JSON endpoint answers where to pay, the page goes there; the sandbox pays; the receipt
    with page.expect_navigation(url=re.compile(r"/pay/sandbox/")):
        page.get_by_test_id("flash-buy").click()
    assert page.get_by_test_id("pay-amount").inner_text() == "¥9.90"
    check()
    pay_in_sandbox(page)
    order = Order.objects.get()
    assert (order.consumer.phone, order.promotion, order.total, order.status) == (NUMBER, campaign, Decimal("9.90"), Order.Status.DELIVERED)
    assert page.get_by_test_id("receipt-number").inner_text() == order.number
    assert "¥20.00" in page.get_by_test_id("receipt-discount").inner_text()
    assert "已发货" in page.get_by_test_id("receipt-status").inner_text()
    check()

    # the private code page: the code masked until tapped
    follow(page, page.get_by_test_id("receipt-codes"))
    assert page.get_by_test_id("held-code").count() == 1
    masked = page.get_by_test_id("masked-code").inner_text()
    assert "*" in masked or "•" in masked, masked
    check()
    page.get_by_test_id("reveal-button").click()
    revealed = page.get_by_test_id("revealed-code")
    revealed.wait_for()
    assert revealed.inner_text().strip() and revealed.inner_text().strip() != masked.strip()

    # one place fewer; this consumer holds one, the limit: the button says so
    page.goto(sale_url)
    assert "剩余 2 个名额" in page.get_by_test_id("flash-left").inner_text()
    assert "已抢到 1" in page.get_by_test_id("flash-held").inner_text()
    assert page.get_by_test_id("flash-buy").is_disabled() and "已达限购数量" in page.get_by_test_id("flash-buy").inner_text()
    check()
    assert FlashSlot.objects.get(campaign=campaign).taken == 1
    assert FlashReservation.objects.get(order_ref=order.number).status == FlashReservation.Status.PAID

    # the stale tab tries again: the refusal is a sentence on the page, not a JSON body
    stale.get_by_test_id("flash-buy").click()
    message = stale.get_by_test_id("flash-message")
    stale.wait_for_function("() => document.querySelector('[data-testid=flash-message]').innerText.includes('限购')")
    assert "1 件的限购" in message.inner_text()  # the sale's own sentence (LimitReached), in Chinese
    assert f"/flash/{campaign.pk}/" in stale.url and "{" not in stale.locator("main").inner_text()
    assert Order.objects.count() == 1 and FlashSlot.objects.get(campaign=campaign).taken == 1

    # the consumer's page lists the order
    page.goto("/me/")
    assert page.get_by_test_id("me-order").get_attribute("data-number") == order.number
    check()
    assert not problems, "\n".join(problems)


def test_the_new_user_price_is_for_a_first_paid_order_only(new_page, live_server, settings):
    settings.SITE_URL = live_server.url
    tree = tree_make()
    now = timezone.now()
    campaign = Campaign.objects.create(
        name="新人专享", kind=Campaign.Kind.NEW_USER, status=Campaign.Status.ACTIVE, starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=3), sku=tree.sku, price=Decimal("19.90"), funding=Campaign.Funding.PLATFORM,
    )  # fmt: skip
    consumer = Consumer.objects.create(phone=NUMBER)
    internal = stored_values("settlement", "marketing")
    page = new_page(device=PHONE, locale="en-US")
    errors = watch_console(page)
    signed_in(page, live_server, consumer)
    problems = []
    checkout = f"/s/{tree.storefront.slug}/p/{tree.sku.code}/buy/"

    # the first order: the checkout shows the new-user price, the order costs it
    page.goto(f"/s/{tree.storefront.slug}/p/{tree.sku.code}/")
    follow(page, page.get_by_test_id("buy"))
    assert page.url.endswith(checkout)
    offer = page.get_by_test_id("checkout-campaign")
    assert "新人专享" in offer.inner_text() and page.get_by_test_id("checkout-campaign-price").inner_text() == "¥19.90"
    assert page.get_by_test_id("checkout-consumer").is_visible() and page.locator("input[name=lookup_password]").count() == 0
    problems += page_problems(page, errors, width=390, internal=internal, language="en")
    follow(page, page.get_by_test_id("checkout-submit"))
    assert page.get_by_test_id("pay-amount").inner_text() == "¥19.90"
    pay_in_sandbox(page)
    first = Order.objects.get()
    assert (first.total, first.promotion, first.discount_platform) == (Decimal("19.90"), campaign, Decimal("10.00"))
    assert "¥10.00" in page.get_by_test_id("receipt-discount").inner_text()
    problems += page_problems(page, errors, width=390, internal=internal, language="en")

    # the second order: no new-user price on the page, the list price paid
    page.goto(checkout)
    assert page.get_by_test_id("checkout-campaign").count() == 0
    assert page.get_by_test_id("checkout-price").inner_text() == "¥29.90"
    follow(page, page.get_by_test_id("checkout-submit"))
    assert page.get_by_test_id("pay-amount").inner_text() == "¥29.90"
    pay_in_sandbox(page)
    second = Order.objects.exclude(pk=first.pk).get()
    assert (second.total, second.promotion, second.discount) == (Decimal("29.90"), None, Decimal("0.00"))
    assert page.get_by_test_id("receipt-discount").count() == 0
    assert CampaignUse.objects.filter(campaign=campaign).count() == 1
    problems += page_problems(page, errors, width=390, internal=internal, language="en")
    assert not problems, "\n".join(problems)


def test_a_bundle_is_paid_once_and_all_its_codes_arrive_together(new_page, live_server, settings):
    settings.SITE_URL = live_server.url
    tree = tree_make()
    campaign, other = bundle(tree)  # ¥39.90: one of the tree's SKU and two of another
    campaign.storefront = tree.storefront
    campaign.save(update_fields=["storefront"])
    consumer = Consumer.objects.create(phone=NUMBER)
    internal = stored_values("settlement", "marketing")
    page = new_page(device=PHONE, locale="zh-CN")
    errors = watch_console(page)
    signed_in(page, live_server, consumer)
    problems = []

    # the bundle's page: its parts and its price
    page.goto(f"/s/{tree.storefront.slug}/bundle/{campaign.pk}/")
    parts = page.get_by_test_id("bundle-parts").inner_text()
    assert f"{tree.sku.name} × 1" in parts and f"{other.name} × 2" in parts
    assert page.get_by_test_id("bundle-price").inner_text() == "¥39.90"
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")

    # one payment for the whole bundle
    follow(page, page.get_by_test_id("bundle-submit"))
    assert page.get_by_test_id("pay-amount").inner_text() == "¥39.90"
    assert page.get_by_test_id("pay-what").inner_text() == campaign.name
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")
    pay_in_sandbox(page)
    lead = Order.objects.get(number=page.get_by_test_id("receipt-number").inner_text())
    basket = Order.objects.filter(basket=lead.number)
    assert basket.count() == 2 and set(basket.values_list("status", flat=True)) == {Order.Status.DELIVERED}
    # the receipt: the bundle, each component, and what was paid (not the lead component's share)
    assert page.get_by_test_id("receipt-bundle").inner_text() == campaign.name
    assert page.get_by_test_id("receipt-line").all_inner_texts() == [f"{tree.sku.name} × 1", f"{other.name} × 2"]
    assert page.get_by_test_id("receipt-total").inner_text() == "¥39.90"
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")

    # every component's codes on one private page
    follow(page, page.get_by_test_id("receipt-codes"))
    cards = page.get_by_test_id("held-code")
    assert cards.count() == 3
    names = [cards.nth(i).inner_text() for i in range(3)]
    assert sum(tree.sku.name in n for n in names) == 1 and sum(other.name in n for n in names) == 2
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")
    assert not problems, "\n".join(problems)


def test_a_bundle_with_a_component_out_of_stock_says_so_and_reserves_nothing(new_page, live_server):
    tree = tree_make()
    campaign, other = bundle(tree, extra_codes=1)  # two of the second SKU wanted, one code left
    page = new_page(device=PHONE, locale="zh-CN")
    errors = watch_console(page)
    signed_in(page, live_server, Consumer.objects.create(phone=NUMBER))

    page.goto(f"/s/{tree.storefront.slug}/bundle/{campaign.pk}/")
    follow(page, page.get_by_test_id("bundle-submit"))
    assert f"/bundle/{campaign.pk}/" in page.url
    form = page.get_by_test_id("bundle-form").inner_text()
    assert f"礼包中的「{other.name}」暂时售罄，未预留任何商品，也未扣款。" in form, form
    problems = page_problems(page, errors, width=390, internal=stored_values("settlement", "marketing"), language="zh-hans")
    assert not problems, "\n".join(problems)
    assert not Order.objects.exists() and not CampaignUse.objects.exists()
    assert CardCode.objects.filter(sku=tree.sku, status=CardCode.Status.AVAILABLE).count() == 30
    assert CardCode.objects.filter(sku=other, status=CardCode.Status.AVAILABLE).count() == 1
