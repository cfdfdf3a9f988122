"""Supply's tables (docs: the supply contract). Fields, constraints and single-row helpers only; every write
goes through supply/services/."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models import Sku, Supplier
from voucherhub.core.money import MoneyField, RateField


class Upstream(models.Model):
    """How we talk to a supplier (catalog.Supplier stays its identity)."""

    class Protocol(models.TextChoices):
        GATEWAY = "gateway", _("Gateway (form + MD5)")
        V2 = "v2", _("V2 reseller (form + MD5)")
        VOUCHERHUB = "voucherhub", _("VoucherHub (signed JSON, HMAC)")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        DEMOTED = "demoted", _("Demoted")

    supplier = models.OneToOneField(Supplier, verbose_name=_("supplier"), on_delete=models.PROTECT, related_name="upstream")
    protocol = models.CharField(_("protocol"), max_length=20, choices=Protocol.choices)
    base_url = models.URLField(_("base URL"), max_length=300)
    app_key = models.CharField(_("app key"), max_length=120, help_text=_("Their public id for us: merchant id, app id or key id."))
    api_secret_sealed = models.BinaryField(_("API secret (sealed)"), blank=True, default=b"", editable=False)
    callback_secret_sealed = models.BinaryField(_("callback secret (sealed)"), blank=True, default=b"", editable=False)
    secrets_key_id = models.CharField(_("vault key"), max_length=40, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(_("status reason"), max_length=300, blank=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)
    balance = MoneyField(_("balance"), null=True, blank=True)
    balance_checked_at = models.DateTimeField(_("balance checked"), null=True, blank=True)
    low_balance_threshold = MoneyField(_("low-balance threshold"), default=0)
    timeout_seconds = models.PositiveSmallIntegerField(_("timeout (seconds)"), default=8)
    success_rate_floor = RateField(_("success-rate floor"), default="0.8000", help_text=_("0 to 1; below it the upstream is demoted."))
    rate_window_minutes = models.PositiveIntegerField(_("rate window (minutes)"), default=60)
    rate_min_attempts = models.PositiveIntegerField(_("minimum attempts for the rate"), default=20)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("upstream")
        verbose_name_plural = _("upstreams")
        ordering = ["supplier__name"]
        constraints = [
            models.CheckConstraint(condition=Q(success_rate_floor__gte=0) & Q(success_rate_floor__lte=1), name="upstream_rate_floor_0_1"),
            models.CheckConstraint(condition=Q(low_balance_threshold__gte=0), name="upstream_low_balance_nonneg"),
        ]

    def __str__(self) -> str:
        return str(self.supplier)

    def _context(self, which: str) -> str:
        return f"supply.upstream:{self.supplier_id}:{which}"

    def secrets_set(self, *, api_secret: str, callback_secret: str) -> None:
        """Seal both secrets (the caller saves)."""
        from catalog.vault import seal_bytes

        self.api_secret_sealed, key_id = seal_bytes(api_secret.encode(), context=self._context("api"))
        self.callback_secret_sealed, _key = seal_bytes(callback_secret.encode(), context=self._context("callback"))
        self.secrets_key_id = key_id

    def secrets(self) -> tuple[str, str]:
        """(api_secret, callback_secret) in clear; never log or store them."""
        from catalog.vault import open_bytes

        if not self.secrets_key_id:
            return "", ""
        api = open_bytes(self.api_secret_sealed, key_id=self.secrets_key_id, context=self._context("api"))
        callback = open_bytes(self.callback_secret_sealed, key_id=self.secrets_key_id, context=self._context("callback"))
        return api.decode(), callback.decode()

    def connection(self):
        from supply.adapters.base import Connection

        api_secret, callback_secret = self.secrets()
        return Connection(
            base_url=self.base_url,
            app_key=self.app_key,
            secret=api_secret,
            callback_secret=callback_secret,
            timeout=float(self.timeout_seconds),
        )


class UpstreamProduct(models.Model):
    """One of our SKUs as an upstream sells it: a top-up (position in the SKU's chain) or cards to buy."""

    class Kind(models.TextChoices):
        TOPUP = "topup", _("Direct top-up")
        CARD = "card", _("Card purchase")

    upstream = models.ForeignKey(Upstream, verbose_name=_("upstream"), on_delete=models.CASCADE, related_name="products")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="upstream_products")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.TOPUP)
    their_product_id = models.CharField(_("their product id"), max_length=80)
    face_value = MoneyField(_("face value"))
    cost = MoneyField(_("cost"))
    max_price = MoneyField(_("maximum price"), null=True, blank=True, help_text=_("Refuse to pay more than this; empty means no guard."))
    position = models.PositiveSmallIntegerField(_("position in chain"), default=1)
    retries = models.PositiveSmallIntegerField(_("attempts at this upstream"), default=1)
    active = models.BooleanField(_("active"), default=True)
    replenish_below = models.PositiveIntegerField(_("replenish below"), null=True, blank=True)
    replenish_batch = models.PositiveIntegerField(_("replenish batch"), null=True, blank=True)

    class Meta:
        verbose_name = _("upstream product")
        verbose_name_plural = _("upstream products")
        ordering = ["sku_id", "kind", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["upstream", "sku", "kind"], name="upstreamproduct_once"),
            models.CheckConstraint(condition=Q(cost__gte=0) & Q(face_value__gte=0), name="upstreamproduct_money_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.upstream} · {self.their_product_id}"


class TopupProfile(models.Model):
    """What a top-up SKU needs from the buyer, and what happens when every upstream failed."""

    class AccountKind(models.TextChoices):
        PHONE = "phone", _("Mobile number")
        QQ = "qq", _("QQ number")
        GAME = "game", _("Game account")

    class OnExhausted(models.TextChoices):
        REFUND = "refund", _("Refund the buyer")
        HOLD = "hold", _("Hold for operations")

    sku = models.OneToOneField(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="topup_profile")
    account_kind = models.CharField(_("account kind"), max_length=10, choices=AccountKind.choices, default=AccountKind.PHONE)
    regions = models.JSONField(_("regions"), default=list, blank=True, help_text=_("Allowed game regions; empty for phone and QQ."))
    on_exhausted = models.CharField(_("when every upstream failed"), max_length=10, choices=OnExhausted.choices, default=OnExhausted.REFUND)

    class Meta:
        verbose_name = _("top-up profile")
        verbose_name_plural = _("top-up profiles")

    def __str__(self) -> str:
        return str(self.sku)


class Topup(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUBMITTED = "submitted", _("Submitted")
        PROCESSING = "processing", _("Processing")
        SUCCESS = "success", _("Succeeded")
        FAILED = "failed", _("Failed")
        PARTIAL = "partial", _("Partly delivered")
        UNKNOWN = "unknown", _("Unknown, checking")
        ON_HOLD = "on_hold", _("On hold")

    FINAL = frozenset({Status.SUCCESS, Status.FAILED, Status.PARTIAL})
    WORKING = frozenset({Status.SUBMITTED, Status.PROCESSING, Status.UNKNOWN})
    # A working top-up may move to another working state (also the same one: a failover to the next upstream
    # is a new attempt, recorded as SUBMITTED -> SUBMITTED); final states never move.
    TRANSITIONS = {
        Status.PENDING: WORKING | FINAL | {Status.ON_HOLD},
        Status.SUBMITTED: WORKING | FINAL | {Status.ON_HOLD},
        Status.PROCESSING: WORKING | FINAL | {Status.ON_HOLD},
        Status.UNKNOWN: WORKING | FINAL | {Status.ON_HOLD},
        Status.ON_HOLD: {Status.SUBMITTED, Status.FAILED},
        Status.SUCCESS: frozenset(),
        Status.FAILED: frozenset(),
        Status.PARTIAL: frozenset(),
    }

    reference = models.CharField(_("reference"), max_length=40, unique=True, help_text=_("The order number."))
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="topups")
    account = models.CharField(_("account"), max_length=80)
    region = models.CharField(_("region"), max_length=80, blank=True)
    face_value = MoneyField(_("face value"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    delivered_value = MoneyField(_("delivered value"), null=True, blank=True)
    cost = MoneyField(_("cost"), null=True, blank=True)
    upstream = models.ForeignKey(
        Upstream, verbose_name=_("upstream"), on_delete=models.PROTECT, null=True, blank=True, related_name="topups"
    )
    attempts_count = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_check_at = models.DateTimeField(_("next check"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # When settlement was told of the final state (supply.signals.topup_finished); the poller tells it again
    # while this is empty (a receiver that raised).
    announced_at = models.DateTimeField(_("announced"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("top-up")
        verbose_name_plural = _("top-ups")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_check_at"], name="topup_status_check"),
            models.Index(fields=["created_at"], name="topup_created"),
            # analytics' refresh job: the top-ups finished since its watermark.
            models.Index(fields=["finished_at"], name="topup_finished"),
            models.Index(
                fields=["finished_at"], condition=Q(announced_at__isnull=True, finished_at__isnull=False), name="topup_unannounced"
            ),
        ]
        constraints = [models.CheckConstraint(condition=Q(face_value__gte=0), name="topup_face_value_nonneg")]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class TopupAttempt(models.Model):
    """One order placed at one upstream under our number `<reference>-A<n>`."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        PROCESSING = "processing", _("Processing")
        SUCCESS = "success", _("Succeeded")
        FAILED = "failed", _("Failed")
        PARTIAL = "partial", _("Partly delivered")
        UNKNOWN = "unknown", _("Unknown, checking")

    FINAL = frozenset({Status.SUCCESS, Status.FAILED, Status.PARTIAL})
    OPEN = frozenset({Status.SUBMITTED, Status.PROCESSING, Status.UNKNOWN})  # waiting for the supplier's final word

    topup = models.ForeignKey(Topup, verbose_name=_("top-up"), on_delete=models.CASCADE, related_name="attempts")
    number = models.CharField(_("our number"), max_length=48, unique=True)
    n = models.PositiveSmallIntegerField(_("attempt"))
    upstream = models.ForeignKey(Upstream, verbose_name=_("upstream"), on_delete=models.PROTECT, related_name="attempts")
    product = models.ForeignKey(UpstreamProduct, verbose_name=_("upstream product"), on_delete=models.PROTECT, related_name="attempts")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    their_number = models.CharField(_("their number"), max_length=80, blank=True)
    their_status = models.CharField(_("their status code"), max_length=80, blank=True)
    # The last answer's outcome in our terms (supply.adapters.base.Outcome: "no_balance", "exists" ...).
    outcome = models.CharField(_("last outcome"), max_length=20, blank=True)
    message = models.CharField(_("message"), max_length=300, blank=True)
    delivered_value = MoneyField(_("delivered value"), null=True, blank=True)
    cost = MoneyField(_("cost"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    queries = models.PositiveSmallIntegerField(_("queries"), default=0)
    next_query_at = models.DateTimeField(_("next query"), null=True, blank=True)

    class Meta:
        verbose_name = _("top-up attempt")
        verbose_name_plural = _("top-up attempts")
        ordering = ["topup_id", "n"]
        indexes = [
            models.Index(fields=["status", "next_query_at"], name="attempt_status_query"),
            models.Index(fields=["upstream", "finished_at"], name="attempt_upstream_finished"),
        ]
        constraints = [models.UniqueConstraint(fields=["topup", "n"], name="attempt_n_once")]

    def __str__(self) -> str:
        return self.number

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class TopupEvent(models.Model):
    class Source(models.TextChoices):
        SUBMIT = "submit", _("Submission")
        CALLBACK = "callback", _("Callback")
        QUERY = "query", _("Query")
        OPS = "operator", _("Operations")
        SYSTEM = "system", _("System")

    topup = models.ForeignKey(Topup, verbose_name=_("top-up"), on_delete=models.CASCADE, related_name="events")
    attempt = models.ForeignKey(
        TopupAttempt, verbose_name=_("attempt"), on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    from_status = models.CharField(_("from"), max_length=20, choices=Topup.Status.choices)
    to_status = models.CharField(_("to"), max_length=20, choices=Topup.Status.choices)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("top-up event")
        verbose_name_plural = _("top-up events")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.topup_id}: {self.from_status} → {self.to_status}"


class SupplyCallback(models.Model):
    """Every callback an upstream sent us, accepted or not (a digest of the body, never secrets)."""

    upstream = models.ForeignKey(Upstream, verbose_name=_("upstream"), on_delete=models.CASCADE, related_name="callbacks")
    attempt = models.ForeignKey(
        TopupAttempt, verbose_name=_("attempt"), on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks"
    )
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    verified = models.BooleanField(_("verified"), default=False)
    duplicate = models.BooleanField(_("duplicate"), default=False)
    outcome = models.CharField(_("outcome"), max_length=300, blank=True)
    body_digest = models.CharField(_("body digest (SHA-256)"), max_length=64)
    remote_ip = models.GenericIPAddressField(_("remote IP"), null=True, blank=True)

    class Meta:
        verbose_name = _("supplier callback")
        verbose_name_plural = _("supplier callbacks")
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.upstream_id}: {self.outcome}"


class SupplyAlert(models.Model):
    class Kind(models.TextChoices):
        LOW_BALANCE = "low_balance", _("Low balance")
        DEMOTED = "demoted", _("Demoted")
        NO_BALANCE = "no_balance", _("Balance exhausted")
        RECONCILIATION = "reconciliation", _("Reconciliation")
        STUCK = "stuck", _("No final answer")

    upstream = models.ForeignKey(Upstream, verbose_name=_("upstream"), on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    message = models.CharField(_("message"), max_length=300)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("acknowledged by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("supply alert")
        verbose_name_plural = _("supply alerts")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.message


# Ops' and finance's tables (reconciliation, card replenishment): their own module and migration 0004.
from supply.models_ops import Replenishment, StatementDifference, StatementImport  # noqa: E402, F401
