"""A consumer on a 390 px phone, in Chinese: /me/ → sign in with the mobile number (the code read from the
console SMS outbox) → their orders on /me/ → the receipt of their order → sign out. No page scrolls sideways,
shows an internal value or an ISO timestamp, logs a console error or breaks the Content-Security-Policy."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from redemption.notify import ConsoleSmsBackend
from settlement.models import Order
from tests.browser.conftest import PHONE, follow
from tests.browser.pagecheck import page_problems, stored_values, watch_console
from tests.settlement.conftest import tree_make

pytestmark = pytest.mark.django_db(transaction=True)
NUMBER = "13800138000"


def bought(tree, contact: str) -> Order:
    """An order placed and paid in another browser (the consumer's earlier visit)."""
    buyer = Client()
    url = reverse("settlement:checkout", args=[tree.storefront.slug, tree.sku.code])
    body = {"quantity": 1, "contact": contact, "lookup_password": "secret-123", "pay_method": "sandbox"}
    pay_url = buyer.post(url, body)["Location"]
    buyer.post(pay_url, {"result": "pay"})
    return Order.objects.order_by("-pk").first()


def test_a_consumer_signs_in_by_sms_code_on_a_phone_and_sees_their_orders(new_page, live_server, settings):
    settings.SITE_URL = live_server.url
    tree = tree_make()
    mine = bought(tree, "138 0013 8000")
    theirs = bought(tree, "13900139000")
    ConsoleSmsBackend.outbox.clear()
    internal = stored_values("settlement", "marketing")
    page = new_page(device=PHONE, locale="zh-CN")
    errors = watch_console(page)
    problems = []

    # /me/ asks for a sign-in first
    page.goto("/me/")
    assert "/me/login/" in page.url and page.locator("[data-testid=consumer-login][data-step=phone]").count() == 1
    assert "手机号登录" in page.locator("h1").inner_text()
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")

    # a bad number is refused at the field, then the right one gets a code
    page.fill("input[name=phone]", "12345")
    follow(page, page.locator("[data-testid=phone-submit]"))
    assert page.locator("input[name=phone].is-invalid").count() == 1 and not ConsoleSmsBackend.outbox
    page.fill("input[name=phone]", "138 0013 8000")
    follow(page, page.locator("[data-testid=phone-submit]"))
    assert "138****8000" in page.locator("[data-testid=code-sent]").inner_text()
    assert page.locator("[data-testid=resend]").is_disabled()  # the timer runs (static JS, CSP script-src 'self')
    assert "秒后可重新获取" in page.locator("[data-testid=resend]").inner_text()
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")
    (message,) = ConsoleSmsBackend.outbox
    code = re.search(r"\b(\d{6})\b", message.text).group(1)
    assert message.to == NUMBER and "登录验证码" in message.text

    # a wrong code first, then the right one
    page.fill("input[name=code]", f"{(int(code) + 1) % 10**6:06d}")
    follow(page, page.locator("[data-testid=code-submit]"))
    assert "验证码错误" in page.locator("main").inner_text()
    page.fill("input[name=code]", code)
    follow(page, page.locator("[data-testid=code-submit]"))

    # /me/: their order only, with its receipt
    assert page.url.endswith("/me/")
    orders = page.locator("[data-testid=me-order]")
    assert orders.count() == 1 and orders.first.get_attribute("data-number") == mine.number
    assert theirs.number not in page.content()
    assert "已发货" in orders.first.inner_text() or "已付款" in orders.first.inner_text()
    assert page.locator("[data-testid=me-no-coupons]").is_visible() and page.locator("[data-testid=me-no-groups]").is_visible()
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")
    follow(page, page.locator("[data-testid=me-order-receipt]"))
    assert mine.number in page.locator("[data-testid=receipt-number]").inner_text()
    problems += page_problems(page, errors, width=390, internal=internal, language="zh-hans")

    # sign out: /me/ asks again
    page.goto("/me/")
    follow(page, page.locator("[data-testid=consumer-logout]"))
    assert "/me/login/" in page.url
    page.goto("/me/")
    assert "/me/login/" in page.url
    assert not problems, "\n".join(problems)
