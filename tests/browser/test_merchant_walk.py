"""Issue 13's acceptance for the merchant clerk: its main job and every page of the console's menu, in Chinese and
English, at 1366 px and 390 px.

* the main job: redeem a code at the console, then reverse that redemption on the list, with a reason;
* every page of the console's menu (redeem, redemptions, daily summary, statements and a statement) and the
  account pages of the user menu.

Each page fails on an internal value read as a word, an ISO timestamp, money not written as ¥1,234.50, a date in
the other language's format, an element wider than the window, a console error or a CSP violation (new_page)."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from redemption.models import MerchantClerk, Redemption
from redemption.services import Caller, CodeEntry, clerk_link, redemption_redeem, redemption_reverse, sku_price_set
from settlement.services.merchant_statements import merchant_statement_generate
from tests import factories
from tests.browser.conftest import DESKTOP, PHONE, follow, login
from tests.browser.pagecheck import page_problems, pages_problems, stored_values, watch_console
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)

APPS = ("redemption", "settlement", "catalog")
LANGUAGES = {"zh-CN": "zh-hans", "en": "en"}


def menu_follow(page, test_id: str) -> None:
    """Open a page from the top bar's menu by its link; on a phone the menu opens from its button first."""
    toggle = page.locator(".navbar-toggler")
    if toggle.is_visible():
        toggle.click()
        page.locator("#vh-nav.show").wait_for()
    follow(page, page.locator("#vh-nav").get_by_test_id(test_id))


@dataclass
class BusyShop:
    merchant: object
    store: object
    clerk: object  # the user
    coffee: object  # a single-use SKU
    card: object  # a stored-value SKU worth ¥1,200.00


def shop_make_busy() -> BusyShop:
    """A merchant with one store and a clerk, who today redeemed two coffees (one reversed) and ¥1,050.00 of a gift
    card worth ¥1,200.00."""
    merchant = factories.MerchantFactory(name="星巴克", code=f"m-{uuid.uuid4().hex[:8]}")
    store = factories.StoreFactory(merchant=merchant, name="南京西路店")
    coffee = factories.SkuFactory(name="星巴克中杯饮品券", face_value=Decimal("35.00"), allowed_merchant_ids=[merchant.pk])
    card = factories.SkuFactory(
        name="星巴克礼品卡", face_value=Decimal("1200.00"), is_stored_value=True, allowed_merchant_ids=[merchant.pk]
    )
    sku_price_set(merchant=merchant, sku=coffee, settlement_price=Decimal("30.00"))
    user = factories.UserFactory(username=f"clerk-{merchant.code}", role=roles.MERCHANT)
    clerk_link(user=user, merchant=merchant)
    caller = Caller.for_clerk(MerchantClerk.objects.get(user=user), store=store)
    done = []
    for sku, amount in ((coffee, None), (coffee, None), (card, Decimal("1050.00"))):
        _code, plaintext = factories.card_code(sku=sku)
        outcome = redemption_redeem(caller=caller, entry=CodeEntry(code=plaintext), idempotency_key=uuid.uuid4().hex, amount=amount)
        done.append(outcome)
    first = Redemption.objects.filter(merchant=merchant).order_by("pk").first()
    redemption_reverse(caller=caller, redemption_id=first.pk, idempotency_key=uuid.uuid4().hex, reason="顾客取消")
    return BusyShop(merchant=merchant, store=store, clerk=user, coffee=coffee, card=card)


@pytest.fixture
def shop(transactional_db, finance_user):
    shop = shop_make_busy()
    today = timezone.localdate()
    merchant_statement_generate(merchant=shop.merchant, start=today.replace(day=1), end=today, actor=finance_user)
    return shop


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_clerk_redeems_a_code_and_reverses_it_with_a_reason(new_page, shop, locale, device):
    page = new_page(device=device, locale=locale)
    errors = watch_console(page)
    width, language = device["viewport"]["width"], LANGUAGES[locale]
    internal = stored_values(*APPS)
    problems: list[str] = []

    def check() -> None:
        problems.extend(page_problems(page, errors, width=width, internal=internal, language=language))

    _code, plaintext = factories.card_code(sku=shop.coffee)
    login(page, shop.clerk.username, PASSWORD)
    assert page.url.endswith("/merchant/")
    check()

    # redeem: type the code, check it, redeem it; the today badge counts it
    field = page.get_by_test_id("code-input")
    field.fill(plaintext)
    field.press("Enter")
    page.get_by_test_id("redeem-button").click()
    expect(page.get_by_test_id("today-count")).to_have_text("4")
    check()
    redeemed = Redemption.objects.filter(merchant=shop.merchant).latest("pk")
    assert redeemed.status == Redemption.Status.COMPLETED and redeemed.sku == shop.coffee

    # reverse it on the list, with a reason
    menu_follow(page, "console-link-redemption:console-redemptions")
    check()
    page.on("dialog", lambda dialog: dialog.accept())
    reason = page.get_by_test_id(f"reason-{redeemed.pk}")
    reason.fill("收银员扫错")
    with page.expect_navigation():
        page.get_by_test_id(f"reverse-{redeemed.pk}").click()
    expect(page.get_by_test_id(f"reversed-{redeemed.pk}")).to_be_visible()
    check()
    redeemed.refresh_from_db()
    assert (redeemed.status, redeemed.reverse_reason) == (Redemption.Status.REVERSED, "收银员扫错")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_every_merchant_console_page_reads_as_a_product(new_page, shop, locale, device):
    page = new_page(device=device, locale=locale)
    errors = watch_console(page)
    width, language = device["viewport"]["width"], LANGUAGES[locale]
    internal = stored_values(*APPS)
    login(page, shop.clerk.username, PASSWORD)
    problems = page_problems(page, errors, width=width, internal=internal, language=language)

    # the console's menu, the user menu; the menu marks the page shown
    names = page.locator("#vh-nav a[data-testid^=console-link-]").evaluate_all("els => els.map(e => e.dataset.testid)")
    assert names == [
        "console-link-redemption:console",
        "console-link-redemption:console-redemptions",
        "console-link-redemption:console-summary",
        "console-link-settlement:console-statements",
        "console-link-dashboards:merchant-analytics",
    ], names
    hrefs = {name: page.get_by_test_id(name).get_attribute("href") for name in names}
    menu = page.locator("#vh-nav").locator("a.nav-link, a.dropdown-item").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    menu = [href for href in menu if href != "#"]
    problems += pages_problems(page, errors, menu, width=width, internal=internal, language=language)
    for name, href in hrefs.items():
        page.goto(href)
        marked = page.locator("#vh-nav a[aria-current=page]")
        if marked.count() != 1 or marked.get_attribute("data-testid") != name:
            problems.append(f"{page.url}: the console menu does not mark this page")
    # a statement, from the statements list
    page.goto(hrefs["console-link-settlement:console-statements"])
    statements = page.locator("main table a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert len(statements) == 1, statements
    problems += pages_problems(page, errors, statements, width=width, internal=internal, language=language)
    assert not problems, "\n".join(problems)
