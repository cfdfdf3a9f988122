"""The double-entry ledger.

Sign convention (credit-positive): an entry's amount is what the platform now owes the account's
holder more (+) or less (-). A distributor's wallet with 500.00 in it has balance +500.00; the
platform's payment-clearing account (money the providers hold for us) goes negative as money comes
in. Every transfer's entries sum to zero per currency, so the trial balance (the sum of every
account's balance per currency) is always zero. Entries are never updated or deleted (a PostgreSQL
trigger refuses it); a correction is a reversing transfer.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from voucherhub.core.money import Currency, MoneyField


class Wallet(models.Model):
    """A distributor's money at the platform: its prepaid wallet and its commission accounts."""

    distributor = models.OneToOneField(
        "channels.Distributor", verbose_name=_("distributor"), on_delete=models.PROTECT, related_name="settlement_wallet"
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    credit_limit = MoneyField(_("credit limit"), default=0, help_text=_("How far below zero the wallet may go."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("wallet")
        verbose_name_plural = _("wallets")
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(credit_limit__gte=0), name="wallet_credit_limit_nonneg")]
        permissions = [
            ("topup_wallet", "Can record a wallet top-up"),
            ("set_credit_limit", "Can change a wallet's credit limit"),
        ]

    def __str__(self) -> str:
        return f"{self.distributor} ({self.currency})"


class Account(models.Model):
    class Kind(models.TextChoices):
        # The platform's own accounts (one per currency).
        REVENUE = "revenue", _("Sales revenue")
        COST_OF_GOODS = "cost_of_goods", _("Cost of goods sold")
        SUPPLIER_PAYABLE = "supplier_payable", _("Payable to suppliers")
        COMMISSION_EXPENSE = "commission_expense", _("Commission expense")
        PAYMENT_CLEARING = "payment_clearing", _("Payment provider clearing")
        BANK = "bank", _("Bank")
        REFUNDS_CLEARING = "refunds_clearing", _("Refunds clearing")
        FEE_INCOME = "fee_income", _("Withdrawal fee income")
        TOPUPS_HELD = "topups_held", _("Top-up payments held")
        MARKETING_EXPENSE = "marketing_expense", _("Marketing expense")
        # Each distributor's accounts.
        WALLET = "wallet", _("Wallet")
        COMMISSION_FROZEN = "commission_frozen", _("Commission (frozen)")
        COMMISSION_AVAILABLE = "commission_available", _("Commission (available)")
        COMMISSION_WITHDRAWING = "commission_withdrawing", _("Commission (being withdrawn)")
        COMMISSION_DEBT = "commission_debt", _("Commission debt")

    PLATFORM_KINDS = (
        Kind.REVENUE,
        Kind.COST_OF_GOODS,
        Kind.SUPPLIER_PAYABLE,
        Kind.COMMISSION_EXPENSE,
        Kind.PAYMENT_CLEARING,
        Kind.BANK,
        Kind.REFUNDS_CLEARING,
        Kind.FEE_INCOME,
        Kind.TOPUPS_HELD,
        Kind.MARKETING_EXPENSE,
    )
    WALLET_KINDS = (
        Kind.WALLET,
        Kind.COMMISSION_FROZEN,
        Kind.COMMISSION_AVAILABLE,
        Kind.COMMISSION_WITHDRAWING,
        Kind.COMMISSION_DEBT,
    )

    wallet = models.ForeignKey(Wallet, verbose_name=_("wallet"), null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    balance = MoneyField(_("balance"), default=0, editable=False)
    min_balance = MoneyField(_("lowest balance"), null=True, blank=True, editable=False)
    max_balance = MoneyField(_("highest balance"), null=True, blank=True, editable=False)
    entry_count = models.PositiveBigIntegerField(_("entries"), default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "currency"], condition=Q(wallet__isnull=True), name="account_platform_once"),
            models.UniqueConstraint(fields=["wallet", "kind", "currency"], condition=Q(wallet__isnull=False), name="account_wallet_once"),
            models.CheckConstraint(
                condition=Q(min_balance__isnull=True) | Q(balance__gte=models.F("min_balance")), name="account_not_below_floor"
            ),
            models.CheckConstraint(
                condition=Q(max_balance__isnull=True) | Q(balance__lte=models.F("max_balance")), name="account_not_above_ceiling"
            ),
        ]

    def __str__(self) -> str:
        owner = str(self.wallet.distributor) if self.wallet_id else _("platform")
        return f"{owner} · {self.get_kind_display()} · {self.currency}"


class Transfer(models.Model):
    class Kind(models.TextChoices):
        TOPUP = "topup", _("Wallet top-up")
        SALE = "sale", _("Sale")
        COMMISSION = "commission", _("Commission earned")
        RELEASE = "release", _("Commission released")
        REFUND = "refund", _("Refund")
        CLAWBACK = "clawback", _("Commission clawed back")
        REFUND_PAYOUT = "refund_payout", _("Refund paid out")
        WITHDRAWAL_REQUEST = "withdrawal_request", _("Withdrawal requested")
        WITHDRAWAL_PAYOUT = "withdrawal_payout", _("Withdrawal paid")
        WITHDRAWAL_REJECT = "withdrawal_reject", _("Withdrawal rejected")
        SUPPLIER_PAYMENT = "supplier_payment", _("Supplier paid")
        HOLD = "hold", _("Payment held for a top-up")
        REVERSAL = "reversal", _("Reversal")

    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    key = models.CharField(_("key"), max_length=100, null=True, blank=True, unique=True, help_text=_("Makes a posting safe to retry."))
    reference = models.CharField(_("reference"), max_length=64, blank=True, db_index=True)
    order = models.ForeignKey(
        "settlement.Order", verbose_name=_("order"), null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    memo = models.CharField(_("memo"), max_length=300, blank=True)
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.reference}".strip()


class Entry(models.Model):
    transfer = models.ForeignKey(Transfer, verbose_name=_("transfer"), on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries")
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices)
    balance_after = MoneyField(_("balance after"))
    created_at = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "created_at", "id"], name="entry_account_time_idx")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_nonzero")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+}"
