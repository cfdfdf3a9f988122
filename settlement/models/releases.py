from django.db import models
from django.utils.translation import gettext_lazy as _


class CommissionReleaseLine(models.Model):
    """A sale line (one code of an order) whose code was redeemed and whose share of the order's frozen
    commission has been released for it. One row per line, ever: a line is released at most once, also
    when its redemption is reversed after the release and the code is redeemed again."""

    item = models.OneToOneField(
        "settlement.OrderItem", verbose_name=_("order code"), primary_key=True, on_delete=models.CASCADE, related_name="commission_release"
    )
    order = models.ForeignKey(
        "settlement.Order", verbose_name=_("order"), on_delete=models.CASCADE, related_name="commission_release_lines"
    )
    transfer = models.ForeignKey(
        "settlement.Transfer", verbose_name=_("transfer"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("released at"), auto_now_add=True)

    class Meta:
        verbose_name = _("commission released on redemption")
        verbose_name_plural = _("commission released on redemption")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.item_id}"
