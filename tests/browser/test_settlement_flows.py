"""Browser paths of settlement: a consumer buys on a storefront and sees its code; a distributor orders in the
portal and downloads its codes; finance approves a withdrawal and downloads a statement as XLSX.
Every page is checked for Content-Security-Policy violations (no inline script or style)."""

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from catalog.vault import keyring
from settlement.models import Order, Withdrawal
from settlement.services.commission import commission_release
from settlement.services.orders import order_place
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_request
from tests.browser.conftest import PHONE, follow, login
from tests.factories import PASSWORD
from tests.settlement.conftest import fund, tree_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tree(transactional_db):
    return tree_make()


def plain(code) -> str:
    return keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


def watch_csp(page) -> list[str]:
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    return problems


def test_consumer_buys_on_a_storefront_with_the_sandbox_and_sees_its_code(new_page, tree):
    page = new_page(device=PHONE)
    csp = watch_csp(page)
    page.goto(f"/s/{tree.storefront.slug}/p/{tree.sku.code}/")
    follow(page, page.get_by_test_id("buy"))
    form = page.get_by_test_id("checkout-form")
    form.get_by_label("手机号或电子邮箱").fill("buyer@example.test")
    form.get_by_label("查询密码").fill("my-secret-1")
    follow(page, page.get_by_test_id("checkout-submit"))
    page.get_by_test_id("sandbox-pay").click()
    page.wait_for_url("**/receipt/**")  # the buyer lands on the order's receipt
    order = Order.objects.get()
    assert order.status == Order.Status.DELIVERED
    # and finds the order again later through the lookup form
    page.goto(f"/orders/lookup/?number={order.number}")
    lookup = page.get_by_test_id("lookup-form")
    assert lookup.get_by_label("订单号").input_value() == order.number
    lookup.get_by_label("邮箱或手机号").fill("buyer@example.test")
    lookup.get_by_label("查询密码").fill("my-secret-1")
    follow(page, lookup.get_by_role("button"))
    shown = page.get_by_test_id("lookup-codes").inner_text()
    assert plain(order.items.get().code) in shown
    assert not csp, csp


def order_form_send(page, tree, *, quantity: int) -> None:
    """Send the portal's order form for `quantity` of the tree's SKU: the confirmation is shown."""
    page.goto("/portal/buy/")
    form = page.get_by_test_id("order-form")
    form.get_by_label("商品").select_option(tree.sku.code)
    form.get_by_label("数量").fill(str(quantity))
    follow(page, form.locator("button[type=submit]"))


def order_in_portal(page, tree, *, quantity: int) -> None:
    """The seller logs in, sends the portal's order form for `quantity` of the tree's SKU and confirms it."""
    login(page, tree.seller_user.username, PASSWORD)
    order_form_send(page, tree, quantity=quantity)
    follow(page, page.get_by_test_id("confirm-order"))


def test_distributor_orders_in_the_portal_and_downloads_its_codes(new_page, tree, finance_user):
    fund(tree.seller, "200.00", actor=finance_user)
    page = new_page()
    csp = watch_csp(page)
    order_in_portal(page, tree, quantity=3)
    assert page.get_by_test_id("order-status").inner_text() == "已发货"
    order = Order.objects.get()
    codes = page.get_by_test_id("codes-form")
    codes.get_by_label("您的密码").fill(PASSWORD)
    with page.expect_download() as download_info:
        codes.get_by_role("button", name="下载卡密（CSV）").click()
    text = open(download_info.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["code"] for r in rows) == sorted(plain(i.code) for i in order.items.select_related("code"))
    page.goto("/portal/wallet/")
    assert page.get_by_test_id("wallet-balance").inner_text() == "¥122.00"
    assert not csp, csp


def test_finance_approves_a_withdrawal_and_downloads_a_statement_as_xlsx(new_page, tree, finance_user, settings):
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    fund(tree.seller, "500.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=10)
    for accrual in wallet_for(tree.mid).commissions.all():
        commission_release(accrual=accrual)
    withdrawal = withdrawal_request(wallet=wallet_for(tree.mid), amount=Decimal("10.00"), payee="工商银行 6222 0000 1111", actor=None)
    page = new_page()
    csp = watch_csp(page)
    login(page, finance_user.username, PASSWORD)
    page.goto("/dashboards/finance/")
    assert page.get_by_test_id("withdrawals-pending").inner_text() == "1"
    assert page.get_by_test_id("ledger-status").inner_text() == "平衡"
    follow(page, page.get_by_role("link", name="处理"))
    row = page.get_by_test_id(f"withdrawal-{withdrawal.number}")
    row.get_by_placeholder("打款流水号").fill("ICBC-20261123-77")
    follow(page, row.get_by_test_id("approve"))
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.APPROVED and withdrawal.payout_reference == "ICBC-20261123-77"

    follow(page, page.get_by_test_id("finance-nav").get_by_role("link", name="对账单", exact=True))
    page.select_option("select[name=distributor]", label="seller")
    from django.utils import timezone

    today = timezone.localdate().isoformat()
    page.fill("input[name=start]", today)
    page.fill("input[name=end]", today)
    follow(page, page.get_by_role("button", name="生成对账单"))
    assert page.get_by_test_id("statement-closing").inner_text() == "¥240.00"
    with page.expect_download() as download_info:
        page.get_by_test_id("statement-xlsx").click()
    assert download_info.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(open(download_info.value.path(), "rb").read()))
    lines = list(book.worksheets[1].iter_rows(values_only=True))
    assert lines[0][0] == "分录号" and len(lines) == 3  # header (in the reader's language), top-up, purchase
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_test_id("reconcile").click()
    assert page.get_by_test_id("statement-status").inner_text() == "已对账"
    assert not csp, csp


def test_finance_makes_a_merchant_statement_downloads_it_as_xlsx_and_reconciles_it(new_page, transactional_db, finance_user):
    from django.test import Client
    from django.utils import timezone

    from redemption.services import sku_price_set
    from tests import factories
    from tests.redemption.conftest import TerminalClient, shop_make

    shop = shop_make("星巴克")
    pos = TerminalClient(client=Client(), terminal=shop.terminal, secret=shop.secret)
    sku = factories.SkuFactory(face_value=Decimal("35.00"), allowed_merchant_ids=[shop.merchant.pk])
    sku_price_set(merchant=shop.merchant, sku=sku, settlement_price=Decimal("30.00"))
    plaintexts = []
    for _ in range(2):
        _code, plaintext = factories.card_code(sku=sku)
        plaintexts.append(plaintext)
        assert pos.redeem({"code": plaintext}).status_code == 201

    page = new_page()
    csp = watch_csp(page)
    login(page, finance_user.username, PASSWORD)
    page.goto("/finance/withdrawals/")
    follow(page, page.get_by_test_id("finance-nav").get_by_role("link", name="商户对账单"))
    form = page.get_by_test_id("merchant-statement-form")
    form.get_by_label("商户").select_option(label="星巴克")
    today = timezone.localdate().isoformat()
    form.get_by_label("起始").fill(today)
    form.get_by_label("截至（含）").fill(today)
    follow(page, form.get_by_role("button", name="生成对账单"))
    assert page.get_by_test_id("merchant-statement-owed").inner_text() == "¥60.00"
    assert page.get_by_test_id("merchant-statement-count").inner_text() == "2"
    with page.expect_download() as download_info:
        page.get_by_test_id("merchant-statement-xlsx").click()
    assert download_info.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(open(download_info.value.path(), "rb").read()))
    lines = list(book.worksheets[1].iter_rows(values_only=True))
    assert lines[0][0] == "门店编码" and lines[1][4] == 2 and float(lines[1][7]) == 60.0
    redemptions = list(book.worksheets[2].iter_rows(values_only=True))
    assert len(redemptions) == 3
    cells = " ".join(str(c) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for c in row)
    assert all(p not in cells for p in plaintexts)
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_test_id("merchant-statement-reconcile").click()
    assert page.get_by_test_id("merchant-statement-status").inner_text() == "已对账"
    assert not csp, csp


def test_a_distributor_asked_for_the_picture_in_the_portal_answers_it_and_gets_the_order(new_page, tree, finance_user, settings):
    from captcha.models import CaptchaStore

    from riskcontrol.models import Channel, RiskRule
    from tests.riskcontrol.conftest import make_rule

    settings.RISK_RULES_RECHECK_SECONDS = 0  # the live server's thread reads the new rule on its next request
    make_rule(
        name="门户单笔 ¥10 以上需验证",
        kind=RiskRule.Kind.AMOUNT,
        amount_threshold=Decimal("10"),
        action=RiskRule.RuleAction.CHALLENGE,
        channels=[Channel.PORTAL],
    )
    fund(tree.seller, "200.00", actor=finance_user)
    page = new_page()
    order_in_portal(page, tree, quantity=2)
    form = page.get_by_test_id("confirm-form")
    assert page.get_by_text("请输入图中的字符后继续。").is_visible()
    challenge = form.get_by_test_id("challenge")
    picture = challenge.get_by_role("img", name="验证图片")
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0"), "the challenge picture did not load"
    assert page.get_by_test_id("quote-quantity").inner_text() == "2" and not Order.objects.exists()

    key = challenge.locator("input[name=challenge_key]").input_value()
    challenge.get_by_label("请输入图中的字符").fill(CaptchaStore.objects.get(hashkey=key).response)
    follow(page, form.get_by_test_id("confirm-order"))
    assert page.get_by_test_id("order-status").inner_text() == "已发货"
    order = Order.objects.get()
    assert order.channel == Order.Channel.PORTAL and order.quantity == 2


def test_place_order_is_sent_once_while_the_next_page_loads(new_page, tree, finance_user):
    fund(tree.seller, "200.00", actor=finance_user)
    page = new_page()
    login(page, tree.seller_user.username, PASSWORD)
    order_form_send(page, tree, quantity=2)
    form = page.get_by_test_id("confirm-form")
    # A slow server: the order's POST is answered 204 (the browser stays on the page, as while it waits).
    sent = []
    page.route("**/portal/buy/", lambda route: (sent.append(route.request.method), route.fulfill(status=204)))
    submit = form.get_by_test_id("confirm-order")
    submit.click()
    expect(form).to_have_attribute("aria-busy", "true")
    submit.press("Enter")  # the keyboard's way to send it again (the busy button takes no clicks)
    page.wait_for_timeout(300)
    assert sent == ["POST"]
    assert not Order.objects.exists()

    # Sent for real: one order, on its page.
    page.unroute("**/portal/buy/")
    order_form_send(page, tree, quantity=2)
    follow(page, page.get_by_test_id("confirm-order"))
    assert page.get_by_test_id("order-status").inner_text() == "已发货"
    assert Order.objects.count() == 1
