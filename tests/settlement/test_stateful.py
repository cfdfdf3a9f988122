"""Hypothesis drives random sequences of orders, payments (replayed and late), expiries, redemptions, releases,
refunds and withdrawals through the real services, and after every step checks the money invariants:

* every transfer balanced, every balance equal to its entries, trial balance zero (`ledger_check`);
* no wallet below minus its credit limit;
* commission conserved per beneficiary: earned − clawed back = frozen + available + being withdrawn + paid out − debt;
* a code is in at most one live order.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from catalog.models import CardCode
from catalog.services import code_status_change
from settlement.adapters import ADAPTERS
from settlement.models import CommissionAccrual, Order, OrderItem, Withdrawal
from settlement.selectors.ledger import ledger_check
from settlement.selectors.wallets import wallet_summary
from settlement.services.commission import commission_release_for_codes, commissions_release_due
from settlement.services.orders import order_place, order_refund, orders_expire
from settlement.services.payments import payment_callback_receive, payment_for_order
from settlement.services.wallets import wallet_for, wallet_topup_record
from settlement.services.withdrawals import withdrawal_approve, withdrawal_reject, withdrawal_request
from tests.settlement.conftest import fund
from voucherhub.core.errors import DomainError

pytestmark = pytest.mark.django_db
ZERO = Decimal("0.00")


def make_machine(tree, finance_user):
    buyers = [tree.seller, tree.other, tree.mid]
    everyone = [tree.top, tree.mid, tree.seller, tree.other]
    sandbox = ADAPTERS["sandbox"]

    class Settlement(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self._atomic = transaction.atomic()
            self._atomic.__enter__()  # each example runs in a savepoint that teardown() rolls back
            self.clock = timezone.now()
            self.callbacks = []

        def teardown(self):
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

        @initialize(credit=st.sampled_from(["0.00", "30.00"]), money=st.sampled_from(["60.00", "150.00"]))
        def wallets(self, credit, money):
            for distributor in buyers:
                fund(distributor, money, actor=finance_user, credit_limit=credit)
            # a little history to start from, so short examples reach refunds, releases and withdrawals too
            order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
            self.storefront_order(1)
            commissions_release_due(now=self.clock + timedelta(days=8))

        # --- orders -------------------------------------------------------------------------------

        @rule(who=st.integers(0, 2), quantity=st.integers(1, 4))
        def portal_order(self, who, quantity):
            try:
                order_place(channel=Order.Channel.PORTAL, distributor=buyers[who], sku=tree.sku, quantity=quantity)
            except DomainError:
                pass  # out of stock / insufficient funds: refused cleanly

        @rule(quantity=st.integers(1, 3))
        def storefront_order(self, quantity):
            try:
                order_place(
                    channel=Order.Channel.STOREFRONT,
                    distributor=tree.seller,
                    storefront=tree.storefront,
                    sku=tree.sku,
                    quantity=quantity,
                    contact="buyer@example.test",
                    lookup_password="secret-123",
                    pay_method="sandbox",
                )
            except DomainError:
                pass

        def _consumer_orders(self, statuses):
            return list(Order.objects.filter(channel=Order.Channel.STOREFRONT, status__in=statuses).order_by("pk"))

        @precondition(
            lambda self: Order.objects.filter(
                channel=Order.Channel.STOREFRONT, status__in=[Order.Status.PENDING, Order.Status.EXPIRED]
            ).exists()
        )
        @rule(pick=st.integers(0, 50), replay=st.booleans())
        def pay(self, pick, replay):
            orders = self._consumer_orders([Order.Status.PENDING, Order.Status.EXPIRED])
            if not orders:
                return
            order = orders[pick % len(orders)]
            payment = payment_for_order(order=order)
            body = sandbox.callback_body(
                event_id=f"evt-{payment.number}", event_type="payment.succeeded", payment_number=payment.number, amount=payment.amount
            )
            headers = {sandbox.SIGNATURE_HEADER: sandbox.sign(body)}
            payment_callback_receive(adapter_name="sandbox", body=body, headers=headers)
            self.callbacks.append((body, headers))
            if replay:
                payment_callback_receive(adapter_name="sandbox", body=body, headers=headers)

        @precondition(lambda self: bool(self.callbacks))
        @rule(pick=st.integers(0, 50))
        def replay_old_callback(self, pick):
            if self.callbacks:
                body, headers = self.callbacks[pick % len(self.callbacks)]
                payment_callback_receive(adapter_name="sandbox", body=body, headers=headers)

        @precondition(lambda self: Order.objects.filter(status=Order.Status.PENDING).exists())
        @rule()
        def expire(self):
            Order.objects.filter(status=Order.Status.PENDING).update(expires_at=timezone.now() - timedelta(seconds=1))
            orders_expire()

        # --- after the sale -------------------------------------------------------------------------

        @precondition(lambda self: Order.objects.filter(status=Order.Status.DELIVERED).exists())
        @rule(pick=st.integers(0, 200))
        def redeem(self, pick):
            items = list(OrderItem.objects.filter(state=OrderItem.State.DELIVERED, code__status=CardCode.Status.SOLD).order_by("pk"))
            if not items:
                return
            item = items[pick % len(items)]
            code_status_change(codes=[item.code_id], to_status=CardCode.Status.REDEEMED, reference="test redemption")
            commission_release_for_codes(code_ids=[item.code_id])

        @precondition(lambda self: CommissionAccrual.objects.filter(status=CommissionAccrual.Status.FROZEN).exists())
        @rule(days=st.integers(0, 10))
        def release_due(self, days):
            self.clock += timedelta(days=days)
            commissions_release_due(now=self.clock)
            commissions_release_due(now=self.clock)  # safe to run twice

        @precondition(
            lambda self: Order.objects.filter(
                status__in=[Order.Status.PAID, Order.Status.DELIVERED, Order.Status.PARTIALLY_REFUNDED]
            ).exists()
        )
        @rule(pick=st.integers(0, 50), part=st.booleans())
        def refund(self, pick, part):
            orders = list(
                Order.objects.filter(status__in=[Order.Status.PAID, Order.Status.DELIVERED, Order.Status.PARTIALLY_REFUNDED]).order_by("pk")
            )
            if not orders:
                return
            order = orders[pick % len(orders)]
            try:
                order_refund(order=order, actor=finance_user, reason="test", quantity=1 if part else None)
            except DomainError:
                pass  # nothing refundable (all redeemed)

        @precondition(lambda self: CommissionAccrual.objects.filter(status=CommissionAccrual.Status.RELEASED).exists())
        @rule(who=st.integers(0, 3), share=st.sampled_from([Decimal("0.5"), Decimal("1")]))
        def withdraw(self, who, share):
            wallet = wallet_for(everyone[who])
            amount = (wallet_summary(wallet).commission_available * share).quantize(Decimal("0.01"))
            try:
                withdrawal_request(wallet=wallet, amount=amount, payee="bank", actor=None)
            except DomainError:
                pass  # below the minimum or nothing available

        @precondition(lambda self: Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED).exists())
        @rule(pick=st.integers(0, 20), approve=st.booleans(), twice=st.booleans())
        def decide(self, pick, approve, twice):
            pending = list(Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED).order_by("pk"))
            if not pending:
                return
            withdrawal = pending[pick % len(pending)]
            for _ in range(2 if twice else 1):
                if approve:
                    withdrawal_approve(withdrawal=withdrawal, actor=finance_user, payout_reference=f"PAY-{withdrawal.pk}")
                else:
                    withdrawal_reject(withdrawal=withdrawal, actor=finance_user, note="no")

        @rule(who=st.integers(0, 2))
        def topup(self, who):
            wallet_topup_record(
                wallet=wallet_for(buyers[who]), amount="25.00", actor=finance_user, reference=f"T-{timezone.now().timestamp()}"
            )

        # --- invariants -----------------------------------------------------------------------------

        @invariant()
        def ledger_is_sound(self):
            report = ledger_check()
            assert report.ok, report

        @invariant()
        def wallets_within_limits(self):
            for distributor in everyone:
                summary = wallet_summary(wallet_for(distributor))
                assert summary.balance >= -summary.credit_limit

        @invariant()
        def commission_conserved(self):
            for distributor in everyone:
                wallet = wallet_for(distributor)
                accrued = CommissionAccrual.objects.filter(wallet=wallet).aggregate(earned=Sum("amount"), back=Sum("clawed_back"))
                earned, back = accrued["earned"] or ZERO, accrued["back"] or ZERO
                paid_out = (
                    Withdrawal.objects.filter(wallet=wallet, status=Withdrawal.Status.APPROVED).aggregate(t=Sum("amount"))["t"] or ZERO
                )
                s = wallet_summary(wallet)
                held = s.commission_frozen + s.commission_available + s.commission_withdrawing + paid_out - s.commission_debt
                assert earned - back == held, (distributor.name, earned, back, s, paid_out)

        @invariant()
        def no_code_in_two_live_orders(self):
            twice = OrderItem.objects.filter(state__in=OrderItem.LIVE).values("code_id").annotate(n=Count("id")).filter(n__gt=1)
            assert not twice.exists()

    return Settlement


def test_random_sequences_keep_the_money_invariants(tree, finance_user, settings_override=None):
    from django.conf import settings as django_settings

    django_settings.SETTLEMENT_WITHDRAWAL_MINIMUM = "1.00"
    try:
        run_state_machine_as_test(
            make_machine(tree, finance_user),
            settings=settings(
                max_examples=15, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck), database=None
            ),
        )
    finally:
        del django_settings.SETTLEMENT_WITHDRAWAL_MINIMUM
