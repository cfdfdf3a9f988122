"""Direct top-ups as people meet them (issue 15): a distributor buys one in the portal, a consumer at a storefront
on a phone; both pages then show the top-up's account and outcome in words, in Chinese and in English, without
sideways scrolling, internal values, ISO timestamps or console errors."""

import pytest

from settlement.models import Order
from supply.models import Topup
from tests.browser.conftest import DESKTOP, PHONE, follow, login
from tests.browser.pagecheck import choice_values, page_problems, stored_values, watch_console
from tests.factories import PASSWORD
from tests.settlement.conftest import tree_make
from tests.settlement.topup_fixtures import finish, topup_world_make

pytestmark = pytest.mark.django_db(transaction=True)

INTERNAL = stored_values("settlement", "channels") | choice_values(Topup.Status)
LANGUAGE = {"zh-CN": "zh-hans", "en-US": "en"}


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["390px", "1366px"])
def test_a_distributor_buys_a_top_up_and_sees_its_outcome(new_page, finance_user, locale, device):
    tree = tree_make()
    world = topup_world_make(tree, finance_user)
    page = new_page(device=device, locale=locale)
    errors = watch_console(page)
    width = device["viewport"]["width"]
    login(page, "seller", PASSWORD)
    page.goto("/portal/buy/")
    problems = page_problems(page, errors, width=width, internal=INTERNAL, language=LANGUAGE[locale])
    form = page.get_by_test_id("order-form")
    form.locator("select[name=sku]").select_option(world.sku.code)
    form.locator("input[name=account]").fill("12345")
    follow(page, form.locator("button[type=submit]"))
    assert page.locator("input[name=account].is-invalid").count() == 1  # the error is on the field
    form = page.get_by_test_id("order-form")
    form.locator("input[name=account]").fill("138 0013 8000")
    follow(page, form.locator("button[type=submit]"))
    assert "13800138000" in page.get_by_test_id("quote-account").inner_text()
    problems += page_problems(page, errors, width=width, internal=INTERNAL, language=LANGUAGE[locale])
    follow(page, page.get_by_test_id("confirm-order"))
    order = Order.objects.get()
    assert order.status == Order.Status.PAID and page.get_by_test_id("topup-card").is_visible()
    finish(order, "partial", delivered="20.00")
    for url in (f"/portal/orders/{order.number}/", "/portal/orders/"):
        page.goto(url)
        assert page.get_by_test_id("topup-state").first.is_visible()
        problems += page_problems(page, errors, width=width, internal=INTERNAL, language=LANGUAGE[locale])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_consumer_tops_up_a_phone_and_the_receipt_says_how_it_went(new_page, finance_user, locale):
    tree = tree_make()
    world = topup_world_make(tree, finance_user)
    page = new_page(device=PHONE, locale=locale)
    errors = watch_console(page)
    page.goto(f"/s/{tree.storefront.slug}/p/{world.sku.code}/buy/")
    problems = page_problems(page, errors, width=390, internal=INTERNAL, language=LANGUAGE[locale])
    page.fill("input[name=account]", "13800138000")
    page.fill("input[name=contact]", "buyer@example.test")
    page.fill("input[name=lookup_password]", "secret-123")
    follow(page, page.locator("[data-testid=checkout-submit]"))
    follow(page, page.locator("[data-testid=sandbox-pay]"))
    assert page.get_by_test_id("receipt-topup-state").is_visible()
    problems += page_problems(page, errors, width=390, internal=INTERNAL, language=LANGUAGE[locale])
    finish(Order.objects.get(), "failed", cost=None)
    page.reload()
    assert page.get_by_test_id("receipt-refunded").is_visible()
    problems += page_problems(page, errors, width=390, internal=INTERNAL, language=LANGUAGE[locale])
    assert not problems, "\n".join(problems)
