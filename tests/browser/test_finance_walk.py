"""Issue 13's acceptance for finance: its main job and every page of its menus, in Chinese and English, at 1366 px
and 390 px.

* the main job: approve two withdrawals in bulk after a confirmation with their total, record a refund payout,
  open a statement and download its XLSX;
* every page finance's menus reach: the finance home, every page of the finance menu with the detail pages its
  lists link to, the account pages of the user menu, and the admin's index with every list it shows finance and
  the first row of each.

Each page fails on an internal value read as a word, an ISO timestamp, money not written as ¥1,234.50, a date in
the other language's format, an element wider than the window, a console error or a CSP violation (new_page)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from channels.models import Distributor
from settlement.models import Order, RefundPayout, Statement, Withdrawal
from settlement.services.commission import commission_release
from settlement.services.exports import export_start
from settlement.services.merchant_statements import merchant_statement_generate
from settlement.services.orders import order_place, order_refund
from settlement.services.payments import payment_for_order
from settlement.services.statements import statement_generate
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_approve, withdrawal_reject, withdrawal_request
from tests.browser.conftest import DESKTOP, PHONE, follow, login
from tests.browser.pagecheck import page_problems, pages_problems, stored_values, watch_console
from tests.browser.test_merchant_walk import shop_make_busy
from tests.factories import PASSWORD
from tests.settlement.conftest import fund, tree_make
from tests.settlement.test_refund_payouts import consumer_order

pytestmark = pytest.mark.django_db(transaction=True)

APPS = ("settlement", "redemption", "channels", "catalog", "riskcontrol", "core")
LANGUAGES = {"zh-CN": "zh-hans", "en": "en"}


@pytest.fixture
def books(transactional_db, finance_user, settings):
    """A few rows in every finance list: withdrawals waiting, approved and rejected; two
    refund payouts waiting and one paid; a bank transfer waiting; a distributor statement; a merchant statement;
    a finished export."""
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    tree = tree_make()
    # tree_make's neighbour is called "other", which is also a stored value the pages must never show
    Distributor.objects.filter(pk=tree.other.pk).update(name="华东渠道")
    fund(tree.seller, "5000.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=10)
    wallet = wallet_for(tree.mid)
    for accrual in wallet.commissions.all():
        commission_release(accrual=accrual)
    fund(tree.mid, "1500.00", actor=finance_user)  # amounts past a thousand: ¥1,500.00 on the wallets page
    waiting = [
        withdrawal_request(wallet=wallet, amount=Decimal(a), payee="工商银行 6222 0000 1111 2222", actor=None)
        for a in ("4.00", "3.50", "1.50")
    ]
    withdrawal_approve(withdrawal=waiting[2], actor=finance_user, payout_reference="ICBC-OLD-1")
    rejected = withdrawal_request(wallet=wallet, amount=Decimal("1.00"), payee="招商银行 6225", actor=None)
    withdrawal_reject(withdrawal=rejected, actor=finance_user, note="账户名不符")
    orders = [consumer_order(tree, finance_user) for _ in range(3)]
    for order in orders:
        order_refund(order=order, actor=finance_user, reason="wrong product", quantity=1)
    RefundPayout.objects.filter(order=orders[0]).update(
        status=RefundPayout.Status.PAID, payout_reference="ICBC-OUT-0", paid_at=timezone.now(), paid_by=finance_user
    )
    unpaid = order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=tree.seller,
        storefront=tree.storefront,
        sku=tree.sku,
        quantity=1,
        contact="buyer@example.test",
        lookup_password="secret-123",
        pay_method="manual",
    )
    payment_for_order(order=unpaid)
    now = timezone.now()
    statement_generate(wallet=wallet, start=now - timedelta(days=7), end=now + timedelta(hours=1), actor=finance_user)
    shop = shop_make_busy()
    today = timezone.localdate()
    merchant_statement_generate(merchant=shop.merchant, start=today.replace(day=1), end=today, actor=finance_user)
    export_start(kind="orders", fmt="xlsx", actor=finance_user, run_now=True)
    return tree


def menu_hrefs(page, test_id: str) -> list[str]:
    return page.get_by_test_id(test_id).locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")


def detail_hrefs(page, selector: str, limit: int = 1) -> list[str]:
    return page.locator(selector).evaluate_all("els => els.map(e => e.getAttribute('href'))")[:limit]


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_finance_approves_in_bulk_pays_back_a_refund_and_downloads_a_statement(new_page, books, finance_user, locale, device):
    page = new_page(device=device, locale=locale)
    errors = watch_console(page)
    width, language = device["viewport"]["width"], LANGUAGES[locale]
    internal = stored_values(*APPS)

    def check() -> None:
        problems.extend(page_problems(page, errors, width=width, internal=internal, language=language))

    problems: list[str] = []
    login(page, finance_user.username, PASSWORD)
    assert page.url.endswith("/dashboards/finance/")
    check()

    # withdrawals: tick two, the confirmation lists them with their total, confirm with the batch's reference
    follow(page, page.get_by_test_id("finance-nav").get_by_test_id("finance-link-finance-withdrawals"))
    check()
    waiting = list(Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED).order_by("pk"))
    for w in waiting[:2]:
        page.get_by_test_id(f"tick-{w.number}").check()
    follow(page, page.get_by_test_id("bulk-approve"))
    check()
    assert page.get_by_test_id("bulk-total").inner_text() == "¥7.50"
    page.get_by_test_id("bulk-reference").fill("ICBC-BATCH-1")
    follow(page, page.get_by_test_id("bulk-confirm"))
    check()
    approved = Withdrawal.objects.filter(status=Withdrawal.Status.APPROVED, payout_reference="ICBC-BATCH-1")
    assert set(approved.values_list("pk", flat=True)) == {w.pk for w in waiting[:2]}

    # a refund paid back by bank transfer
    follow(page, page.get_by_test_id("finance-nav").get_by_test_id("finance-link-finance-refund-payouts"))
    check()
    payout = RefundPayout.objects.filter(status=RefundPayout.Status.AWAITING).order_by("pk").first()
    row = page.get_by_test_id(f"refund-payout-{payout.reference}")
    row.locator("input[name=payout_reference]").fill("ICBC-OUT-9")
    follow(page, row.get_by_test_id("record-payout"))
    check()
    payout.refresh_from_db()
    assert (payout.status, payout.payout_reference) == (RefundPayout.Status.PAID, "ICBC-OUT-9")

    # a statement, opened from its list, and its spreadsheet
    follow(page, page.get_by_test_id("finance-nav").get_by_test_id("finance-link-finance-statements"))
    check()
    statement = Statement.objects.get()
    follow(page, page.get_by_role("link", name=statement.number))
    check()
    with page.expect_download() as download:
        page.get_by_test_id("statement-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as xlsx:
        assert xlsx.read(2) == b"PK"  # a zip, as every XLSX
    check()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_every_finance_menu_page_reads_as_a_product(new_page, books, finance_user, locale, device):
    page = new_page(device=device, locale=locale)
    errors = watch_console(page)
    width, language = device["viewport"]["width"], LANGUAGES[locale]
    internal = stored_values(*APPS)
    login(page, finance_user.username, PASSWORD)
    problems = page_problems(page, errors, width=width, internal=internal, language=language)

    # the finance menu is on every finance page, the home included, with the page shown marked
    hrefs = menu_hrefs(page, "finance-nav")
    assert len(hrefs) == 9, hrefs
    for href in hrefs:
        page.goto(href)
        marked = page.get_by_test_id("finance-nav").locator("a[aria-current=page]")
        if marked.count() != 1 or marked.get_attribute("href") != href:
            problems.append(f"{href}: the finance menu does not mark this page")
    problems += pages_problems(page, errors, hrefs, width=width, internal=internal, language=language)

    # the pages its lists link to: a statement, a merchant statement
    page.goto("/finance/statements/")
    details = detail_hrefs(page, "main table a")
    page.goto("/finance/merchant-statements/")
    details += detail_hrefs(page, "main table a")
    assert len(details) == 2, details
    # the top bar and the user menu
    page.goto("/dashboards/finance/")
    top = page.locator("#vh-nav").locator("a.nav-link, a.dropdown-item").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    problems += pages_problems(
        page, errors, details + [href for href in top if href != "#"], width=width, internal=internal, language=language
    )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("device", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_every_admin_page_finance_opens_reads_as_a_product(new_page, books, finance_user, locale, device):
    page = new_page(device=device, locale=locale)
    errors = watch_console(page)
    width, language = device["viewport"]["width"], LANGUAGES[locale]
    internal = stored_values(*APPS)
    login(page, finance_user.username, PASSWORD)
    page.goto("/admin/")
    problems = page_problems(page, errors, width=width, internal=internal, language=language)
    lists = sorted(
        set(
            page.locator("main a[href^='/admin/'], #content a[href^='/admin/']").evaluate_all(
                "els => els.map(e => e.getAttribute('href')).filter(h => /^\\/admin\\/\\w+\\/\\w+\\/$/.test(h))"
            )
        )
    )
    assert len(lists) >= 20, lists
    for href in lists:
        problems += pages_problems(page, errors, [href], width=width, internal=internal, language=language)
        first = page.locator("#result_list tbody tr th a, #result_list tbody tr td a").first
        if first.count():
            problems += pages_problems(page, errors, [first.get_attribute("href")], width=width, internal=internal, language=language)
    assert not problems, "\n".join(problems)
