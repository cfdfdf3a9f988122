"""Every order passes risk control: block refuses cleanly, review holds delivery until ops decide."""

from decimal import Decimal

import pytest

from catalog.models import CardCode
from riskcontrol import engine
from riskcontrol.errors import ChallengeRequired, RiskBlocked
from riskcontrol.models import Dimension, RiskEvent, RiskRule
from riskcontrol.services import review_decide
from settlement.models import Order
from settlement.selectors.ledger import ledger_check
from settlement.services.orders import order_pay, order_place
from settlement.services.payments import payment_for_order
from tests.riskcontrol.conftest import make_list, make_rule
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rules(settings):
    settings.RISK_RULES_RECHECK_SECONDS = 0
    engine.rules_changed()
    yield
    engine.rules_changed()


def shop_order(tree, **kw):
    return order_place(
        channel=Order.Channel.STOREFRONT,
        distributor=tree.seller,
        storefront=tree.storefront,
        sku=tree.sku,
        quantity=kw.pop("quantity", 1),
        contact=kw.pop("contact", "buyer@example.test"),
        lookup_password="secret-123",
        pay_method="sandbox",
        ip=kw.pop("ip", "198.51.100.7"),
        **kw,
    )


def test_blocked_order_is_refused_with_the_reason_and_nothing_is_kept(tree):
    blocked = make_list(dimension=Dimension.IP, values=["203.0.113.0/24"])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, risk_list=blocked, action=RiskRule.RuleAction.BLOCK)
    with pytest.raises(RiskBlocked) as caught:
        shop_order(tree, ip="203.0.113.9")
    assert caught.value.status == 403 and str(caught.value)
    assert not Order.objects.exists()
    assert CardCode.objects.filter(status="available").count() == 30
    event = RiskEvent.objects.get()
    assert event.outcome == "block" and event.action == "purchase"


def test_challenge_is_required_then_passes(tree):
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("10"), action=RiskRule.RuleAction.CHALLENGE)
    with pytest.raises(ChallengeRequired):
        shop_order(tree)
    order = shop_order(tree, challenge_passed=True)
    assert order.status == Order.Status.PENDING


@pytest.fixture
def review_rule():
    return make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("50"), action=RiskRule.RuleAction.REVIEW, score=20)


def test_held_wallet_order_is_paid_but_not_delivered_until_approved(tree, finance_user, ops_user, review_rule):
    fund(tree.seller, "500.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=3, actor=tree.seller_user)
    assert order.status == Order.Status.PAID and order.hold == Order.Hold.REVIEW
    assert CardCode.objects.filter(status="reserved").count() == 3
    review_decide(event_id=order.risk_event_id, approve=True, actor=ops_user, note="known buyer")
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.hold == Order.Hold.APPROVED
    assert CardCode.objects.filter(status="sold").count() == 3


def test_rejected_held_order_is_refunded_and_the_codes_go_back(tree, finance_user, ops_user, review_rule):
    fund(tree.seller, "500.00", actor=finance_user)
    order = order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=3, actor=tree.seller_user)
    review_decide(event_id=order.risk_event_id, approve=False, actor=ops_user, note="stolen account")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.hold == Order.Hold.REJECTED
    assert CardCode.objects.filter(status="available").count() == 30
    from settlement.services.ledger import wallet_account
    from settlement.services.wallets import wallet_for

    assert wallet_account(wallet_for(tree.seller), "wallet").balance == Decimal("500.00")
    assert ledger_check().ok


def test_rejected_unpaid_consumer_order_is_cancelled(tree, ops_user):
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("20"), action=RiskRule.RuleAction.REVIEW, score=20)
    order = shop_order(tree, quantity=2)
    assert order.hold == Order.Hold.REVIEW
    review_decide(event_id=order.risk_event_id, approve=False, actor=ops_user)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert CardCode.objects.filter(status="available").count() == 30


def test_held_consumer_order_paid_then_approved_is_delivered(tree, ops_user):
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("20"), action=RiskRule.RuleAction.REVIEW, score=20)
    order = shop_order(tree)
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    review_decide(event_id=order.risk_event_id, approve=True, actor=ops_user)
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED


def test_a_payment_for_a_rejected_order_delivers_nothing_and_is_refunded(client, tree, ops_user):
    """Review → refunded on the decision: money that arrives after a rejection buys no codes."""
    from django.urls import reverse

    from settlement.models import Payment, PaymentCallback, Transfer
    from settlement.services.ledger import platform_account
    from tests.settlement.test_payments import callback

    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("20"), action=RiskRule.RuleAction.REVIEW, score=20)
    order = shop_order(tree, quantity=2)
    payment = payment_for_order(order=order)
    review_decide(event_id=order.risk_event_id, approve=False, actor=ops_user, note="stolen card")
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and order.hold == Order.Hold.REJECTED

    # The pay page does not offer payment any more, and a POST to it pays nothing.
    url = reverse("settlement:sandbox-pay", args=[payment.number])
    page = client.get(url)
    assert page.status_code == 200 and b'data-testid="pay-refused"' in page.content and b'data-testid="sandbox-pay"' not in page.content
    assert client.post(url, {"result": "pay"}).status_code == 409
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and not PaymentCallback.objects.exists()

    # The provider's callback arrives anyway: recorded, and the money goes straight back.
    assert callback(payment, event_id="late-1").outcome == PaymentCallback.Outcome.APPLIED
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.refunded_amount == order.total == Decimal("59.80")
    assert order.delivered_at is None and not order.items.filter(state="delivered").exists()
    assert CardCode.objects.filter(status="available").count() == 30
    assert payment.status == Payment.Status.REFUNDED and payment.refunded_amount == payment.amount
    assert order.transfers.filter(kind=Transfer.Kind.REFUND_PAYOUT).count() == 1
    assert platform_account("payment_clearing").balance == 0 and platform_account("revenue").balance == 0
    assert not order.commissions.exists()
    assert list(order.events.values_list("to_status", flat=True).order_by("pk"))[-2:] == ["paid", "refunded"]
    # A replayed callback changes nothing.
    assert callback(payment, event_id="late-1").outcome == PaymentCallback.Outcome.DUPLICATE
    assert ledger_check().ok


def test_a_payment_after_expiry_still_revives_an_order_that_was_not_rejected(tree):
    from datetime import timedelta

    from django.utils import timezone

    from settlement.services.orders import orders_expire

    order = shop_order(tree)
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    orders_expire()
    order_pay(order=order, payment=payment_for_order(order=order))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.hold == Order.Hold.NONE


def test_a_blocklisted_address_cannot_request_a_withdrawal(client, tree, settings):
    """A withdrawal rule fires: the portal shows the reasons as a form error and nothing is written."""
    from settlement.models import Account, Transfer, Withdrawal
    from settlement.services.ledger import platform_account, transfer_post, wallet_account
    from settlement.services.wallets import wallet_for

    # given commission to withdraw and an address on the blocklist for withdrawals
    settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    available = wallet_account(wallet_for(tree.seller), Account.Kind.COMMISSION_AVAILABLE)
    transfer_post(
        kind=Transfer.Kind.RELEASE,
        lines=[(platform_account(Account.Kind.COMMISSION_EXPENSE), -Decimal("200.00")), (available, Decimal("200.00"))],
        reference="TEST",
        key="test-commission",
    )
    risk_list = make_list(dimension=Dimension.IP, values=["203.0.113.88"], name="no withdrawals from here")
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to="withdrawal", risk_list=risk_list, score=100, name="no withdrawals from here")
    client.force_login(tree.seller_user)
    form = {"amount": "150.00", "payee": "ICBC 6222 0000", "request_key": "wd-blocked"}
    # when
    response = client.post("/portal/withdrawals/", form, REMOTE_ADDR="203.0.113.88")
    # then
    assert response.status_code == 200
    assert "no withdrawals from here" in response.content.decode()
    assert not Withdrawal.objects.exists()
    available.refresh_from_db()
    assert available.balance == Decimal("200.00")
    event = RiskEvent.objects.get(action="withdrawal")
    assert event.outcome == "block" and event.distributor_id == tree.seller.pk and event.amount == Decimal("150.00")
    # from another address the same request goes through
    assert client.post("/portal/withdrawals/", form, REMOTE_ADDR="198.51.100.3").status_code == 302
    assert Withdrawal.objects.get().amount == Decimal("150.00")
