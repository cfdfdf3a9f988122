from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _

from voucherhub.core.money import MoneyField


class CommissionAccrual(models.Model):
    """One beneficiary's commission on one order: the seller's margin (depth 0) or an upline's share."""

    class Status(models.TextChoices):
        FROZEN = "frozen", _("Frozen")
        RELEASED = "released", _("Released")
        CLAWED_BACK = "clawed_back", _("Clawed back")

    order = models.ForeignKey("settlement.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="commissions")
    wallet = models.ForeignKey("settlement.Wallet", verbose_name=_("beneficiary"), on_delete=models.PROTECT, related_name="commissions")
    depth = models.PositiveSmallIntegerField(_("depth"), help_text=_("0: the seller's own margin; 1-3: uplines."))
    amount = MoneyField(_("earned"))
    clawed_back = MoneyField(_("clawed back"), default=0)
    frozen_remaining = MoneyField(_("still frozen"), default=0)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.FROZEN, db_index=True)
    release_after = models.DateTimeField(_("release after"), db_index=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    rule = models.CharField(_("rule"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("commission")
        verbose_name_plural = _("commissions")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "wallet", "depth"], name="commission_once_per_order"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="commission_amount_positive"),
            models.CheckConstraint(
                condition=Q(clawed_back__gte=0) & Q(clawed_back__lte=models.F("amount")), name="commission_clawback_within"
            ),
            models.CheckConstraint(condition=Q(frozen_remaining__gte=0), name="commission_frozen_nonneg"),
        ]
        indexes = [
            # The release job walks the still-frozen commission by order (services/release.py): only the freeze period's rows.
            models.Index(fields=["order", "release_after"], condition=Q(status="frozen"), name="commission_frozen_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order} → {self.wallet} {self.amount}"

    LEVEL_LABELS = {0: _("My own sale"), 1: _("Direct downline"), 2: _("Second level"), 3: _("Third level")}

    @property
    def level_label(self) -> str:
        """Whose sale earned it, as its beneficiary reads it: its own, its direct downline's, the second level's ..."""
        label = self.LEVEL_LABELS.get(self.depth)
        return str(label) if label is not None else str(_("Level %(n)s") % {"n": self.depth})

    @property
    def state(self) -> str:
        """The freeze state read together with its date: "frozen" until release_after, then "due" (the freeze
        is over; the release job makes it available within minutes), "released" or "clawed_back"."""
        from django.utils import timezone

        if self.status == self.Status.FROZEN and self.release_after <= timezone.now():
            return "due"
        return self.status

    @property
    def state_label(self) -> str:
        if self.state == "due":
            return str(_("Freeze over, being released"))
        return str(self.Status(self.status).label)


class Withdrawal(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved and paid")
        REJECTED = "rejected", _("Rejected")

    number = models.CharField(_("number"), max_length=32, unique=True)
    wallet = models.ForeignKey("settlement.Wallet", verbose_name=_("wallet"), on_delete=models.PROTECT, related_name="withdrawals")
    amount = MoneyField(_("amount"))
    fee = MoneyField(_("fee"))
    net = MoneyField(_("paid out"))
    payee = models.CharField(_("pay to"), max_length=200, help_text=_("Bank account or payee details."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_key = models.CharField(_("request key"), max_length=100, null=True, blank=True, unique=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    payout_reference = models.CharField(_("payout reference"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("withdrawal")
        verbose_name_plural = _("withdrawals")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(fee__gte=0) & Q(net__gt=0), name="withdrawal_amounts_positive"),
            # Rounded to the cent: SQLite (the laptop demo) subtracts decimals as floats, 100.00 - 0.10 = 99.899999…
            models.CheckConstraint(
                condition=Q(net=Round(models.F("amount") - models.F("fee"), 2)), name="withdrawal_net_is_amount_less_fee"
            ),
            models.CheckConstraint(condition=~Q(status="approved") | ~Q(payout_reference=""), name="withdrawal_approved_has_reference"),
        ]
        permissions = [("decide_withdrawal", "Can approve or reject withdrawals")]

    def __str__(self) -> str:
        return self.number
