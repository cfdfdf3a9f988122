"""The money figures people read: the finance dashboard's cards and the portal's commission summary."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from channels.services import staff_add
from settlement.models import Account, CommissionAccrual, Entry, Order, Statement
from settlement.selectors.finance import finance_summary
from settlement.services.commission import commission_release
from settlement.services.orders import order_place, order_refund
from settlement.services.statements import statement_generate, statement_reconcile
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_approve, withdrawal_reject, withdrawal_request
from tests import factories
from tests.settlement.conftest import fund
from voucherhub.core import roles

pytestmark = pytest.mark.django_db
D = Decimal


def card(page: str, testid: str) -> str:
    """The text of the element marked data-testid=`testid`."""
    marker = f'data-testid="{testid}">'
    assert marker in page, testid
    return page.split(marker, 1)[1].split("<", 1)[0].strip()


def block(page: str, testid: str) -> str:
    """The card around the element marked `testid` (up to the card's end)."""
    return page.split(f'data-testid="{testid}"', 1)[1].split("</div></div></div>", 1)[0]


def buy(tree, quantity) -> Order:
    return order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=quantity)


def release_all(wallet) -> None:
    for accrual in CommissionAccrual.objects.filter(wallet=wallet, status=CommissionAccrual.Status.FROZEN):
        commission_release(accrual=accrual)


def test_the_finance_dashboard_names_todays_channels_in_the_readers_language(tree, finance_user, finance_client):
    fund(tree.seller, "100.00", actor=finance_user)
    buy(tree, 1)
    home = reverse("dashboards:finance-home")
    chinese = finance_client.get(home, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    english = finance_client.get(home, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "分销商门户" in block(chinese, "orders-by-channel") and ">portal<" not in chinese
    assert "Distributor portal" in block(english, "orders-by-channel")


def test_the_finance_dashboard_shows_todays_revenue_queues_and_the_ledger_check(tree, finance_user, finance_client, settings, clear_cache):
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    fund(tree.seller, "500.00", actor=finance_user)
    two = buy(tree, 2)
    buy(tree, 1)  # 3 × 26.00, the seller's purchase price
    order_refund(order=two, actor=finance_user, reason="bad code", quantity=1)
    mid = wallet_for(tree.mid)
    release_all(mid)  # mid earned 1.00 per code, 1.00 clawed back from frozen by the refund: 2.00 available
    withdrawal_request(wallet=mid, amount=D("1.00"), payee="ICBC 6222", actor=None)
    withdrawal_request(wallet=mid, amount=D("1.00"), payee="ICBC 6222", actor=None)
    start = timezone.now() - timedelta(hours=1)
    for distributor in (tree.seller, tree.mid, tree.top):
        statement_generate(wallet=wallet_for(distributor), start=start, end=start + timedelta(hours=2))
    statement_reconcile(statement=Statement.objects.first(), actor=finance_user)

    summary = finance_summary()
    assert (summary.revenue_today, summary.refunds_today, summary.orders_today) == (D("78.00"), D("26.00"), 2)
    assert (summary.withdrawals_pending, summary.withdrawals_pending_total) == (2, D("2.00"))
    assert summary.statements_open == 2
    assert summary.ledger.ok and summary.ledger.problems == 0
    accounts, entries = Account.objects.count(), Entry.objects.count()
    assert (summary.ledger.accounts, summary.ledger.entries) == (accounts, entries) and entries > 0

    page = finance_client.get(reverse("dashboards:finance-home")).content.decode()
    revenue_card = block(page, "revenue-today")
    assert card(page, "revenue-today") == "¥78.00" and "¥26.00" in revenue_card  # today's refunds under it
    assert card(page, "withdrawals-pending") == "2" and "¥2.00" in block(page, "withdrawals-pending")
    assert card(page, "statements-open") == "2"
    assert 'text-success" data-testid="ledger-status"' in page
    ledger_card = block(page, "ledger-status")
    assert str(accounts) in ledger_card and str(entries) in ledger_card

    # the ledger goes wrong (a balance no longer equals its entries): the card says so once re-checked
    revenue = Account.objects.filter(kind=Account.Kind.REVENUE).first()
    Account.objects.filter(pk=revenue.pk).update(balance=revenue.balance + 1)
    clear_cache()  # the dashboard's check is cached for five minutes
    broken = finance_client.get(reverse("dashboards:finance-home")).content.decode()
    assert 'text-danger" data-testid="ledger-status"' in broken and card(broken, "ledger-status") != card(page, "ledger-status")
    assert finance_summary().ledger.problems == 1


def test_the_portal_shows_frozen_available_and_a_commission_debt(client, tree, finance_user, settings):
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    mid_user = factories.UserFactory(username="mid-owner", role=roles.DISTRIBUTOR)
    staff_add(distributor=tree.mid, user=mid_user, is_owner=True)
    fund(tree.seller, "500.00", actor=finance_user)
    mid = wallet_for(tree.mid)
    first = buy(tree, 2)
    buy(tree, 1)
    release_all(mid)  # 3.00 available
    paid_out = withdrawal_request(wallet=mid, amount=D("2.00"), payee="ICBC 6222", actor=None)
    withdrawal_approve(withdrawal=paid_out, actor=finance_user, payout_reference="BANK-1")
    waiting = withdrawal_request(wallet=mid, amount=D("1.00"), payee="ICBC 6222", actor=None)
    buy(tree, 1)  # 1.00 frozen
    # the first order is refunded after its 2.00 commission was withdrawn: nothing frozen or available on it, so 2.00 debt
    order_refund(order=first, actor=finance_user, reason="bad codes")
    withdrawal_reject(withdrawal=waiting, actor=finance_user, note="wrong payee")  # 1.00 back to available

    client.force_login(mid_user)
    for name in ("portal-commission", "portal-wallet", "portal-withdrawals"):
        page = client.get(reverse(f"settlement:{name}")).content.decode()
        assert card(page, "commission-frozen") == "¥1.00", name
        assert card(page, "commission-available") == "¥1.00", name
        assert card(page, "commission-debt") == "¥2.00", name


def test_the_ledger_card_says_when_it_was_checked_and_checks_again_on_demand(finance_client, finance_user, ops_user, tree, monkeypatch):
    from settlement.selectors import finance

    # given: a ledger with entries, checked once for the dashboard (and cached)
    fund(tree.mid, "100.00", actor=finance_user)
    first = finance_client.get(reverse("dashboards:finance-home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'text-success" data-testid="ledger-status"' in first
    checked = card(first, "ledger-checked-at")
    assert checked.startswith("上次检查：") and "T" not in checked.split("：", 1)[1]  # a local date and time, not ISO
    assert 'data-testid="ledger-check-now"' in first
    # when: a balance goes wrong, the cached card does not know yet; "check now" finds it
    revenue = Account.objects.exclude(balance=0).first()
    Account.objects.filter(pk=revenue.pk).update(balance=revenue.balance + 1)
    assert 'text-success" data-testid="ledger-status"' in finance_client.get(reverse("dashboards:finance-home")).content.decode()
    monkeypatch.setattr(finance, "LEDGER_RECHECK_MIN_SECONDS", 0)  # the first check was less than 10 s ago
    answer = finance_client.post(reverse("dashboards:finance-ledger-check"), HTTP_ACCEPT_LANGUAGE="zh-hans", follow=True)
    # then: the card shows the problem and the message says so
    page = answer.content.decode()
    assert answer.redirect_chain[-1][0] == reverse("dashboards:finance-home")
    assert 'text-danger" data-testid="ledger-status"' in page and "账本已检查：发现 1 个问题" in page
    # only finance may ask, and only by POST
    assert finance_client.get(reverse("dashboards:finance-ledger-check")).status_code == 405
    finance_client.force_login(ops_user)
    assert finance_client.post(reverse("dashboards:finance-ledger-check")).status_code == 403
