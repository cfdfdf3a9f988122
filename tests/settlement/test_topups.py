"""Top-up orders' money (issue 15 "Money"): the payment is held while the supplier works, then sold, refunded,
or sold in part and refunded for the rest, on supply's topup_finished signal; the ledger holds after every
path and a second signal changes nothing. A top-up order never claims codes."""

from decimal import Decimal

import pytest

from catalog.models import CardCode
from settlement.errors import NothingToRefund
from settlement.models import Account, CommissionAccrual, Order, OrderItem, Transfer
from settlement.services.orders import order_place, order_refund
from supply.errors import InvalidAccount
from supply.models import Topup
from tests.settlement.topup_fixtures import (
    SELLER_PRICE,
    balance,
    finish,
    held_balance,
    ledger_ok,
    ledger_size,
    topup_world_fixture,  # noqa: F401 (the topup_world fixture)
    wallet_balance,
)

pytestmark = pytest.mark.django_db
K = Account.Kind


def place(tree, world, account="138 0013 8000", **kwargs) -> Order:
    return order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=world.sku, quantity=1, account=account, **kwargs)


def test_a_wallet_top_up_is_paid_and_held_without_codes_then_delivered_on_success(tree, topup_world):
    available = CardCode.objects.filter(status=CardCode.Status.AVAILABLE).count()
    # when the seller buys a ¥50 top-up from its wallet
    order = place(tree, topup_world)
    # then the order is paid, not delivered: the money is held and supply has the top-up, the account normalised
    assert order.status == Order.Status.PAID and order.topup_account == "13800138000"
    assert wallet_balance(tree.seller) == Decimal("500.00") - SELLER_PRICE
    assert held_balance() == SELLER_PRICE and balance(K.REVENUE) == 0
    topup = Topup.objects.get(reference=order.number)
    assert topup.account == "13800138000" and topup.sku == topup_world.sku
    assert not OrderItem.objects.filter(order=order).exists()
    assert CardCode.objects.filter(status=CardCode.Status.AVAILABLE).count() == available
    ledger_ok()
    # when supply says it succeeded at a real cost of ¥47.50
    finish(order, "success", delivered="50.00", cost="47.50")
    # then the sale is booked as for codes, the real cost owed to the supplier, the commission accrued
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.delivered_at is not None
    assert held_balance() == 0 and balance(K.REVENUE) == SELLER_PRICE
    assert balance(K.SUPPLIER_PAYABLE) == Decimal("47.50") and balance(K.COST_OF_GOODS) == Decimal("-47.50")
    shares = {
        a.wallet.distributor.name: a.amount for a in CommissionAccrual.objects.filter(order=order).select_related("wallet__distributor")
    }
    assert shares == {"mid": Decimal("1.00"), "top": Decimal("0.98")}
    assert wallet_balance(tree.seller) == Decimal("451.00")
    ledger_ok()
    # when the same signal arrives again: nothing changes
    size = ledger_size()
    finish(order, "success", delivered="50.00", cost="47.50")
    finish(order, "failed")  # and a late contradicting one is not taken either
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and ledger_size() == size and order.refunded_amount == 0
    ledger_ok()


def test_a_failed_top_up_refunds_the_wallet_in_full(tree, topup_world):
    order = place(tree, topup_world)
    finish(order, "failed", cost=None)
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert order.refunded_amount == SELLER_PRICE and order.refunded_quantity == 1
    assert wallet_balance(tree.seller) == Decimal("500.00")
    assert held_balance() == 0 and balance(K.REVENUE) == 0 and balance(K.SUPPLIER_PAYABLE) == 0
    assert not CommissionAccrual.objects.filter(order=order).exists()
    ledger_ok()
    size = ledger_size()
    finish(order, "failed", cost=None)
    assert ledger_size() == size
    assert wallet_balance(tree.seller) == Decimal("500.00")


def test_a_partial_top_up_is_sold_in_part_and_the_rest_refunded(tree, topup_world):
    order = place(tree, topup_world)
    # ¥20 of the ¥50 arrived: 40% of the price is sold, 60% refunded
    finish(order, "partial", delivered="20.00", cost="19.00")
    order.refresh_from_db()
    assert order.status == Order.Status.PARTIALLY_REFUNDED
    assert order.refunded_amount == Decimal("29.40") and order.refunded_quantity == 0
    assert wallet_balance(tree.seller) == Decimal("500.00") - Decimal("19.60")
    assert held_balance() == 0 and balance(K.REVENUE) == Decimal("19.60")
    assert balance(K.SUPPLIER_PAYABLE) == Decimal("19.00")
    amounts = sorted(CommissionAccrual.objects.filter(order=order).values_list("amount", flat=True))
    assert amounts == [Decimal("0.39"), Decimal("0.40")]  # 40% of ¥0.98 and of ¥1.00
    assert order.events.filter(to_status=Order.Status.DELIVERED).exists()
    ledger_ok()
    size = ledger_size()
    finish(order, "partial", delivered="20.00", cost="19.00")
    assert ledger_size() == size
    ledger_ok()


def test_a_top_up_order_takes_one_valid_account_and_is_refused_whole_otherwise(tree, topup_world):
    with pytest.raises(InvalidAccount) as refused:
        place(tree, topup_world, account="12345")
    assert refused.value.field == "account"
    with pytest.raises(Exception) as two:
        order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=topup_world.sku, quantity=2, account="13800138000")
    assert getattr(two.value, "field", None) == "quantity"
    assert not Order.objects.exists() and not Topup.objects.exists() and not Transfer.objects.filter(kind="hold").exists()
    assert wallet_balance(tree.seller) == Decimal("500.00")


def test_a_top_up_order_in_flight_is_not_refunded_by_hand(tree, topup_world, ops_user):
    order = place(tree, topup_world)
    with pytest.raises(NothingToRefund):
        order_refund(order=order, actor=ops_user, reason="customer asked")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and held_balance() == SELLER_PRICE


@pytest.fixture
def review_everything(settings):
    """Risk control holds every order of ¥40 or more for review."""
    from riskcontrol import engine
    from riskcontrol.models import RiskRule
    from tests.riskcontrol.conftest import make_rule

    settings.RISK_RULES_RECHECK_SECONDS = 0
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("40"), action=RiskRule.RuleAction.REVIEW, score=20)
    engine.rules_changed()
    yield
    engine.rules_changed()


@pytest.mark.parametrize("approve", [True, False])
def test_a_top_up_held_by_risk_review_is_requested_only_once_approved(tree, topup_world, ops_user, review_everything, approve):
    from riskcontrol.services import review_decide

    order = place(tree, topup_world, actor=tree.seller_user)
    # held: paid and the money held, but nothing asked of a supplier
    assert order.status == Order.Status.PAID and order.hold == Order.Hold.REVIEW
    assert held_balance() == SELLER_PRICE and not Topup.objects.exists()
    review_decide(event_id=order.risk_event_id, approve=approve, actor=ops_user, note="checked")
    order.refresh_from_db()
    if approve:
        assert order.status == Order.Status.PAID and Topup.objects.filter(reference=order.number).exists()
        assert held_balance() == SELLER_PRICE
    else:
        assert order.status == Order.Status.REFUNDED and not Topup.objects.exists()
        assert held_balance() == 0 and wallet_balance(tree.seller) == Decimal("500.00")
    ledger_ok()
