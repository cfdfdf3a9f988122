from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from voucherhub.core.money import Currency, MoneyField


class Payment(models.Model):
    """Money coming in through a payment adapter: for a consumer's order or a distributor's top-up."""

    class Purpose(models.TextChoices):
        ORDER = "order", _("Order")
        TOPUP = "topup", _("Wallet top-up")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        REFUNDED = "refunded", _("Refunded")

    number = models.CharField(_("payment number"), max_length=32, unique=True)
    purpose = models.CharField(_("purpose"), max_length=8, choices=Purpose.choices)
    adapter = models.CharField(_("adapter"), max_length=20)
    order = models.ForeignKey(
        "settlement.Order", verbose_name=_("order"), null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    wallet = models.ForeignKey(
        "settlement.Wallet", verbose_name=_("wallet"), null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    amount = MoneyField(_("amount"))
    refunded_amount = MoneyField(_("refunded"), default=0)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    provider_ref = models.CharField(_("provider reference"), max_length=100, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(order__isnull=False) | Q(wallet__isnull=False), name="payment_has_target"),
        ]
        permissions = [("confirm_payment", "Can confirm a bank-transfer payment")]

    def __str__(self) -> str:
        return self.number


class PaymentCallback(models.Model):
    """Every callback received, applied or not. A provider event is applied at most once."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Applied")
        DUPLICATE = "duplicate", _("Repeated (no change)")
        IGNORED = "ignored", _("Out of order (no change)")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch (refused)")
        BAD_SIGNATURE = "bad_signature", _("Bad signature (refused)")
        UNKNOWN_PAYMENT = "unknown_payment", _("Unknown payment (refused)")

    adapter = models.CharField(_("adapter"), max_length=20)
    event_id = models.CharField(_("provider event"), max_length=100)
    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), null=True, blank=True, on_delete=models.PROTECT, related_name="callbacks"
    )
    event_type = models.CharField(_("event"), max_length=30, blank=True)
    amount = MoneyField(_("amount"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment callback")
        verbose_name_plural = _("payment callbacks")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["adapter", "event_id"], condition=Q(outcome="applied"), name="paymentcallback_applied_once"),
        ]

    def __str__(self) -> str:
        return f"{self.adapter}:{self.event_id} {self.outcome}"
