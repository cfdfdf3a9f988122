"""What the finance dashboard shows."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Sum
from django.utils import timezone

from settlement.adapters import ADAPTERS, adapters_enabled
from settlement.models import Account, Entry, MerchantStatement, Order, Payment, PaymentCallback, RefundPayout, Statement, Transfer
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


def ledger_status() -> LedgerStatus:
    """The last ledger check (run at most every 5 minutes for the dashboard; `ledger_check` command for the full report)."""
    status = cache.get(LEDGER_CHECK_CACHE)
    return status if status is not None else ledger_recheck()


LEDGER_RECHECK_MIN_SECONDS = 10


def ledger_recheck() -> LedgerStatus:
    """Check the ledger now (finance's "check now"), unless a check finished in the last few seconds:
    a double click or a hammering script reads that one instead of scanning every entry again."""
    status = cache.get(LEDGER_CHECK_CACHE)
    if status is not None and (timezone.now() - status.checked_at).total_seconds() < LEDGER_RECHECK_MIN_SECONDS:
        return status
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
    payments: list["AdapterReconciliation"]


@dataclass(frozen=True)
class AdapterReconciliation:
    """One payment adapter's money received against money credited, all time.

    credited: payments whose credit the ledger holds (a wallet top-up, or an order's sale paid from the
    provider's clearing account). received: those of them with a receipt, a provider's applied success
    callback (or finance's bank-transfer confirmation) for the payment's exact amount, through an adapter
    that moves real money. The sandbox's "payments" are never received money. A credit without a receipt
    is flagged (`unmatched`, the first few payment numbers in `unmatched_numbers`)."""

    adapter: str
    label: str
    enabled: bool
    credited: Decimal
    received: Decimal
    unmatched: int
    unmatched_total: Decimal
    unmatched_numbers: list[str]

    @property
    def flagged(self) -> bool:
        return self.unmatched > 0


def _credited_payments():
    clearing_credit = Entry.objects.filter(account__kind=Account.Kind.PAYMENT_CLEARING, amount__lt=0)
    topup = clearing_credit.filter(transfer__kind=Transfer.Kind.TOPUP, transfer__reference=OuterRef("number"))
    sale = clearing_credit.filter(transfer__kind=Transfer.Kind.SALE, transfer__order=OuterRef("order"))
    return Payment.objects.filter(Exists(topup) | Exists(sale))


def _receipted(payments):
    receipt = PaymentCallback.objects.filter(
        payment=OuterRef("pk"), outcome=PaymentCallback.Outcome.APPLIED, event_type="payment.succeeded", amount=OuterRef("amount")
    )
    money_moving = [name for name, adapter in ADAPTERS.items() if adapter.moves_money]
    return payments.filter(Exists(receipt), adapter__in=money_moving)


def payment_reconciliation(*, unmatched_shown: int = 5) -> list[AdapterReconciliation]:
    """Per payment adapter (every enabled one, and any other that has payments): received vs credited."""
    credited = _credited_payments()
    totals = {row["adapter"]: row["total"] for row in credited.order_by().values("adapter").annotate(total=Sum("amount"))}
    received = {row["adapter"]: row["total"] for row in _receipted(credited).order_by().values("adapter").annotate(total=Sum("amount"))}
    enabled = adapters_enabled()
    rows = []
    for name in [*enabled, *sorted(set(totals) - set(enabled))]:
        unmatched = credited.filter(adapter=name).exclude(pk__in=_receipted(credited).filter(adapter=name).values("pk"))
        stats = unmatched.order_by().aggregate(n=Count("id"), total=Sum("amount")) if name in totals else {"n": 0, "total": None}
        adapter = ADAPTERS.get(name)
        rows.append(
            AdapterReconciliation(
                adapter=name,
                label=str(adapter.label) if adapter else name,
                enabled=name in enabled,
                credited=totals.get(name) or ZERO,
                received=received.get(name) or ZERO,
                unmatched=stats["n"],
                unmatched_total=stats["total"] or ZERO,
                unmatched_numbers=list(unmatched.order_by("-pk").values_list("number", flat=True)[:unmatched_shown]) if stats["n"] else [],
            )
        )
    return rows


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
        payments=payment_reconciliation(),
    )
