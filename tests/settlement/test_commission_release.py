"""Commission is released when a sale line's code is redeemed (through redemption's real API), by the scheduled
job, once; a reversal before the job releases nothing; a refund after a release claws back from available."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.vault import keyring
from settlement.models import Account, CommissionAccrual, CommissionReleaseLine, Order, Transfer
from settlement.selectors.ledger import ledger_check
from settlement.services.commission import commissions_release_due
from settlement.services.ledger import wallet_account
from settlement.services.orders import order_place, order_refund
from settlement.services.wallets import wallet_for
from tests.redemption.conftest import TerminalClient, shop_make
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal
K = Account.Kind


def balances(distributor):
    wallet = wallet_for(distributor)
    return {kind: wallet_account(wallet, kind).balance for kind in Account.WALLET_KINDS}


@pytest.fixture
def pos(client, tree):
    """A merchant's signed terminal that accepts the tree's SKU."""
    shop = shop_make("星巴克")
    tree.sku.allowed_merchant_ids = [shop.merchant.pk]
    tree.sku.save(update_fields=["allowed_merchant_ids"])
    return TerminalClient(client=client, terminal=shop.terminal, secret=shop.secret)


def plaintexts(order) -> list[str]:
    return [
        keyring().open(ciphertext=i.code.ciphertext, key_id=i.code.key_id, blind_index=i.code.blind_index)
        for i in order.items.select_related("code").order_by("pk")
    ]


def redeem(pos, code: str) -> int:
    response = pos.redeem({"code": code})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_redeemed_code_releases_its_commission_on_the_job_run_and_only_once(tree, finance_user, pos):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == D("1.00") and balances(tree.top)[K.COMMISSION_FROZEN] == D("0.52")
    assert commissions_release_due() == 0  # nothing redeemed, nothing due

    redeem(pos, plaintexts(order)[0])
    # the redeem path itself does no settlement work: still frozen until the job runs
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == 0

    assert commissions_release_due() == 2  # mid's and top's commission on the order
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("1.00") and balances(tree.mid)[K.COMMISSION_FROZEN] == 0
    assert balances(tree.top)[K.COMMISSION_AVAILABLE] == D("0.52")
    assert set(order.commissions.values_list("status", flat=True)) == {CommissionAccrual.Status.RELEASED}

    assert commissions_release_due() == 0  # safe to run twice
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("1.00")
    assert Transfer.objects.filter(order=order, kind=Transfer.Kind.RELEASE).count() == 1
    assert ledger_check().ok


def test_each_redeemed_line_releases_its_share_of_a_multi_code_order(tree, finance_user, pos):
    fund(tree.seller, "200.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=3)
    first, second, third = plaintexts(order)
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == D("3.00") and balances(tree.top)[K.COMMISSION_FROZEN] == D("1.56")

    redeem(pos, first)
    assert commissions_release_due() == 2
    assert commissions_release_due() == 0
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("1.00") and balances(tree.mid)[K.COMMISSION_FROZEN] == D("2.00")
    assert balances(tree.top)[K.COMMISSION_AVAILABLE] == D("0.52") and balances(tree.top)[K.COMMISSION_FROZEN] == D("1.04")
    assert set(order.commissions.values_list("status", flat=True)) == {CommissionAccrual.Status.FROZEN}  # partly released

    redeem(pos, second)
    redeem(pos, third)
    assert commissions_release_due() == 2  # every line redeemed: the rest goes in one transfer
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("3.00") and balances(tree.mid)[K.COMMISSION_FROZEN] == 0
    assert balances(tree.top)[K.COMMISSION_AVAILABLE] == D("1.56") and balances(tree.top)[K.COMMISSION_FROZEN] == 0
    assert set(order.commissions.values_list("status", flat=True)) == {CommissionAccrual.Status.RELEASED}
    assert CommissionReleaseLine.objects.filter(order=order).count() == 3
    assert commissions_release_due() == 0
    assert ledger_check().ok


def test_a_redemption_reversed_before_the_job_runs_releases_nothing(tree, finance_user, pos):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    redemption_id = redeem(pos, plaintexts(order)[0])
    assert pos.reverse(redemption_id).status_code == 200  # the code is `sold` again

    assert commissions_release_due() == 0
    assert balances(tree.mid)[K.COMMISSION_FROZEN] == D("1.00") and balances(tree.mid)[K.COMMISSION_AVAILABLE] == 0
    assert not CommissionReleaseLine.objects.exists()
    assert set(order.commissions.values_list("status", flat=True)) == {CommissionAccrual.Status.FROZEN}


def test_a_line_released_then_reversed_and_redeemed_again_is_not_released_twice(tree, finance_user, pos):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    first, _second = plaintexts(order)
    redemption_id = redeem(pos, first)
    assert commissions_release_due() == 2
    assert pos.reverse(redemption_id).status_code == 200
    redeem(pos, first)
    assert commissions_release_due() == 0
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("1.00") and balances(tree.mid)[K.COMMISSION_FROZEN] == D("1.00")


def test_a_refund_after_the_release_claws_back_from_available_commission(tree, finance_user, pos):
    fund(tree.seller, "100.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    first, _second = plaintexts(order)
    redemption_id = redeem(pos, first)
    assert commissions_release_due() == 2
    assert balances(tree.mid)[K.COMMISSION_AVAILABLE] == D("1.00") and balances(tree.mid)[K.COMMISSION_FROZEN] == D("1.00")
    # the merchant reverses the redemption after the release; both codes are unredeemed and get refunded
    assert pos.reverse(redemption_id).status_code == 200
    order_refund(order=order, actor=finance_user, reason="customer changed its mind")

    mid = balances(tree.mid)
    assert mid[K.COMMISSION_FROZEN] == 0 and mid[K.COMMISSION_AVAILABLE] == 0 and mid[K.COMMISSION_DEBT] == 0
    top = balances(tree.top)
    assert top[K.COMMISSION_FROZEN] == 0 and top[K.COMMISSION_AVAILABLE] == 0
    clawback = Transfer.objects.get(order=order, kind=Transfer.Kind.CLAWBACK)
    entries = clawback.entries.filter(account__wallet__isnull=False).select_related("account__wallet__distributor")
    taken = {(e.account.wallet.distributor.name, e.account.kind): e.amount for e in entries}
    assert taken[("mid", K.COMMISSION_FROZEN)] == D("-1.00") and taken[("mid", K.COMMISSION_AVAILABLE)] == D("-1.00")
    assert commissions_release_due() == 0
    assert ledger_check().ok


def test_a_released_share_pays_off_commission_debt_first(tree, finance_user, pos, settings):
    from settlement.services.withdrawals import withdrawal_approve, withdrawal_request

    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    settings.SETTLEMENT_WITHDRAWAL_FEE_MINIMUM = "0.00"
    settings.SETTLEMENT_WITHDRAWAL_FEE_RATE = "0"
    fund(tree.seller, "300.00", actor=finance_user)
    old = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    CommissionAccrual.objects.update(release_after=timezone.now() - timedelta(seconds=1))
    assert commissions_release_due() == 2
    withdrawal = withdrawal_request(wallet=wallet_for(tree.mid), amount="2.00", payee="ICBC", actor=None)
    withdrawal_approve(withdrawal=withdrawal, actor=finance_user, payout_reference="PAY-1")
    order_refund(order=old, actor=finance_user, reason="bad batch")
    assert balances(tree.mid)[K.COMMISSION_DEBT] == D("-2.00")

    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=3)
    redeem(pos, plaintexts(order)[0])
    commissions_release_due()
    mid = balances(tree.mid)
    assert mid[K.COMMISSION_DEBT] == D("-1.00") and mid[K.COMMISSION_AVAILABLE] == 0 and mid[K.COMMISSION_FROZEN] == D("2.00")
    assert ledger_check().ok


def test_the_job_finds_its_work_set_based_and_costs_the_same_per_order_however_many_lines(tree, finance_user, pos):
    fund(tree.seller, "500.00", actor=finance_user)
    small = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1)
    big = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=6)
    with CaptureQueriesContext(connection) as idle:
        assert commissions_release_due() == 0
    # one window of orders with frozen commission (two queries: the orders, their redeemed lines), then the end
    assert len(idle) == 3

    redeem(pos, plaintexts(small)[0])
    with CaptureQueriesContext(connection) as one_line:
        assert commissions_release_due() == 2
    for code in plaintexts(big)[:5]:
        redeem(pos, code)
    with CaptureQueriesContext(connection) as five_lines:
        assert commissions_release_due() == 2
    assert len(five_lines) == len(one_line)
    assert CommissionReleaseLine.objects.filter(order=big).count() == 5


def test_the_release_job_is_scheduled_every_few_minutes():
    from django_q.models import Schedule

    from settlement.tasks import schedules_ensure

    Schedule.objects.filter(name="settlement: release commission").update(minutes=60)  # as an earlier release made it
    schedules_ensure()
    schedule = Schedule.objects.get(name="settlement: release commission")
    assert schedule.func == "settlement.tasks.commissions_release_due" and schedule.minutes == 5
    Schedule.objects.filter(pk=schedule.pk).update(minutes=15)  # an operator's own choice is kept
    schedules_ensure()
    assert Schedule.objects.get(pk=schedule.pk).minutes == 15
