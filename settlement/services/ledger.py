"""Posting to the ledger. The only writer of Account.balance and Entry rows."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from settlement.errors import InsufficientFunds, LimitBreached, Unbalanced
from settlement.models import Account, Entry, Transfer, Wallet
from voucherhub.core.money import ZERO, money

Kind = Account.Kind


@dataclass(frozen=True)
class Line:
    account: Account
    amount: Decimal


def platform_account(kind: str, currency: str | None = None) -> Account:
    currency = currency or settings.DEFAULT_CURRENCY
    account = Account.objects.filter(wallet__isnull=True, kind=kind, currency=currency).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return Account.objects.create(kind=kind, currency=currency)
    except IntegrityError:
        return Account.objects.get(wallet__isnull=True, kind=kind, currency=currency)


def _wallet_floor(wallet: Wallet, kind: str) -> tuple[Decimal | None, Decimal | None]:
    if kind == Kind.WALLET:
        return -wallet.credit_limit, None
    if kind in (Kind.COMMISSION_FROZEN, Kind.COMMISSION_AVAILABLE, Kind.COMMISSION_WITHDRAWING):
        return ZERO, None
    if kind == Kind.COMMISSION_DEBT:  # what the distributor owes: zero or below
        return None, ZERO
    return None, None


def wallet_accounts_ensure(wallet: Wallet) -> dict[str, Account]:
    accounts = {a.kind: a for a in Account.objects.filter(wallet=wallet, currency=wallet.currency)}
    for kind in Account.WALLET_KINDS:
        if kind not in accounts:
            low, high = _wallet_floor(wallet, kind)
            try:
                with transaction.atomic():
                    accounts[kind] = Account.objects.create(
                        wallet=wallet, kind=kind, currency=wallet.currency, min_balance=low, max_balance=high
                    )
            except IntegrityError:
                accounts[kind] = Account.objects.get(wallet=wallet, kind=kind, currency=wallet.currency)
    return accounts


def wallet_account(wallet: Wallet, kind: str) -> Account:
    account = Account.objects.filter(wallet=wallet, kind=kind, currency=wallet.currency).first()
    return account or wallet_accounts_ensure(wallet)[kind]


def _breach(account: Account, new_balance: Decimal):
    if account.kind == Kind.WALLET:
        return InsufficientFunds(
            _("Wallet balance %(balance)s plus credit limit %(limit)s does not cover %(amount)s.")
            % {"balance": account.balance, "limit": -(account.min_balance or ZERO), "amount": account.balance - new_balance},
            field="amount",
        )
    return LimitBreached(
        _("%(account)s would go to %(balance)s.") % {"account": account.get_kind_display(), "balance": new_balance}, field="amount"
    )


@transaction.atomic
def transfer_post(
    *,
    kind: str,
    lines: Iterable[Line | tuple[Account, Decimal]],
    reference: str = "",
    memo: str = "",
    order=None,
    actor=None,
    key: str | None = None,
    reverses: Transfer | None = None,
) -> Transfer:
    """Post one balanced transfer: lock the accounts (in id order), check their limits, append the
    entries, move the balances. With `key`, a second call returns the first transfer unchanged."""
    if key is not None:
        existing = Transfer.objects.filter(key=key).first()
        if existing is not None:
            return existing
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    by_id: dict[int, Account] = {}
    for line in lines:
        account, amount = (line.account, line.amount) if isinstance(line, Line) else line
        amount = money(amount)
        if amount == ZERO:
            continue
        totals[account.pk] += amount
        by_id[account.pk] = account
    totals = {pk: amount for pk, amount in totals.items() if amount != ZERO}
    per_currency: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for pk, amount in totals.items():
        per_currency[by_id[pk].currency] += amount
    if not totals or any(v != ZERO for v in per_currency.values()):
        raise Unbalanced(currencies={c: str(v) for c, v in per_currency.items()})

    locked = {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=sorted(totals)).order_by("pk")}
    for pk, amount in totals.items():
        account = locked[pk]
        new_balance = account.balance + amount
        if (account.min_balance is not None and new_balance < account.min_balance) or (
            account.max_balance is not None and new_balance > account.max_balance
        ):
            raise _breach(account, new_balance)

    try:
        with transaction.atomic():
            transfer = Transfer.objects.create(
                kind=kind, key=key, reference=reference[:64], memo=memo[:300], order=order, created_by=_user(actor), reverses=reverses
            )
    except IntegrityError:
        if key is not None and Transfer.objects.filter(key=key).exists():
            return Transfer.objects.get(key=key)
        raise
    now = transfer.created_at or timezone.now()
    entries = []
    for pk in sorted(totals):
        account = locked[pk]
        amount = totals[pk]
        entries.append(
            Entry(
                transfer=transfer,
                account=account,
                amount=amount,
                currency=account.currency,
                balance_after=account.balance + amount,
                created_at=now,
            )
        )
        Account.objects.filter(pk=pk).update(balance=F("balance") + amount, entry_count=F("entry_count") + 1)
        account.balance += amount
    Entry.objects.bulk_create(entries)
    return transfer


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None


@transaction.atomic
def transfer_reverse(*, transfer: Transfer, actor=None, memo: str = "") -> Transfer:
    """Correct a transfer by posting its mirror image. A transfer is reversed at most once."""
    existing = Transfer.objects.filter(reverses=transfer).first()
    if existing is not None:
        return existing
    lines = [(entry.account, -entry.amount) for entry in transfer.entries.select_related("account")]
    return transfer_post(
        kind=Transfer.Kind.REVERSAL,
        lines=lines,
        reference=transfer.reference,
        order=transfer.order,
        memo=memo or _("Reversal of transfer #%(id)s") % {"id": transfer.pk},
        actor=actor,
        reverses=transfer,
        key=f"reverse:{transfer.pk}",
    )
