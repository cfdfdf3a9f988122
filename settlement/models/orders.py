"""Orders: one SKU, one or more codes, from the portal, the signed API or a storefront."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from voucherhub.core.money import Currency, MoneyField


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting payment")
        PAID = "paid", _("Paid")
        DELIVERED = "delivered", _("Delivered")
        EXPIRED = "expired", _("Expired")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
        REFUNDED = "refunded", _("Refunded")
        CANCELLED = "cancelled", _("Cancelled")

    # Only services change a status, and only along these edges.
    TRANSITIONS = {
        Status.PENDING: {Status.PAID, Status.EXPIRED, Status.CANCELLED},
        Status.PAID: {Status.DELIVERED, Status.REFUNDED, Status.PARTIALLY_REFUNDED},
        Status.DELIVERED: {Status.REFUNDED, Status.PARTIALLY_REFUNDED},
        Status.PARTIALLY_REFUNDED: {Status.REFUNDED, Status.PARTIALLY_REFUNDED},
        # A payment that arrives after expiry: the order is paid, then redelivered or refunded.
        Status.EXPIRED: {Status.PAID},
        Status.CANCELLED: {Status.PAID},
        Status.REFUNDED: set(),
    }

    class Channel(models.TextChoices):
        PORTAL = "portal", _("Distributor portal")
        API = "api", _("Distributor API")
        STOREFRONT = "storefront", _("Storefront")

    class PayMethod(models.TextChoices):
        WALLET = "wallet", _("Wallet")
        SANDBOX = "sandbox", _("Sandbox payment")
        MANUAL = "manual", _("Bank transfer")

    class Hold(models.TextChoices):
        NONE = "", _("None")
        REVIEW = "review", _("Waiting for risk review")
        APPROVED = "approved", _("Released by risk review")
        REJECTED = "rejected", _("Rejected by risk review")
        GROUP = "group", _("Waiting for the group to fill")

    number = models.CharField(_("order number"), max_length=32, unique=True)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    distributor = models.ForeignKey("channels.Distributor", verbose_name=_("distributor"), on_delete=models.PROTECT, related_name="orders")
    chain = models.JSONField(
        _("distributor chain"), default=list, blank=True, help_text=_("Upline ids at the time of the order, nearest first.")
    )
    storefront = models.ForeignKey(
        "channels.Storefront", verbose_name=_("storefront"), null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    campaign = models.CharField(_("campaign"), max_length=64, blank=True)
    referrer = models.CharField(_("referrer"), max_length=200, blank=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("placed by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    customer_ref = models.CharField(_("customer reference"), max_length=64, blank=True, help_text=_("The API caller's own reference."))
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # Direct top-up orders (a SKU fulfilled by supply): the account the supplier tops up, as validated.
    topup_account = models.CharField(_("account to top up"), max_length=80, blank=True)
    topup_region = models.CharField(_("region"), max_length=80, blank=True)

    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField(_("quantity"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    unit_price = MoneyField(_("unit price"))
    total = MoneyField(_("total"))
    purchase_unit_price = MoneyField(_("distributor's unit price"))
    unit_cost = MoneyField(_("unit cost"))
    refunded_amount = MoneyField(_("refunded"), default=0)
    # Marketing (issue 16): who bought (a signed-in consumer), the campaign that priced the order and the
    # discount off the list total, split by who funds it (the platform's marketing expense, or the storefront
    # distributor's margin). A bundle's component orders share `basket` (the lead order's number).
    consumer = models.ForeignKey(
        "marketing.Consumer", verbose_name=_("consumer"), null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    promotion = models.ForeignKey(
        "marketing.Campaign", verbose_name=_("campaign"), null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    list_total = MoneyField(_("list total"), default=0)
    discount = MoneyField(_("discount"), default=0)
    discount_platform = MoneyField(_("discount funded by the platform"), default=0)
    discount_distributor = MoneyField(_("discount funded by the distributor"), default=0)
    basket = models.CharField(_("basket"), max_length=32, blank=True, db_index=True, help_text=_("A bundle's orders share it."))
    refunded_quantity = models.PositiveIntegerField(_("refunded codes"), default=0)

    pay_method = models.CharField(_("payment method"), max_length=10, choices=PayMethod.choices)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    hold = models.CharField(_("risk hold"), max_length=10, choices=Hold.choices, default=Hold.NONE, blank=True)
    risk_outcome = models.CharField(_("risk decision"), max_length=12, blank=True)
    risk_reasons = models.JSONField(_("risk reasons"), default=list, blank=True)
    risk_event_id = models.BigIntegerField(_("risk event"), null=True, blank=True, db_index=True)

    # Consumer orders: where the link goes and the lookup secret (hashed).
    contact = models.CharField(_("contact"), max_length=200, blank=True)
    contact_key = models.CharField(max_length=64, blank=True, editable=False, help_text="HMAC of the normalised contact")
    lookup_password = models.CharField(max_length=128, blank=True, editable=False)

    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(_("pay before"), null=True, blank=True, db_index=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["distributor", "idempotency_key"], name="order_idem_once"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_nonneg"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("total")), name="order_refund_within_total"
            ),
            models.CheckConstraint(condition=Q(refunded_quantity__lte=models.F("quantity")), name="order_refund_qty_within"),
            models.CheckConstraint(
                condition=Q(discount_platform__gte=0)
                & Q(discount_distributor__gte=0)
                & Q(discount=models.F("discount_platform") + models.F("discount_distributor")),
                name="order_discount_split",
            ),
        ]
        indexes = [
            models.Index(fields=["distributor", "status", "id"], name="order_dist_status_idx"),
            # "new user" (issue 16): has this contact a paid order? Asked on every signed-in consumer's order.
            models.Index(fields=["contact_key", "status"], condition=~Q(contact_key=""), name="order_contact_status_idx"),
            # The sales rollup's job asks every minute which orders changed since its watermark (analytics/rollups/sales.py).
            models.Index(fields=["status_changed_at"], name="order_status_changed_idx"),
            # ... and sums the orders paid in a day range by hour (paid_at is NULL until an order is paid).
            models.Index(fields=["paid_at"], condition=Q(paid_at__isnull=False), name="order_paid_at_idx"),
        ]
        permissions = [
            ("refund_order", "Can refund an order"),
            ("replace_code", "Can replace a delivered code (after-sales)"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_consumer(self) -> bool:
        return self.channel == self.Channel.STOREFRONT

    @property
    def is_topup(self) -> bool:
        """Fulfilled by a supplier topping up an account (supply), not by codes."""
        from catalog.models import Sku

        return self.sku.fulfilment == Sku.Fulfilment.TOPUP

    @property
    def delivered_quantity(self) -> int:
        return self.quantity - self.refunded_quantity


class OrderItem(models.Model):
    """One code of an order. A code is in at most one live item (reserved or delivered)."""

    class State(models.TextChoices):
        RESERVED = "reserved", _("Reserved")
        DELIVERED = "delivered", _("Delivered")
        RELEASED = "released", _("Released (order expired)")
        REPLACED = "replaced", _("Replaced (after-sales)")
        REFUNDED = "refunded", _("Refunded")

    LIVE = (State.RESERVED, State.DELIVERED)

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="items")
    code = models.ForeignKey("catalog.CardCode", verbose_name=_("card code"), on_delete=models.PROTECT, related_name="order_items")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.RESERVED)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")
    from_quota = models.BooleanField(_("from quota"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    changed_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("order code")
        verbose_name_plural = _("order codes")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=Q(state__in=["reserved", "delivered"]), name="orderitem_code_live_once"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.code_id} {self.state}"


class OrderEvent(models.Model):
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(_("from"), max_length=20, blank=True)
    to_status = models.CharField(_("to"), max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"

    @staticmethod
    def _status_label(value: str) -> str:
        return str(Order.Status(value).label) if value in Order.Status.values else value

    @property
    def from_status_label(self) -> str:
        return self._status_label(self.from_status)

    @property
    def to_status_label(self) -> str:
        return self._status_label(self.to_status)

    @property
    def note_label(self) -> str:
        """The note as a reader sees it: a channel or payment method that services write as its value
        ("portal", "wallet") reads as its label; any other note is already a sentence."""
        for choices in (Order.Channel, Order.PayMethod):
            if self.note in choices.values:
                return str(choices(self.note).label)
        return self.note
