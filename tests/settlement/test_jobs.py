"""The scheduled jobs: monthly distributor statements and the schedule entries that run them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from settlement import tasks
from settlement.models import Order, Statement, Wallet
from settlement.services.orders import order_place
from settlement.services.statements import month_bounds
from settlement.services.wallets import wallet_for
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal


def pretend_today(monkeypatch, day) -> None:
    """timezone.localdate() with no argument answers `day`; conversions of given moments are untouched."""
    real = timezone.localdate
    monkeypatch.setattr(timezone, "localdate", lambda value=None, tz=None: day if value is None else real(value, tz))


def test_the_monthly_job_makes_one_statement_per_wallet_for_the_previous_month_once(tree, finance_user, monkeypatch):
    fund(tree.seller, "100.00", actor=finance_user)
    order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2)
    this_month = timezone.localdate().replace(day=1)
    next_month = (this_month + timedelta(days=32)).replace(day=1)
    # The ledger is append-only, so instead of backdating entries the job runs "next month": its previous month is now.
    pretend_today(monkeypatch, next_month + timedelta(days=2))

    wallets = Wallet.objects.count()
    assert wallets == 4
    assert tasks.statements_monthly() == wallets
    start, end = month_bounds(this_month.year, this_month.month)
    statements = Statement.objects.filter(kind=Statement.Kind.MONTHLY)
    assert statements.count() == wallets
    assert set(statements.values_list("period_start", "period_end").distinct()) == {(start, end)}
    assert sorted(statements.values_list("wallet_id", flat=True)) == sorted(Wallet.objects.values_list("pk", flat=True))
    seller = statements.get(wallet=wallet_for(tree.seller))
    assert (seller.topups, seller.purchases, seller.closing_balance, seller.order_count) == (D("100.00"), D("52.00"), D("48.00"), 1)
    mid = statements.get(wallet=wallet_for(tree.mid))
    assert mid.commission_earned == D("2.00") and mid.order_count == 0

    # run again (a retried or doubled schedule): the same statements, no new ones, same numbers
    numbers = sorted(statements.values_list("number", flat=True))
    assert tasks.statements_monthly() == wallets
    assert Statement.objects.count() == wallets
    assert sorted(Statement.objects.values_list("number", flat=True)) == numbers
    seller.refresh_from_db()
    assert seller.closing_balance == D("48.00")


def test_the_monthly_job_defaults_to_last_month_across_a_new_year(tree, monkeypatch):
    from datetime import date

    pretend_today(monkeypatch, date(2027, 1, 5))
    tasks.statements_monthly()
    start, end = month_bounds(2026, 12)
    assert set(Statement.objects.values_list("period_start", "period_end")) == {(start, end)}


def test_schedules_ensure_registers_every_job_including_order_expiry():
    from django_q.models import Schedule

    Schedule.objects.all().delete()
    tasks.schedules_ensure()
    expire = Schedule.objects.get(func="settlement.tasks.orders_expire")
    assert (expire.schedule_type, expire.minutes, expire.repeats) == (Schedule.MINUTES, 1, -1)
    for func in ("webhooks_send_due", "statements_monthly", "commissions_release_due", "merchant_statements_monthly"):
        assert Schedule.objects.filter(func=f"settlement.tasks.{func}").count() == 1
    tasks.schedules_ensure()  # after every migrate: nothing doubles
    assert Schedule.objects.filter(func="settlement.tasks.orders_expire").count() == 1
    # the scheduled function is the real expiry service
    assert tasks.orders_expire() == 0
