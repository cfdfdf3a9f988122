"""After-sales (售后): a buyer reports a bad code; operations replaces it, refunds it or rejects the report."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CodeIssue(models.Model):
    """One report about one delivered code. Only services change its status, and only once: open → closed."""

    class Reason(models.TextChoices):
        NOT_WORKING = "not_working", _("The code does not work")
        ALREADY_USED = "already_used", _("The code was already used")
        EXPIRED = "expired", _("The code has expired")
        OTHER = "other", _("Something else")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        REPLACED = "replaced", _("Replaced")
        REFUNDED = "refunded", _("Refunded")
        REJECTED = "rejected", _("Rejected")

    class Reporter(models.TextChoices):
        DISTRIBUTOR = "distributor", _("Distributor")
        CONSUMER = "consumer", _("Consumer")

    order = models.ForeignKey("settlement.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="code_issues")
    item = models.ForeignKey("settlement.OrderItem", verbose_name=_("order code"), on_delete=models.PROTECT, related_name="issues")
    # The masked hint only: the plaintext code is never stored outside the vault.
    code_hint = models.CharField(_("card code"), max_length=12)
    reporter = models.CharField(_("reported by"), max_length=12, choices=Reporter.choices)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reporting user"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    details = models.TextField(_("details"), max_length=1000, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    resolution_note = models.CharField(_("resolution note"), max_length=300, blank=True)
    replacement = models.ForeignKey(
        "settlement.OrderItem", verbose_name=_("replacement code"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("resolved by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    created_at = models.DateTimeField(_("reported at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("code issue")
        verbose_name_plural = _("code issues (after-sales)")
        ordering = ["-id"]
        constraints = [
            # One open report per code: a second report waits for the first one's answer.
            models.UniqueConstraint(fields=["item"], condition=Q(status="open"), name="codeissue_one_open_per_item"),
            models.CheckConstraint(
                condition=Q(status="open", resolved_at__isnull=True) | (~Q(status="open") & Q(resolved_at__isnull=False)),
                name="codeissue_resolved_when_closed",
            ),
            models.CheckConstraint(condition=~Q(status="replaced") | Q(replacement__isnull=False), name="codeissue_replaced_has_new_code"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.order_id} {self.code_hint}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
