"""What the finance dashboard shows."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Sum
from django.utils import timezone

from settlement.models import Account, Entry, MerchantStatement, Order, Payment, RefundPayout, Statement, Transfer
from settlement.selectors.ledger import ledger_check
from settlement.selectors.wallets import withdrawals_pending
from voucherhub.core.money import ZERO

LEDGER_CHECK_CACHE = "settlement:ledger_check"


@dataclass(frozen=True)
class LedgerStatus:
    ok: bool
    checked_at: datetime
    accounts: int
    entries: int
    problems: int


def ledger_status(*, fresh: bool = False) -> LedgerStatus:
    """The last ledger check (run at most every 5 minutes for the dashboard; `ledger_check` command for the full report)."""
    status = None if fresh else cache.get(LEDGER_CHECK_CACHE)
    if status is None:
        report = ledger_check()
        status = LedgerStatus(
            ok=report.ok,
            checked_at=timezone.now(),
            accounts=report.accounts,
            entries=report.entries,
            problems=len(report.mismatched) + len(report.unbalanced_transfers) + len(report.limit_breaches),
        )
        cache.set(LEDGER_CHECK_CACHE, status, 300)
    return status


@dataclass(frozen=True)
class FinanceSummary:
    revenue_today: Decimal
    refunds_today: Decimal
    orders_today: int
    orders_by_channel: list
    withdrawals_pending: int
    withdrawals_pending_total: Decimal
    statements_open: int
    payments_waiting: int
    merchant_statements_open: int
    refund_payouts_waiting: int
    refund_payouts_waiting_total: Decimal
    ledger: LedgerStatus


def finance_summary() -> FinanceSummary:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min), tz)
    end = start + timedelta(days=1)
    revenue = Entry.objects.filter(account__kind=Account.Kind.REVENUE, created_at__gte=start, created_at__lt=end)
    sales = revenue.filter(transfer__kind=Transfer.Kind.SALE).aggregate(t=Sum("amount"))["t"] or ZERO
    refunds = -(revenue.filter(transfer__kind=Transfer.Kind.REFUND).aggregate(t=Sum("amount"))["t"] or ZERO)
    paid = Order.objects.filter(paid_at__gte=start, paid_at__lt=end)
    pending = withdrawals_pending()
    payouts = RefundPayout.objects.filter(status=RefundPayout.Status.AWAITING).aggregate(n=Count("id"), total=Sum("amount"))
    return FinanceSummary(
        revenue_today=sales,
        refunds_today=refunds,
        orders_today=paid.count(),
        orders_by_channel=[
            {**row, "label": Order.Channel(row["channel"]).label}
            for row in paid.values("channel").annotate(n=Count("id"), total=Sum("total")).order_by("channel")
        ],
        withdrawals_pending=pending.count(),
        withdrawals_pending_total=pending.aggregate(t=Sum("amount"))["t"] or ZERO,
        statements_open=Statement.objects.filter(status=Statement.Status.OPEN).count(),
        payments_waiting=Payment.objects.filter(adapter="manual", status=Payment.Status.PENDING).count(),
        merchant_statements_open=MerchantStatement.objects.filter(status=MerchantStatement.Status.OPEN).count(),
        refund_payouts_waiting=payouts["n"],
        refund_payouts_waiting_total=payouts["total"] or ZERO,
        ledger=ledger_status(),
    )
