"""Merchants, stores and terminals; redemptions and every attempt at one; the holder's side of a code."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import CardCode, Sku
from voucherhub.core.money import MoneyField


class Merchant(models.Model):
    """A brand or chain that honours codes (星巴克, 万达影城)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    code = models.SlugField(_("merchant code"), max_length=40, unique=True)
    contact_name = models.CharField(_("contact"), max_length=120, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("email"), blank=True)
    reversal_window_hours = models.PositiveIntegerField(
        _("reversal window (hours)"), null=True, blank=True, help_text=_("Empty: the platform default (24 hours).")
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Store(models.Model):
    """One location of a merchant."""

    merchant = models.ForeignKey(Merchant, verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="stores")
    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(_("store code"), max_length=40)
    city = models.CharField(_("city"), max_length=60, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["merchant__name", "name"]
        constraints = [models.UniqueConstraint(fields=["merchant", "code"], name="store_code_per_merchant")]

    def __str__(self) -> str:
        return f"{self.merchant.name} {self.name}"


class Terminal(models.Model):
    """A POS or clerk device with signed API credentials (the distributor API's scheme).

    The secret is shown once when created or rotated and kept only sealed under the vault key.
    """

    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="terminals")
    name = models.CharField(_("name"), max_length=120)
    key_id = models.CharField(_("key id"), max_length=40, unique=True, editable=False)
    secret_sealed = models.BinaryField(_("sealed secret"), editable=False)
    ip_allowlist = models.JSONField(_("IP allowlist"), default=list, blank=True, help_text=_("Addresses or CIDR ranges; empty: any."))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        ordering = ["store", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @staticmethod
    def new_key_id() -> str:
        return "tm_" + secrets.token_hex(10)


class MerchantClerk(models.Model):
    """A user who works for a merchant: at every store, or only at the listed ones."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="merchant_clerk")
    merchant = models.ForeignKey(Merchant, verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="clerks")
    stores = models.ManyToManyField(Store, verbose_name=_("stores"), blank=True, help_text=_("Empty: every store of the merchant."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant clerk")
        verbose_name_plural = _("merchant clerks")

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant}"


class MerchantSkuPrice(models.Model):
    """What the platform pays a merchant for one full redemption of a SKU (stored value: pro rata)."""

    merchant = models.ForeignKey(Merchant, verbose_name=_("merchant"), on_delete=models.CASCADE, related_name="sku_prices")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="+")
    settlement_price = MoneyField(_("settlement price"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("merchant settlement price")
        verbose_name_plural = _("merchant settlement prices")
        constraints = [
            models.UniqueConstraint(fields=["merchant", "sku"], name="merchant_sku_price_once"),
            models.CheckConstraint(condition=Q(settlement_price__gte=0), name="merchant_sku_price_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.merchant} · {self.sku.code} · {self.settlement_price}"


class CodeBalance(models.Model):
    """The remaining value of a stored-value code, created on its first redemption from the face value."""

    code = models.OneToOneField(CardCode, verbose_name=_("card code"), on_delete=models.CASCADE, primary_key=True, related_name="balance")
    initial = MoneyField(_("initial balance"))
    remaining = MoneyField(_("remaining balance"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("code balance")
        verbose_name_plural = _("code balances")
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0), name="code_balance_nonneg"),
            models.CheckConstraint(condition=Q(remaining__lte=models.F("initial")), name="code_balance_le_initial"),
        ]

    def __str__(self) -> str:
        return f"{self.code_id}: {self.remaining}/{self.initial}"


class Redemption(models.Model):
    class Status(models.TextChoices):
        COMPLETED = "completed", _("Redeemed")
        REVERSED = "reversed", _("Reversed")

    class Channel(models.TextChoices):
        API = "api", _("Terminal API")
        CONSOLE = "console", _("Merchant console")

    code = models.ForeignKey(CardCode, verbose_name=_("card code"), on_delete=models.PROTECT, related_name="redemptions")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    merchant = models.ForeignKey(Merchant, verbose_name=_("merchant"), on_delete=models.PROTECT, related_name="redemptions")
    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="redemptions")
    terminal = models.ForeignKey(
        Terminal, verbose_name=_("terminal"), null=True, blank=True, on_delete=models.PROTECT, related_name="redemptions"
    )
    clerk = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("clerk"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.COMPLETED)
    amount = MoneyField(_("amount"), help_text=_("Value used: the face value, or the part of a balance."))
    spend = MoneyField(_("bill amount"), null=True, blank=True)
    balance_after = MoneyField(_("balance after"), null=True, blank=True)
    amount_owed = MoneyField(_("owed to merchant"))
    reference = models.CharField(_("POS reference"), max_length=64, blank=True)
    after_reminder = models.BooleanField(_("after an expiry reminder"), default=False)
    created_at = models.DateTimeField(_("redeemed at"), default=timezone.now, db_index=True)
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversed_by_terminal = models.ForeignKey(
        Terminal, verbose_name=_("reversed by terminal"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reversed by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reverse_reason = models.CharField(_("reversal reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["merchant", "created_at"], name="redemption_merchant_time_idx"),
            models.Index(fields=["store", "created_at"], name="redemption_store_time_idx"),
            # analytics' refresh job: the redemptions reversed since its watermark (few are: a partial index).
            models.Index(fields=["reversed_at"], condition=Q(reversed_at__isnull=False), name="redemption_reversed_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="redemption_amount_nonneg"),
            models.CheckConstraint(condition=Q(amount_owed__gte=0), name="redemption_owed_nonneg"),
            models.CheckConstraint(condition=Q(status="completed") | Q(reversed_at__isnull=False), name="redemption_reversed_has_time"),
        ]
        permissions = [("reverse_redemption", "Can reverse a redemption"), ("export_redemption", "Can export redemptions")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.code.hint} @ {self.store.name}"

    @property
    def is_reversed(self) -> bool:
        return self.status == self.Status.REVERSED


class RefusalReason(models.TextChoices):
    """Why an attempt did not pass. Callers outside the code's merchant only ever see NOT_VALID_HERE."""

    MALFORMED = "malformed", _("Not a code")
    NOT_VALID_HERE = "not_valid_here", _("Not valid here")
    UNKNOWN_CODE = "unknown_code", _("Unknown code")
    OTHER_MERCHANT = "other_merchant", _("Another merchant's code")
    BAD_TOKEN = "bad_token", _("Invalid QR code")
    TOKEN_EXPIRED = "token_expired", _("QR code expired")
    SERIAL_MISMATCH = "serial_mismatch", _("Serial number does not match")
    NOT_ACTIVE = "not_active", _("Not activated")
    ALREADY_REDEEMED = "already_redeemed", _("Already redeemed")
    EXPIRED = "expired", _("Expired")
    VOID = "void", _("Void")
    NOT_YET_VALID = "not_yet_valid", _("Not valid yet")
    STORE_NOT_ALLOWED = "store_not_allowed", _("Not accepted at this store")
    WEEKDAY_NOT_ALLOWED = "weekday_not_allowed", _("Not usable today")
    OUTSIDE_HOURS = "outside_hours", _("Outside usable hours")
    BELOW_MIN_SPEND = "below_min_spend", _("Below the minimum spend")
    AMOUNT_REQUIRED = "amount_required", _("Amount required")
    BALANCE_INSUFFICIENT = "balance_insufficient", _("Balance too low")
    LOCKED_OUT = "locked_out", _("Locked out after failed attempts")
    REVERSAL_WINDOW_CLOSED = "reversal_window_closed", _("Reversal window closed")


# Reasons that mean "this input does not name a code this caller may see": they feed the brute-force lockout.
PROBE_REASONS = frozenset(
    {
        RefusalReason.MALFORMED,
        RefusalReason.UNKNOWN_CODE,
        RefusalReason.OTHER_MERCHANT,
        RefusalReason.BAD_TOKEN,
        RefusalReason.SERIAL_MISMATCH,
    }
)


class RedemptionAttempt(models.Model):
    """Every verify, redeem and reverse, passed or refused. Holds no typed input, only what it resolved to."""

    class Kind(models.TextChoices):
        VERIFY = "verify", _("Verify")
        REDEEM = "redeem", _("Redeem")
        REVERSE = "reverse", _("Reverse")

    class Outcome(models.TextChoices):
        OK = "ok", _("Passed")
        REFUSED = "refused", _("Refused")

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=30, choices=RefusalReason.choices, blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Redemption.Channel.choices)
    merchant = models.ForeignKey(Merchant, verbose_name=_("merchant"), null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, verbose_name=_("store"), null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    terminal = models.ForeignKey(Terminal, verbose_name=_("terminal"), null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    clerk = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("clerk"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    code = models.ForeignKey(CardCode, verbose_name=_("card code"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    redemption = models.ForeignKey(
        Redemption, verbose_name=_("redemption"), null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    via_qr = models.BooleanField(_("by QR code"), default=False)

    class Meta:
        verbose_name = _("redemption attempt")
        verbose_name_plural = _("redemption attempts")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["terminal", "created_at"], name="attempt_terminal_time_idx"),
            models.Index(fields=["merchant", "created_at"], name="attempt_merchant_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.outcome} {self.reason}".strip()


# --- The holder's side --------------------------------------------------------------------------


class HolderLink(models.Model):
    """A private page (/my/<token>/) showing a holder's codes. The token is `public_id` signed with SECRET_KEY."""

    class ContactKind(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        NONE = "none", _("None")

    public_id = models.CharField(max_length=32, unique=True, editable=False)
    contact = models.CharField(_("holder contact"), max_length=254, blank=True)
    contact_kind = models.CharField(_("contact kind"), max_length=8, choices=ContactKind.choices, default=ContactKind.NONE)
    order_ref = models.CharField(_("order reference"), max_length=64, blank=True, db_index=True)
    gifted_by = models.ForeignKey(
        "self", verbose_name=_("gifted from link"), null=True, blank=True, on_delete=models.SET_NULL, related_name="gifts"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_opened_at = models.DateTimeField(_("last opened"), null=True, blank=True)

    class Meta:
        verbose_name = _("holder link")
        verbose_name_plural = _("holder links")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.order_ref}".strip()

    @staticmethod
    def new_public_id() -> str:
        return secrets.token_urlsafe(18)


class CodeHolding(models.Model):
    """A code shown on a holder's link. Gifting deactivates it and creates the friend's holding."""

    link = models.ForeignKey(HolderLink, verbose_name=_("holder link"), on_delete=models.CASCADE, related_name="holdings")
    code = models.ForeignKey(CardCode, verbose_name=_("card code"), on_delete=models.PROTECT, related_name="holdings")
    active = models.BooleanField(_("active"), default=True)
    gifted_from = models.ForeignKey(
        "self", verbose_name=_("gifted from"), null=True, blank=True, on_delete=models.SET_NULL, related_name="gifted_to"
    )
    gifted_at = models.DateTimeField(_("gifted at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("code holding")
        verbose_name_plural = _("code holdings")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["code"], condition=Q(active=True), name="holding_one_active_per_code")]

    def __str__(self) -> str:
        return f"{self.code.hint} → #{self.link_id}"


class ReminderOptOut(models.Model):
    """A holder contact that asked for no more expiry reminders."""

    contact = models.CharField(_("contact"), max_length=254, unique=True)
    created_at = models.DateTimeField(_("unsubscribed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reminder opt-out")
        verbose_name_plural = _("reminder opt-outs")

    def __str__(self) -> str:
        return self.contact


class ReminderSent(models.Model):
    """One expiry reminder for one holding and threshold (sent, or skipped because a nearer one applied)."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped (a nearer reminder applied)")

    holding = models.ForeignKey(CodeHolding, verbose_name=_("code holding"), on_delete=models.CASCADE, related_name="reminders")
    code = models.ForeignKey(CardCode, verbose_name=_("card code"), on_delete=models.CASCADE, related_name="+")
    threshold_days = models.PositiveSmallIntegerField(_("days before expiry"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.SENT)
    channel = models.CharField(_("channel"), max_length=8, choices=HolderLink.ContactKind.choices)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("expiry reminder")
        verbose_name_plural = _("expiry reminders")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["holding", "threshold_days"], name="reminder_once_per_threshold")]
        indexes = [models.Index(fields=["code", "outcome"], name="reminder_code_idx")]

    def __str__(self) -> str:
        return f"{self.code_id} −{self.threshold_days}d {self.outcome}"
