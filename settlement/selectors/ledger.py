"""Reads of the ledger: balances, the proof that balances equal entries, the trial balance."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import Sum

from settlement.models import Account, Entry, Transfer
from voucherhub.core.money import ZERO


@dataclass
class LedgerCheck:
    accounts: int = 0
    entries: int = 0
    mismatched: list[dict] = field(default_factory=list)  # balance != sum(entries)
    unbalanced_transfers: list[dict] = field(default_factory=list)
    trial_balance: dict[str, Decimal] = field(default_factory=dict)
    limit_breaches: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.mismatched
            and not self.unbalanced_transfers
            and not self.limit_breaches
            and all(v == ZERO for v in self.trial_balance.values())
        )


def ledger_check() -> LedgerCheck:
    """Prove the ledger: each account's balance equals the sum of its entries (and its entry count),
    each transfer sums to zero per currency, the trial balance is zero, no account is past its limit."""
    report = LedgerCheck()
    sums = {
        row["account_id"]: (row["total"], row["n"])
        for row in Entry.objects.values("account_id").annotate(total=Sum("amount"), n=models_count())
    }
    for account in Account.objects.all().only(
        "id", "kind", "wallet_id", "currency", "balance", "entry_count", "min_balance", "max_balance"
    ):
        report.accounts += 1
        total, n = sums.get(account.pk, (ZERO, 0))
        report.entries += n
        if total != account.balance or n != account.entry_count:
            report.mismatched.append(
                {
                    "account": account.pk,
                    "kind": account.kind,
                    "balance": account.balance,
                    "entries_sum": total,
                    "entry_count": account.entry_count,
                    "entries": n,
                }
            )
        if (account.min_balance is not None and account.balance < account.min_balance) or (
            account.max_balance is not None and account.balance > account.max_balance
        ):
            report.limit_breaches.append({"account": account.pk, "kind": account.kind, "balance": account.balance})
        report.trial_balance[account.currency] = report.trial_balance.get(account.currency, ZERO) + account.balance
    with connection.cursor() as cursor:
        cursor.execute(
            # ROUND to the field's places: exact on PostgreSQL; on SQLite (REAL arithmetic) it drops float noise like 8.9e-16
            f"SELECT transfer_id, currency, SUM(amount) FROM {Entry._meta.db_table} GROUP BY transfer_id, currency"
            f" HAVING ROUND(SUM(amount), {Entry._meta.get_field('amount').decimal_places}) <> 0"
        )
        report.unbalanced_transfers = [{"transfer": t, "currency": c, "sum": s} for t, c, s in cursor.fetchall()]
        cursor.execute(
            f"SELECT t.id FROM {Transfer._meta.db_table} t"
            f" WHERE NOT EXISTS (SELECT 1 FROM {Entry._meta.db_table} e WHERE e.transfer_id = t.id)"
        )
        report.unbalanced_transfers += [{"transfer": row[0], "currency": "", "sum": "no entries"} for row in cursor.fetchall()]
    return report


def models_count():
    from django.db.models import Count

    return Count("id")


def account_balance_at(*, account: Account, at) -> Decimal:
    """The balance just before `at` (the last entry's running balance)."""
    last = (
        Entry.objects.filter(account=account, created_at__lt=at)
        .order_by("-created_at", "-id")
        .values_list("balance_after", flat=True)
        .first()
    )
    return last if last is not None else ZERO


def trial_balance() -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for row in Account.objects.values("currency").annotate(total=Sum("balance")):
        out[row["currency"]] = row["total"] or ZERO
    return out


def platform_balances(currency: str | None = None) -> list[Account]:
    qs = Account.objects.filter(wallet__isnull=True)
    if currency:
        qs = qs.filter(currency=currency)
    return list(qs.order_by("kind"))
