"""Issue 13, finance and merchant console: finance approves several withdrawals after a confirmation with
the total and checks the ledger now (1366 px: the action column is whole and on screen); a clerk at 390 px
redeems a code, is refused a reversal without a reason, reverses it with one, and the today badge equals
the list. CSP violations fail every test (conftest's new_page)."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from redemption.models import Redemption
from redemption.services import clerk_link
from settlement.models import Order, Withdrawal
from settlement.services.commission import commission_release
from settlement.services.orders import order_place, order_refund
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_request
from tests import factories
from tests.browser.conftest import DESKTOP, PHONE, follow, login
from tests.factories import PASSWORD
from tests.settlement.conftest import fund, tree_make
from tests.settlement.test_refund_payouts import consumer_order
from voucherhub.core import roles

pytestmark = pytest.mark.django_db(transaction=True)


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def whole_on_screen(page, locator, width: int) -> None:
    """The element is drawn at its full size, inside the viewport and not under its scrolling card's edge."""
    box = locator.bounding_box()
    assert box is not None and box["width"] > 20 and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    hidden = locator.evaluate(
        "el => { const r = el.getBoundingClientRect(); const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);"
        " return !(hit === el || el.contains(hit)); }"
    )
    assert not hidden, "covered or clipped"


def test_finance_approves_withdrawals_in_bulk_and_checks_the_ledger_now(new_page, finance_user, settings):
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    tree = tree_make()
    fund(tree.seller, "500.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=10)
    for accrual in wallet_for(tree.mid).commissions.all():
        commission_release(accrual=accrual)
    wallet = wallet_for(tree.mid)
    waiting = [
        withdrawal_request(wallet=wallet, amount=Decimal(a), payee="工商银行 6222 0000 1111 2222 3333 4444", actor=None)
        for a in ("4.00", "3.50", "2.50")
    ]
    for _ in range(2):  # bank-transfer orders refunded: their payouts wait on the refunds page
        order_refund(order=consumer_order(tree, finance_user), actor=finance_user, reason="wrong product", quantity=1)
    page = new_page(device=DESKTOP)
    width = DESKTOP["viewport"]["width"]
    login(page, finance_user.username, PASSWORD)

    # the refunds page at 1366 px: every "record payout" button whole and on screen
    page.goto("/finance/refunds/")
    fits(page, width)
    buttons = page.get_by_test_id("record-payout")
    assert buttons.count() == 2
    for n in range(2):
        whole_on_screen(page, buttons.nth(n), width)

    # the ledger card: when it was checked, and a check now
    page.goto("/dashboards/finance/")
    checked = page.get_by_test_id("ledger-checked-at").inner_text()
    assert checked.startswith("上次检查：") and "T" not in checked
    follow(page, page.get_by_test_id("ledger-check-now"))
    expect(page.get_by_text("账本已检查：平衡。")).to_be_visible()
    assert page.get_by_test_id("ledger-status").inner_text() == "平衡"

    # the withdrawals queue at 1366 px: approve and reject are whole and on screen, the page does not scroll sideways
    page.goto("/finance/withdrawals/")
    fits(page, width)
    row = page.get_by_test_id(f"withdrawal-{waiting[0].number}")
    whole_on_screen(page, row.get_by_test_id("approve"), width)
    whole_on_screen(page, row.get_by_test_id("reject"), width)

    # tick two, see them and their total on the confirmation, confirm with the batch's bank reference
    for w in waiting[:2]:
        page.get_by_test_id(f"tick-{w.number}").check()
    follow(page, page.get_by_test_id("bulk-approve"))
    assert page.get_by_test_id("bulk-total").inner_text() == "¥7.50"
    assert "批准 2 笔提现" in page.get_by_test_id("bulk-summary").inner_text()
    assert Withdrawal.objects.filter(status=Withdrawal.Status.APPROVED).count() == 0
    page.get_by_test_id("bulk-reference").fill("ICBC-BATCH-1")
    follow(page, page.get_by_test_id("bulk-confirm"))
    expect(page.get_by_text("已批准并打款 2 笔提现，合计 ¥7.50。")).to_be_visible()
    approved = Withdrawal.objects.filter(status=Withdrawal.Status.APPROVED, payout_reference="ICBC-BATCH-1")
    assert set(approved.values_list("pk", flat=True)) == {w.pk for w in waiting[:2]}
    fits(page, width)


def test_clerk_reverses_with_a_reason_on_a_phone_and_the_badge_counts_the_list(new_page):
    store = factories.StoreFactory(name="南京西路店", merchant=factories.MerchantFactory(name="星巴克"))
    sku = factories.SkuFactory(name="星巴克中杯饮品券", face_value=Decimal("35.00"), allowed_merchant_ids=[store.merchant_id])
    codes = [factories.card_code(sku=sku) for _ in range(2)]
    user = factories.UserFactory(username="clerk-phone", role=roles.MERCHANT)
    clerk_link(user=user, merchant=store.merchant)
    page = new_page(device=PHONE)
    width = PHONE["viewport"]["width"]
    login(page, "clerk-phone", PASSWORD)

    # redeem two codes at the console
    field = page.get_by_test_id("code-input")
    for n, (_code, plaintext) in enumerate(codes, start=1):
        field.fill(plaintext)
        field.press("Enter")
        page.get_by_test_id("redeem-button").click()
        expect(page.get_by_test_id("today-count")).to_have_text(str(n))
    fits(page, width)

    # the list at 390 px: no sideways scroll, the reversal control reachable and wide enough to type in
    target = Redemption.objects.order_by("pk").first()
    page.goto("/merchant/redemptions/")
    fits(page, width)
    reason = page.get_by_test_id(f"reason-{target.pk}")
    reason.scroll_into_view_if_needed()
    whole_on_screen(page, page.get_by_test_id(f"reverse-{target.pk}"), width)
    assert reason.bounding_box()["width"] >= 150
    product = page.get_by_test_id(f"redemption-{target.pk}").get_by_text("星巴克中杯饮品券")
    assert product.bounding_box()["height"] < 40  # one line, not a column one character wide

    page.on("dialog", lambda dialog: dialog.accept())
    # no reason: the browser keeps the form; the server refuses it too (its test is in tests/redemption)
    page.get_by_test_id(f"reverse-{target.pk}").tap()
    assert reason.evaluate("el => !el.checkValidity()")
    target.refresh_from_db()
    assert target.status == Redemption.Status.COMPLETED
    # with one, it is reversed
    reason.fill("顾客取消")
    with page.expect_navigation():
        page.get_by_test_id(f"reverse-{target.pk}").tap()
    target.refresh_from_db()
    assert target.status == Redemption.Status.REVERSED and target.reverse_reason == "顾客取消"
    expect(page.get_by_test_id(f"reversed-{target.pk}")).to_be_visible()
    fits(page, width)

    # the console's today badge counts the same rows as its list, the reversed one included
    page.goto("/merchant/")
    expect(page.get_by_test_id("today-count")).to_have_text("2")
    assert page.get_by_test_id("today-table").locator("tbody tr").count() == 2
