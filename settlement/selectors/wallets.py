"""Reads of wallets and commission for the portal, the API and finance."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from settlement.models import Account, Entry, Transfer, Wallet, Withdrawal
from voucherhub.core.money import ZERO

K = Account.Kind


@dataclass(frozen=True)
class WalletSummary:
    wallet: Wallet
    currency: str
    balance: Decimal
    credit_limit: Decimal
    commission_frozen: Decimal
    commission_available: Decimal
    commission_withdrawing: Decimal
    commission_debt: Decimal

    @property
    def spendable(self) -> Decimal:
        return self.balance + self.credit_limit


def wallet_summary(wallet: Wallet) -> WalletSummary:
    balances = dict(Account.objects.filter(wallet=wallet, currency=wallet.currency).values_list("kind", "balance"))
    return WalletSummary(
        wallet=wallet,
        currency=wallet.currency,
        balance=balances.get(K.WALLET, ZERO),
        credit_limit=wallet.credit_limit,
        commission_frozen=balances.get(K.COMMISSION_FROZEN, ZERO),
        commission_available=balances.get(K.COMMISSION_AVAILABLE, ZERO),
        commission_withdrawing=balances.get(K.COMMISSION_WITHDRAWING, ZERO),
        commission_debt=-balances.get(K.COMMISSION_DEBT, ZERO),
    )


def wallet_topups(wallet: Wallet):
    return (
        Entry.objects.filter(account__wallet=wallet, account__kind=K.WALLET, transfer__kind=Transfer.Kind.TOPUP)
        .select_related("transfer")
        .order_by("-id")
    )


def wallet_entries(wallet: Wallet, *, kinds=None):
    qs = Entry.objects.filter(account__wallet=wallet).select_related("transfer", "account", "transfer__order").order_by("-id")
    if kinds:
        qs = qs.filter(account__kind__in=kinds)
    return qs


def withdrawals_for(wallet: Wallet):
    return Withdrawal.objects.filter(wallet=wallet).order_by("-id")


def withdrawals_pending():
    return Withdrawal.objects.filter(status=Withdrawal.Status.REQUESTED).select_related("wallet__distributor").order_by("id")


def withdrawals_pending_total() -> Decimal:
    return withdrawals_pending().aggregate(total=Sum("amount"))["total"] or ZERO
