from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from settlement.models.statements import Reconcilable
from voucherhub.core.money import MoneyField


class MerchantStatement(Reconcilable):
    """What the platform owes a merchant for the codes it redeemed in a period (calendar days, both included),
    in one currency, per store and SKU (its lines). Built from redemption's selectors; once reconciled it never
    changes."""

    number = models.CharField(_("number"), max_length=60, unique=True)
    merchant = models.ForeignKey(
        "redemption.Merchant", verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="settlement_statements"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Reconcilable.Kind.choices)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("until (inclusive)"))
    currency = models.CharField(_("currency"), max_length=3)
    redemption_count = models.PositiveIntegerField(_("redemptions"), default=0)
    reversed_count = models.PositiveIntegerField(_("reversed"), default=0)
    amount_used = MoneyField(_("face value used"), default=0)
    amount_owed = MoneyField(_("owed to merchant"), default=0)
    refreshed_at = models.DateTimeField(_("refreshed"), auto_now=True)

    class Meta:
        verbose_name = _("merchant statement")
        verbose_name_plural = _("merchant statements")
        ordering = ["-period_start", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="merchant_statement_period_ordered"),
            models.CheckConstraint(condition=Q(amount_used__gte=0) & Q(amount_owed__gte=0), name="merchant_statement_amounts_nonneg"),
            models.UniqueConstraint(
                fields=["merchant", "period_start", "period_end", "currency"],
                condition=Q(kind="monthly"),
                name="merchant_statement_monthly_once",
            ),
        ]
        permissions = [("reconcile_merchantstatement", "Can mark a merchant statement reconciled")]

    def __str__(self) -> str:
        return self.number


class MerchantStatementLine(models.Model):
    """One store and SKU of a merchant statement."""

    statement = models.ForeignKey(MerchantStatement, verbose_name=_("statement"), on_delete=models.CASCADE, related_name="lines")
    store = models.ForeignKey("redemption.Store", verbose_name=_("store"), on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    redemption_count = models.PositiveIntegerField(_("redemptions"))
    reversed_count = models.PositiveIntegerField(_("reversed"), default=0)
    amount_used = MoneyField(_("face value used"))
    amount_owed = MoneyField(_("owed to merchant"))

    class Meta:
        verbose_name = _("merchant statement line")
        verbose_name_plural = _("merchant statement lines")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["statement", "store", "sku"], name="merchant_statement_line_once")]

    def __str__(self) -> str:
        return f"{self.statement_id} {self.store_id} {self.sku_id}"
