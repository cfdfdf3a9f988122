"""Issue 13, the distributor portal as a person meets it.

* buy → confirm → pay (from the wallet) → codes, as one journey;
* every page of the portal's one menu, in Chinese and English, at 1366 px and 390 px: each page has the whole
  menu with itself marked, and fails on an untranslated internal status value, an ISO timestamp, an element
  wider than the window, a console error or a Content-Security-Policy violation (new_page reports those)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.vault import keyring
from channels.models import Distributor, QuotaMovement
from channels.services import staff_add
from settlement.models import Account, CodeIssue, CommissionAccrual, Order, OrderItem, Payment, Statement, Transfer, Withdrawal
from settlement.services.commission import commission_release
from settlement.services.orders import order_place
from settlement.services.statements import statement_generate
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_request
from tests import factories
from tests.browser.conftest import DESKTOP, PHONE, follow, login
from tests.browser.pagecheck import choice_values, page_problems, too_wide, watch_console
from tests.factories import PASSWORD
from tests.settlement.conftest import fund, tree_make
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)

# Every page the portal's menu must hold, by the name its link carries (data-testid="portal-link-<name>").
MENU = [
    "portal-home",
    "portal-buy",
    "portal-orders",
    "portal-prices",
    "portal-quotas",
    "portal-storefront",
    "portal-wallet",
    "portal-commission",
    "portal-withdrawals",
    "portal-statements",
    "portal-downline",
    "portal-invitations",
    "portal-api-keys",
]
# Internal values that must never be read as a word on a page: every stored status, kind, channel and payment
# value a portal page can show.
INTERNAL = choice_values(
    Order.Status,
    Order.Channel,
    Order.PayMethod,
    Order.Hold,
    OrderItem.State,
    CommissionAccrual.Status,
    Withdrawal.Status,
    Statement.Status,
    Statement.Kind,
    Transfer.Kind,
    Account.Kind,
    Payment.Status,
    CodeIssue.Status,
    Distributor.Status,
    QuotaMovement.Kind,
) | {"due"}


def plain(code) -> str:
    return keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


@pytest.fixture
def busy_tree(transactional_db, finance_user, settings):
    """The tree of tests/settlement with a middle distributor whose every portal list has rows: its own order,
    its downline's sales (commission, one frozen, one whose freeze is over, one released), a withdrawal and a
    statement."""
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    tree = tree_make()
    user = factories.UserFactory(username="mid-owner", role=roles.DISTRIBUTOR)
    staff_add(distributor=tree.mid, user=user, is_owner=True)
    fund(tree.seller, "500.00", actor=finance_user)
    fund(tree.mid, "300.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.mid, sku=tree.sku, quantity=2)
    for _ in range(3):
        order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=4)
    accruals = list(wallet_for(tree.mid).commissions.order_by("pk"))
    commission_release(accrual=accruals[0])
    CommissionAccrual.objects.filter(pk=accruals[1].pk).update(release_after=timezone.now() - timedelta(hours=2))
    withdrawal_request(wallet=wallet_for(tree.mid), amount=Decimal("2.00"), payee="工商银行 6222 0000 1111", actor=user)
    now = timezone.now()
    statement_generate(wallet=wallet_for(tree.mid), start=now - timedelta(days=7), end=now + timedelta(hours=1))
    return tree


def check_page(page, errors: list[str], *, width: int) -> list[str]:
    """What is wrong on the page shown: the menu, internal values, ISO timestamps, width, console errors."""
    problems = page_problems(page, errors, width=width, internal=INTERNAL)
    where = page.url
    nav = page.get_by_test_id("portal-nav")
    names = [n.removeprefix("portal-link-") for n in nav.locator("a").evaluate_all("els => els.map(e => e.dataset.testid)")]
    missing = [name for name in MENU if name not in names]
    if missing:
        problems.append(f"{where}: the menu lacks {missing}")
    if nav.locator("a[aria-current=page]").count() != 1:
        problems.append(f"{where}: the menu does not mark the current page once")
    toggle = page.get_by_test_id("portal-menu-toggle")
    if toggle.is_visible():  # a phone: the menu opens from its button and every link fits the screen
        toggle.click()
        page.locator("#vh-portal-menu.show").wait_for()
    for link in nav.locator("a").all():
        box = link.bounding_box()
        if not link.is_visible() or box is None or box["x"] < 0 or box["x"] + box["width"] > width:
            problems.append(f"{where}: the menu link {link.inner_text()!r} is not on the screen")
    opened = too_wide(page, width)
    if opened:
        problems.append(f"{where}: with the menu open, {opened}")
    if errors:
        problems.append(f"{where}: console errors: {list(errors)}")
        errors.clear()
    return problems


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_every_portal_menu_page_reads_as_a_product(new_page, busy_tree, locale, device):
    page = new_page(device=device, locale=locale)
    errors = watch_console(page)
    width = device["viewport"]["width"]
    login(page, "mid-owner", PASSWORD)
    problems = check_page(page, errors, width=width)
    links = page.get_by_test_id("portal-nav").locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    for href in links:
        page.goto(href)
        page.wait_for_load_state("networkidle")
        problems += check_page(page, errors, width=width)
    # an order's own page (its history) belongs to Orders
    number = Order.objects.filter(distributor=busy_tree.mid).latest("pk").number
    page.goto(f"/portal/orders/{number}/")
    problems += check_page(page, errors, width=width)
    current = page.get_by_test_id("portal-nav").locator("a[aria-current=page]")
    assert current.get_attribute("data-testid") == "portal-link-portal-orders"
    assert not problems, "\n".join(problems)


def test_distributor_buys_confirms_pays_and_reveals_and_copies_its_codes(new_page, busy_tree):
    tree = busy_tree
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    errors = watch_console(page)
    login(page, "mid-owner", PASSWORD)

    # buy: from the menu, the SKU with its price and stock; a sold-out one is marked and cannot be chosen
    follow(page, page.get_by_test_id("portal-link-portal-buy"))
    assert page.get_by_test_id(f"buy-option-{tree.sku.code}").is_visible()
    form = page.get_by_test_id("order-form")
    form.get_by_label("商品").select_option(tree.sku.code)
    form.get_by_label("数量").fill("3")
    follow(page, form.get_by_role("button", name="继续"))

    # confirm: unit price, quantity, total and the wallet after, before anything is placed
    assert page.get_by_test_id("quote-unit-price").inner_text() == "¥25.00"
    assert page.get_by_test_id("quote-quantity").inner_text() == "3"
    assert page.get_by_test_id("quote-total").inner_text() == "¥75.00"
    balance = wallet_for(tree.mid).accounts.get(kind="wallet").balance
    assert page.get_by_test_id("quote-balance-after").inner_text() == f"¥{balance - Decimal('75.00'):,.2f}"
    assert Order.objects.filter(distributor=tree.mid).count() == 1

    # pay: from the wallet; the order is delivered and its history reads in words
    follow(page, page.get_by_test_id("confirm-order"))
    order = Order.objects.filter(distributor=tree.mid).latest("pk")
    assert order.quantity == 3 and order.total == Decimal("75.00")
    assert page.get_by_test_id("order-status").inner_text() == "已发货"
    history = page.get_by_test_id("order-events").inner_text()
    assert "已支付 → 已发货" in history and "钱包" in history and "wallet" not in history

    # codes: after the password, each code with a copy button that puts it on the clipboard
    codes_form = page.get_by_test_id("codes-form")
    codes_form.get_by_label("您的密码").fill(PASSWORD)
    follow(page, codes_form.get_by_role("button", name="显示卡密"))
    shown = page.get_by_test_id("revealed-code").all_inner_texts()
    assert sorted(shown) == sorted(plain(item.code) for item in order.items.select_related("code"))
    page.get_by_test_id("copy-code").first.click()
    page.wait_for_selector("[data-testid=copy-code][data-copy-done]")
    assert page.evaluate("navigator.clipboard.readText()") == shown[0]
    assert not errors, errors
