"""Finance approves several withdrawals at once: a confirmation with the total, then one audited approval each."""

from decimal import Decimal

import django.test
import pytest
from django.urls import reverse

from settlement.models import Order, Withdrawal
from settlement.selectors.wallets import wallet_summary
from settlement.services.commission import commission_release
from settlement.services.orders import order_place
from settlement.services.wallets import wallet_for
from settlement.services.withdrawals import withdrawal_reject, withdrawal_request
from tests.settlement.conftest import fund
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
URL = "settlement:finance-withdrawals-bulk-approve"


@pytest.fixture
def three_waiting(tree, finance_user) -> list[Withdrawal]:
    fund(tree.seller, "1000.00", actor=finance_user)
    for _ in range(3):
        order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=5)
    for accrual in wallet_for(tree.mid).commissions.all():
        commission_release(accrual=accrual)
    wallet = wallet_for(tree.mid)
    share = (wallet_summary(wallet).commission_available / 3).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    assert share > 0
    with django.test.override_settings(SETTLEMENT_WITHDRAWAL_MINIMUM="0.01"):
        return [withdrawal_request(wallet=wallet, amount=share, payee="ICBC 6222 0000", actor=None) for _ in range(3)]


def test_the_confirmation_lists_the_ticked_withdrawals_and_their_total_then_approves_each(finance_client, three_waiting):
    picked = three_waiting[:2]
    total = sum(w.amount for w in picked)
    # the list offers a tick per waiting withdrawal
    listing = finance_client.get(reverse("settlement:finance-withdrawals")).content.decode()
    assert all(f'data-testid="tick-{w.number}"' in listing for w in three_waiting)
    # when: two are ticked, the confirmation lists those two and their total, and nothing is approved yet
    confirm = finance_client.get(reverse(URL), {"ids": [w.pk for w in picked]}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert all(f'data-testid="bulk-{w.number}"' in html for w in picked) and three_waiting[2].number not in html
    assert f'data-testid="bulk-total">¥{total:,.2f}<' in html and "批准 2 笔提现" in html
    assert Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED).count() == 3
    # a confirmation without the payout reference is refused on its field, nothing approved
    refused = finance_client.post(reverse(URL), {"ids": [w.pk for w in picked], "payout_reference": " "}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refused.status_code == 400 and 'data-testid="bulk-reference-error"' in refused.content.decode()
    assert Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED).count() == 3
    # then: confirming approves each one through the approval service, one audit row each
    done = finance_client.post(reverse(URL), {"ids": [w.pk for w in picked], "payout_reference": "BATCH-9"}, follow=True)
    assert done.status_code == 200
    for w in picked:
        w.refresh_from_db()
        assert (w.status, w.payout_reference) == (Withdrawal.Status.APPROVED, "BATCH-9")
    three_waiting[2].refresh_from_db()
    assert three_waiting[2].status == Withdrawal.Status.REQUESTED
    assert AuditLog.objects.filter(action="withdrawal.approve").count() == 2
    # a second click of the same confirmation is refused before anything is written (they are no longer waiting)
    again = finance_client.post(reverse(URL), {"ids": [w.pk for w in picked], "payout_reference": "BATCH-9"})
    assert again.status_code == 302
    assert AuditLog.objects.filter(action="withdrawal.approve").count() == 2


def test_a_withdrawal_decided_meanwhile_or_nothing_ticked_sends_back_to_the_list(finance_client, finance_user, three_waiting):
    withdrawal_reject(withdrawal=three_waiting[0], actor=finance_user, note="wrong account")
    for ids in ([three_waiting[0].pk, three_waiting[1].pk], []):
        response = finance_client.get(reverse(URL), {"ids": ids})
        assert response.status_code == 302 and response["Location"] == reverse("settlement:finance-withdrawals")
    assert Withdrawal.objects.filter(status=Withdrawal.Status.APPROVED).count() == 0


def test_only_who_may_decide_withdrawals_may_bulk_approve(client, ops_user, three_waiting):
    client.force_login(ops_user)
    response = client.post(reverse(URL), {"ids": [three_waiting[0].pk], "payout_reference": "X"})
    assert response.status_code == 403
    assert not Withdrawal.objects.filter(status=Withdrawal.Status.APPROVED).exists()
