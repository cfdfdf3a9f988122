"""Distributor statements: totals for a period from the (immutable) ledger; reconciled ones never change."""

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from settlement.errors import StatementLocked
from settlement.models import Account, Entry, Order, Statement, Transfer, Wallet
from settlement.models.statements import Reconcilable
from settlement.selectors.ledger import account_balance_at
from settlement.services.ledger import wallet_accounts_ensure
from voucherhub.core.audit import audit_record
from voucherhub.core.money import ZERO

K = Account.Kind
T = Transfer.Kind


def _sum(qs) -> Decimal:
    return qs.aggregate(total=Sum("amount"))["total"] or ZERO


def statement_totals(*, wallet: Wallet, start, end) -> dict:
    accounts = wallet_accounts_ensure(wallet)
    entries = Entry.objects.filter(created_at__gte=start, created_at__lt=end)
    wallet_entries = entries.filter(account=accounts[K.WALLET])
    commission = [accounts[k] for k in (K.COMMISSION_FROZEN, K.COMMISSION_AVAILABLE)]
    frozen = entries.filter(account=accounts[K.COMMISSION_FROZEN])
    available = entries.filter(account=accounts[K.COMMISSION_AVAILABLE])
    return {
        "opening_balance": account_balance_at(account=accounts[K.WALLET], at=start),
        "topups": _sum(wallet_entries.filter(transfer__kind=T.TOPUP)),
        "purchases": -_sum(wallet_entries.filter(transfer__kind=T.SALE)),
        "refunds": _sum(wallet_entries.filter(transfer__kind=T.REFUND)),
        "closing_balance": account_balance_at(account=accounts[K.WALLET], at=end),
        "commission_opening": sum((account_balance_at(account=a, at=start) for a in commission), ZERO),
        "commission_earned": _sum(frozen.filter(transfer__kind=T.COMMISSION)),
        "commission_released": -_sum(frozen.filter(transfer__kind=T.RELEASE)),
        "commission_clawed_back": -_sum(entries.filter(account__in=[*commission, accounts[K.COMMISSION_DEBT]], transfer__kind=T.CLAWBACK)),
        "withdrawals": -_sum(available.filter(transfer__kind=T.WITHDRAWAL_REQUEST))
        - _sum(available.filter(transfer__kind=T.WITHDRAWAL_REJECT)),
        "commission_closing": sum((account_balance_at(account=a, at=end) for a in commission), ZERO),
        "debt_closing": -account_balance_at(account=accounts[K.COMMISSION_DEBT], at=end),
        "order_count": Order.objects.filter(Q(distributor=wallet.distributor) & Q(paid_at__gte=start, paid_at__lt=end)).count(),
        "campaign_discounts": Order.objects.filter(distributor=wallet.distributor, paid_at__gte=start, paid_at__lt=end).aggregate(
            total=Sum("discount_distributor")
        )["total"]
        or ZERO,
    }


def statement_generate(*, wallet: Wallet, start, end, actor=None, kind: str = Statement.Kind.ON_DEMAND) -> Statement:
    """Build a statement for [start, end). A monthly statement exists once per wallet and month;
    regenerating an open one refreshes it, a reconciled one is returned unchanged."""
    if end <= start:
        raise StatementLocked(_("The period must end after it starts."), field="end")
    totals = statement_totals(wallet=wallet, start=start, end=end)
    with transaction.atomic():
        existing = None
        if kind == Statement.Kind.MONTHLY:
            existing = Statement.objects.select_for_update().filter(wallet=wallet, kind=kind, period_start=start, period_end=end).first()
        if existing is not None:
            if existing.status == Statement.Status.RECONCILED:
                return existing
            for field, value in totals.items():
                setattr(existing, field, value)
            existing.save()
            return existing
        number = f"ST{wallet.pk:05d}-{timezone.localtime(start):%Y%m%d}-{timezone.localtime(end):%Y%m%d}-{Statement.objects.count() + 1}"
        try:
            with transaction.atomic():
                return Statement.objects.create(
                    number=number,
                    wallet=wallet,
                    kind=kind,
                    period_start=start,
                    period_end=end,
                    currency=wallet.currency,
                    generated_by=actor if getattr(actor, "is_authenticated", False) else None,
                    **totals,
                )
        except IntegrityError:
            return Statement.objects.get(wallet=wallet, kind=kind, period_start=start, period_end=end)


def month_bounds(year: int, month: int):
    """[first moment of the month, first moment of the next month) in the site's time zone."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime(year, month, 1), tz)
    end = timezone.make_aware(datetime(year + (month == 12), month % 12 + 1, 1), tz)
    return start, end


def statements_monthly(*, year: int | None = None, month: int | None = None) -> int:
    """The scheduled job: last month's statement for every wallet. Safe to run twice."""
    if year is None or month is None:
        today = timezone.localdate()
        year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    start, end = month_bounds(year, month)
    n = 0
    for wallet in Wallet.objects.all().select_related("distributor"):
        statement_generate(wallet=wallet, start=start, end=end, kind=Statement.Kind.MONTHLY)
        n += 1
    return n


@transaction.atomic
def reconcile(*, statement: Reconcilable, actor, note: str = "", action: str, data: dict | None = None) -> Reconcilable:
    """Finance agrees a statement (a distributor's or a merchant's); from now on it never changes. Again: no change."""
    statement = type(statement).objects.select_for_update().get(pk=statement.pk)
    if statement.status == Reconcilable.Status.RECONCILED:
        return statement
    statement.status = Reconcilable.Status.RECONCILED
    statement.reconciled_at = timezone.now()
    statement.reconciled_by = actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None
    statement.note = note[:300]
    statement.save(update_fields=["status", "reconciled_at", "reconciled_by", "note"])
    audit_record(actor=actor, action=action, obj=statement, reason=note, data=data)
    return statement


def statement_reconcile(*, statement: Statement, actor, note: str = "") -> Statement:
    return reconcile(statement=statement, actor=actor, note=note, action="statement.reconcile")
