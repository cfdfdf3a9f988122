from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from voucherhub.core.money import Currency, MoneyField


class RefundPayout(models.Model):
    """A refund that a person must pay back: the order was paid through an adapter that cannot refund by itself
    (bank transfer). The refund left the amount in refunds clearing; finance transfers it to the buyer's bank
    and records the payout reference, which books clearing → payment clearing."""

    class Status(models.TextChoices):
        AWAITING = "awaiting", _("Awaiting payout")
        PAID = "paid", _("Paid out")

    reference = models.CharField(_("refund reference"), max_length=64, unique=True)
    order = models.ForeignKey("settlement.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="refund_payouts")
    payment = models.ForeignKey("settlement.Payment", verbose_name=_("payment"), on_delete=models.PROTECT, related_name="refund_payouts")
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.AWAITING, db_index=True)
    payout_reference = models.CharField(_("payout reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("paid by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    created_at = models.DateTimeField(_("refunded at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("refund payout")
        verbose_name_plural = _("refund payouts")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_payout_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="paid") | (~Q(payout_reference="") & Q(paid_at__isnull=False)), name="refund_payout_paid_has_reference"
            ),
        ]
        permissions = [("record_refund_payout", "Can record that a refund was paid out")]

    def __str__(self) -> str:
        return self.reference
