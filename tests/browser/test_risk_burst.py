"""What a shopper who bursts sees: with the demo's starting rules, the checkout past the hourly limit per address
asks for the characters in a picture, in Chinese, within the Content-Security-Policy (new_page fails the test on
any violation), and lets a person who reads the picture through."""

import io

import pytest
from captcha.models import CaptchaStore

from riskcontrol import counters, demo, engine
from settlement.models import Order
from tests.browser.conftest import PHONE, follow
from tests.riskcontrol.conftest import Clock
from tests.settlement.conftest import tree_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(transactional_db, monkeypatch):
    # The counters' clock held at the start of an hour: the page's hourly limit cannot straddle two windows.
    monkeypatch.setattr(counters, "clock", Clock(start=float(int(counters.clock() // 86400) * 86400 + 86400 * 3)))
    demo.seed(io.StringIO())
    engine.rules_changed()
    return tree_make()


def checkout(page, shop, *, quantity: int, contact: str) -> None:
    page.goto(f"/s/{shop.storefront.slug}/p/{shop.sku.code}/")
    follow(page, page.get_by_test_id("buy"))
    form = page.get_by_test_id("checkout-form")
    form.get_by_label("数量").fill(str(quantity))
    form.get_by_label("手机号或电子邮箱").fill(contact)
    form.get_by_label("查询密码").fill("my-secret-1")
    follow(page, page.get_by_test_id("checkout-submit"))


def test_a_shopper_past_the_hourly_limit_is_challenged_in_chinese_and_a_person_gets_through(new_page, shop):
    # 20 codes from this address within the hour, 10 from each of two phones (a phone's own hourly limit is
    # 10: each browser keeps a device id cookie): that is the address's limit, still two orders
    for n in range(2):
        phone = new_page(device=PHONE)
        checkout(phone, shop, quantity=10, contact=f"buyer{n}@example.test")
        assert phone.get_by_test_id("sandbox-pay").is_visible()
    assert Order.objects.count() == 2

    # one more, from a third phone: the checkout stays, asks for the picture's characters, and writes no order
    page = new_page(device=PHONE)
    checkout(page, shop, quantity=1, contact="13800138000")
    form = page.get_by_test_id("checkout-form")
    assert form.get_by_text("请输入图中的字符后继续。").is_visible()
    challenge = page.get_by_test_id("challenge")
    picture = challenge.get_by_role("img", name="验证图片")
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0"), "the challenge picture did not load"
    assert form.get_by_label("数量").input_value() == "1" and form.get_by_label("手机号或电子邮箱").input_value() == "13800138000"
    assert Order.objects.count() == 2

    # a wrong answer: told so in Chinese, a new picture, still no order
    first_key = challenge.locator("input[name=challenge_key]").input_value()
    challenge.get_by_label("请输入图中的字符").fill("xxxxx")
    follow(page, page.get_by_test_id("checkout-submit"))
    assert page.get_by_test_id("checkout-form").get_by_text("字符不匹配，请看新图片再试。").first.is_visible()
    assert page.get_by_test_id("challenge").locator("input[name=challenge_key]").input_value() != first_key
    assert Order.objects.count() == 2

    # "another picture" swaps the challenge in place (htmx, under the CSP)
    challenge = page.get_by_test_id("challenge")
    shown_key = challenge.locator("input[name=challenge_key]").input_value()
    with page.expect_response(lambda response: "/risk/challenge/" in response.url):
        challenge.get_by_role("button", name="换一张").click()
    key_input = page.get_by_test_id("challenge").locator("input[name=challenge_key]")
    page.wait_for_function("old => document.querySelector('input[name=challenge_key]').value !== old", arg=shown_key)
    key = key_input.input_value()

    # the person reads the picture and types it: the order is placed and waits for its payment
    page.get_by_test_id("challenge").get_by_label("请输入图中的字符").fill(CaptchaStore.objects.get(hashkey=key).response)
    form = page.get_by_test_id("checkout-form")
    form.get_by_label("查询密码").fill("my-secret-1")
    follow(page, page.get_by_test_id("checkout-submit"))
    assert page.get_by_test_id("sandbox-pay").is_visible()
    assert Order.objects.count() == 3 and Order.objects.filter(contact="13800138000", quantity=1).exists()
