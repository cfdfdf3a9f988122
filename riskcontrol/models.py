"""Risk control: rules configured by ops, lists, the events every evaluation leaves, alerts."""

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voucherhub.core.money import MoneyField


class Action(models.TextChoices):
    """What the caller is about to do."""

    PURCHASE = "purchase", _("Purchase")
    REDEEM = "redeem", _("Redemption")
    LOGIN = "login", _("Login")
    REVEAL = "reveal", _("Code reveal")
    WITHDRAWAL = "withdrawal", _("Withdrawal")
    # Campaign actions (marketing): ops limit coupon farming per device, address or phone with rules on these.
    COUPON_CLAIM = "coupon_claim", _("Coupon claim")
    GROUP_JOIN = "group_join", _("Group-buy join")
    CAMPAIGN_ORDER = "campaign_order", _("Campaign order")


class Channel(models.TextChoices):
    """The way a purchase came in: the same values as settlement's Order.Channel (riskcontrol sits below
    settlement and keeps its own copy; a test checks the two agree)."""

    STOREFRONT = "storefront", _("Consumer storefront")
    PORTAL = "portal", _("Distributor portal")
    API = "api", _("Distributor API")


class Outcome(models.TextChoices):
    ALLOW = "allow", _("Allow")
    CHALLENGE = "challenge", _("Challenge")
    REVIEW = "review", _("Review")
    BLOCK = "block", _("Block")


# Severity order of outcomes: the strongest one wins.
SEVERITY = {Outcome.ALLOW: 0, Outcome.CHALLENGE: 1, Outcome.REVIEW: 2, Outcome.BLOCK: 3}


class Dimension(models.TextChoices):
    IP = "ip", _("IP address")
    DEVICE = "device", _("device")
    ACCOUNT = "account", _("account")
    PHONE = "phone", _("phone number")
    EMAIL = "email", _("email address")
    EMAIL_DOMAIN = "email_domain", _("email domain")
    DISTRIBUTOR = "distributor", _("distributor")
    STOREFRONT = "storefront", _("storefront")


class RiskSettings(models.Model):
    """Thresholds ops can tune without a deploy. One row (pk=1); read through the cached rule snapshot."""

    challenge_score = models.PositiveIntegerField(_("challenge at score"), default=40)
    review_score = models.PositiveIntegerField(_("review at score"), default=70)
    block_score = models.PositiveIntegerField(_("block at score"), default=100)
    # Redemption brute force
    bf_window_minutes = models.PositiveIntegerField(_("failure window (minutes)"), default=10)
    bf_terminal_failures = models.PositiveIntegerField(_("failures per terminal before lockout"), default=5)
    bf_ip_failures = models.PositiveIntegerField(_("failures per IP before lockout"), default=10)
    bf_store_failures = models.PositiveIntegerField(_("failures per store before lockout"), default=30)
    bf_lockout_minutes = models.PositiveIntegerField(_("lockout period (minutes)"), default=15)
    # Reveal control
    reveal_limit_per_hour = models.PositiveIntegerField(_("code reveals per user per hour"), default=50)
    second_factor_failures = models.PositiveIntegerField(_("failed second verifications before lockout"), default=5)
    # Alerts
    spike_window_minutes = models.PositiveIntegerField(_("spike window (minutes)"), default=10)
    block_spike_threshold = models.PositiveIntegerField(_("blocks in the window that raise an alert"), default=50)
    failure_spike_threshold = models.PositiveIntegerField(_("failed verifications in the window that raise an alert"), default=50)
    login_failure_spike_threshold = models.PositiveIntegerField(_("failed logins in the window that raise an alert"), default=30)
    alert_cooldown_minutes = models.PositiveIntegerField(_("minutes before the same alert is raised again"), default=30)
    event_retention_days = models.PositiveIntegerField(_("keep allowed events for (days)"), default=180)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("risk settings")
        verbose_name_plural = _("risk settings")

    def __str__(self) -> str:
        return str(_("Risk settings"))

    def clean(self):
        if not self.challenge_score <= self.review_score <= self.block_score:
            raise ValidationError(_("Scores must grow: challenge ≤ review ≤ block."))


class RiskList(models.Model):
    """A named blocklist or allowlist of one kind of value (IP addresses and CIDR ranges, phones, ...)."""

    class ListType(models.TextChoices):
        BLOCK = "block", _("Blocklist")
        ALLOW = "allow", _("Allowlist")

    DIMENSIONS = [Dimension.IP, Dimension.DEVICE, Dimension.ACCOUNT, Dimension.PHONE, Dimension.EMAIL, Dimension.EMAIL_DOMAIN]

    name = models.CharField(_("name"), max_length=120, unique=True)
    list_type = models.CharField(_("type"), max_length=8, choices=ListType.choices, default=ListType.BLOCK)
    dimension = models.CharField(_("holds"), max_length=16, choices=[(d.value, d.label) for d in DIMENSIONS])
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("risk list")
        verbose_name_plural = _("risk lists")
        ordering = ["list_type", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_list_type_display()} · {self.get_dimension_display()})"


def normalize_value(dimension: str, value) -> str:
    """The form a value is compared in: lower-case emails and domains, digits of phones, compressed IPs."""
    text = str(value or "").strip()
    if not text:
        return ""
    if dimension in (Dimension.EMAIL, Dimension.EMAIL_DOMAIN):
        return text.lower()
    if dimension == Dimension.PHONE:
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    if dimension == Dimension.IP:
        try:
            if "/" in text:
                return str(ipaddress.ip_network(text, strict=False))
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    return text


class RiskListEntry(models.Model):
    risk_list = models.ForeignKey(RiskList, verbose_name=_("list"), on_delete=models.CASCADE, related_name="entries")
    value = models.CharField(
        _("value"), max_length=200, help_text=_("An IP address or CIDR range (203.0.113.0/24), phone, email, domain, device or account id.")
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True, help_text=_("Empty: never expires."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("added by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("list entry")
        verbose_name_plural = _("list entries")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["risk_list", "value"], name="risklistentry_once")]

    def __str__(self) -> str:
        return self.value

    def clean(self):
        if self.risk_list_id is None:
            return
        self.value = normalize_value(self.risk_list.dimension, self.value)
        if not self.value:
            raise ValidationError({"value": _("Enter a value.")})
        if self.risk_list.dimension == Dimension.IP:
            try:
                if "/" in self.value:
                    ipaddress.ip_network(self.value, strict=False)
                else:
                    ipaddress.ip_address(self.value)
            except ValueError:
                raise ValidationError({"value": _("Enter an IP address or a CIDR range such as 203.0.113.0/24.")})


class RiskRule(models.Model):
    class Kind(models.TextChoices):
        PURCHASE_LIMIT = "purchase_limit", _("Purchase limit")
        VELOCITY = "velocity", _("Velocity")
        AMOUNT = "amount", _("Amount threshold")
        NEW_ACCOUNT = "new_account", _("New-account restriction")
        BLOCKLIST = "blocklist", _("Blocklist")
        ALLOWLIST = "allowlist", _("Allowlist")

    class Measure(models.TextChoices):
        ORDERS = "orders", _("requests")
        UNITS = "units", _("items")
        AMOUNT = "amount", _("amount")

    class RuleAction(models.TextChoices):
        SCORE = "score", _("Add the score only")
        CHALLENGE = "challenge", _("Challenge (captcha)")
        REVIEW = "review", _("Hold for review")
        BLOCK = "block", _("Block")

    ANY = "any"
    APPLIES_TO = [(ANY, _("Any action")), *Action.choices]
    COUNTER_KINDS = (Kind.PURCHASE_LIMIT, Kind.VELOCITY)
    PURCHASE_LIMIT_DIMENSIONS = (Dimension.IP, Dimension.DEVICE, Dimension.ACCOUNT, Dimension.PHONE, Dimension.EMAIL)

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(
        _("kind"),
        max_length=16,
        choices=Kind.choices,
        help_text=_(
            "Purchase limit: items, requests or amount per IP, device, account, phone or email in a window. "
            "Velocity: the same per distributor, storefront or any value, for any action."
        ),
    )
    applies_to = models.CharField(_("applies to"), max_length=16, choices=APPLIES_TO, default=Action.PURCHASE)
    channels = models.JSONField(
        _("channels"),
        default=list,
        blank=True,
        help_text=_(
            "Purchases through these channels only. None ticked: every channel. "
            "A request that names no channel (redemption, login ...) is checked by every rule."
        ),
    )
    dimension = models.CharField(
        _("counted per"),
        max_length=16,
        choices=Dimension.choices,
        blank=True,
        help_text=_("Limits and velocity: what the counter is kept for."),
    )
    sku = models.ForeignKey(
        "catalog.Sku",
        verbose_name=_("SKU"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Empty: any SKU."),
    )
    window_seconds = models.PositiveIntegerField(
        _("window (seconds)"), null=True, blank=True, help_text=_("Limits and velocity: the sliding time window, e.g. 3600 for one hour.")
    )
    limit = models.PositiveIntegerField(
        _("limit"),
        null=True,
        blank=True,
        help_text=_("Limits and velocity: most requests or items in the window. New accounts: most items."),
    )
    measure = models.CharField(_("count"), max_length=8, choices=Measure.choices, default=Measure.UNITS)
    amount_threshold = MoneyField(
        _("amount threshold"),
        null=True,
        blank=True,
        help_text=_("Amount rules: a single amount at or above this. Velocity by amount: the most in the window."),
    )
    account_age_hours = models.PositiveIntegerField(_("new account: younger than (hours)"), null=True, blank=True)
    risk_list = models.ForeignKey(RiskList, verbose_name=_("list"), null=True, blank=True, on_delete=models.PROTECT, related_name="rules")
    score = models.PositiveIntegerField(_("score"), default=0)
    action = models.CharField(_("action"), max_length=12, choices=RuleAction.choices, default=RuleAction.BLOCK)
    active = models.BooleanField(_("active"), default=True)
    priority = models.PositiveIntegerField(_("order"), default=100, help_text=_("Lower runs first; reasons are listed in this order."))
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("risk rule")
        verbose_name_plural = _("risk rules")
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["purchase_limit", "velocity"]) | (Q(window_seconds__gt=0) & ~Q(dimension="")),
                name="riskrule_counter_has_window",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["blocklist", "allowlist"]) | Q(risk_list__isnull=False), name="riskrule_list_has_list"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        if self.kind in self.COUNTER_KINDS:
            if not self.dimension:
                errors["dimension"] = _("Choose what the counter is kept for.")
            if not self.window_seconds:
                errors["window_seconds"] = _("Enter the window in seconds.")
            if self.measure == self.Measure.AMOUNT:
                if self.amount_threshold is None:
                    errors["amount_threshold"] = _("Enter the most amount allowed in the window.")
            elif not self.limit:
                errors["limit"] = _("Enter the limit.")
        if self.kind == self.Kind.PURCHASE_LIMIT:
            if self.dimension and self.dimension not in self.PURCHASE_LIMIT_DIMENSIONS:
                errors["dimension"] = _("Purchase limits count per IP, device, account, phone or email.")
            if self.applies_to not in (Action.PURCHASE, self.ANY):
                errors["applies_to"] = _("A purchase limit applies to purchases.")
        if not isinstance(self.channels, list) or any(channel not in Channel.values for channel in self.channels):
            errors["channels"] = _("Choose channels among: %(channels)s.") % {"channels": ", ".join(Channel.values)}
        else:
            # One order, without repeats, so equal scopes compare equal.
            self.channels = [channel for channel in Channel.values if channel in self.channels]
        if self.kind == self.Kind.AMOUNT and self.amount_threshold is None:
            errors["amount_threshold"] = _("Enter the amount threshold.")
        if self.kind == self.Kind.NEW_ACCOUNT and not self.account_age_hours:
            errors["account_age_hours"] = _("Enter the age below which an account counts as new.")
        if self.kind in (self.Kind.BLOCKLIST, self.Kind.ALLOWLIST):
            if self.risk_list_id is None:
                errors["risk_list"] = _("Choose the list.")
            else:
                wanted = RiskList.ListType.BLOCK if self.kind == self.Kind.BLOCKLIST else RiskList.ListType.ALLOW
                if self.risk_list.list_type != wanted:
                    errors["risk_list"] = _("This rule needs a list of the matching type.")
        if errors:
            raise ValidationError(errors)


class RiskEventQuerySet(models.QuerySet):
    def pending_review(self):
        return self.filter(review_status=RiskEvent.ReviewStatus.PENDING)


class RiskEvent(models.Model):
    """One evaluation: its context, outcome, score and reasons. Review decisions are kept on the row."""

    class ReviewStatus(models.TextChoices):
        NONE = "", _("Not under review")
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    score = models.PositiveIntegerField(_("score"), default=0)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    reference = models.CharField(_("caller reference"), max_length=100, blank=True)
    # Context
    sku = models.ForeignKey(
        "catalog.Sku",
        verbose_name=_("SKU"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    amount = MoneyField(_("amount"), default=0)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True, db_index=True)
    device = models.CharField(_("device"), max_length=128, blank=True)
    account_id = models.CharField(_("account"), max_length=64, blank=True)
    phone = models.CharField(_("phone number"), max_length=32, blank=True)
    email = models.CharField(_("email address"), max_length=254, blank=True)
    distributor_id = models.BigIntegerField(_("distributor"), null=True, blank=True)
    storefront_id = models.BigIntegerField(_("storefront"), null=True, blank=True)
    account_created_at = models.DateTimeField(_("account created"), null=True, blank=True)
    challenge_passed = models.BooleanField(_("challenge passed"), default=False)
    extra = models.JSONField(_("more context"), default=dict, blank=True)
    # Counters this evaluation reserved, so risk_release() or a rejection can give them back.
    counters = models.JSONField(_("reserved counters"), default=list, blank=True)
    released_at = models.DateTimeField(_("counters released"), null=True, blank=True)
    # Review
    review_status = models.CharField(_("review"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.NONE, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=500, blank=True)

    objects = RiskEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("risk event")
        verbose_name_plural = _("risk events")
        ordering = ["-id"]
        # Few indexes: every evaluation inserts a row. Lookups: related events of a value, the queue.
        indexes = [
            models.Index(fields=["reference"], condition=~Q(reference=""), name="riskevent_reference_idx"),
            models.Index(fields=["device"], condition=~Q(device=""), name="riskevent_device_idx"),
            models.Index(fields=["account_id"], condition=~Q(account_id=""), name="riskevent_account_idx"),
            models.Index(fields=["id"], condition=Q(review_status="pending"), name="riskevent_pending_idx"),
            models.Index(fields=["phone"], condition=~Q(phone=""), name="riskevent_phone_idx"),
            models.Index(fields=["email"], condition=~Q(email=""), name="riskevent_email_idx"),
        ]
        permissions = [("review_riskevent", "Can approve or reject held risk events")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_action_display()} {self.get_outcome_display()}"

    def reason_objects(self):
        from riskcontrol.decision import Reason

        return [Reason.from_json(item) for item in self.reasons]

    def reason_messages(self) -> list[str]:
        return [str(reason) for reason in self.reason_objects()]


class VerificationFailure(models.Model):
    """A failed code verification at a terminal: the durable failure history the lockouts count (and spikes)."""

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    terminal = models.CharField(_("terminal"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    store = models.CharField(_("store"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("failed verification")
        verbose_name_plural = _("failed verifications")
        ordering = ["-id"]
        # A failure counts its sources' failures of the window (riskcontrol.protection.failure_record).
        indexes = [
            models.Index(fields=["terminal", "created_at"], name="verifyfail_terminal_idx"),
            models.Index(fields=["ip", "created_at"], name="verifyfail_ip_idx"),
            models.Index(fields=["store", "created_at"], name="verifyfail_store_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.terminal or '-'} {self.ip or '-'} {self.store or '-'}"


class SourceLock(models.Model):
    """A brute-force lockout of one source (a terminal, an address, a store, a user's second verification).

    The durable record: the cache holds a copy for the check on every request and is rebuilt from these
    rows when it lost them (a Redis restart or flush, see riskcontrol.protection).
    """

    kind = models.CharField(_("kind"), max_length=16)
    source = models.CharField(_("source"), max_length=120)
    locked_at = models.DateTimeField(_("locked at"))
    until = models.DateTimeField(_("locked until"), db_index=True)

    class Meta:
        verbose_name = _("lockout")
        verbose_name_plural = _("lockouts")
        ordering = ["-until"]
        constraints = [models.UniqueConstraint(fields=["kind", "source"], name="sourcelock_once")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.source} {self.until:%Y-%m-%d %H:%M:%S}"


class FailedCheck(models.Model):
    """A failed check, other than a code verification, that leads to a lockout (the second verification):
    its durable failure history."""

    created_at = models.DateTimeField(_("time"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=16)
    source = models.CharField(_("source"), max_length=120)

    class Meta:
        verbose_name = _("failed check")
        verbose_name_plural = _("failed checks")
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "source", "created_at"], name="failedcheck_source_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.kind}:{self.source}"


class RiskAlert(models.Model):
    class Kind(models.TextChoices):
        BLOCK_SPIKE = "block_spike", _("Spike in blocked requests")
        FAILURE_SPIKE = "failure_spike", _("Spike in failed verifications")
        LOGIN_FAILURE_SPIKE = "login_failure_spike", _("Spike in failed logins")
        LOCKOUT = "lockout", _("Brute force lockout")
        REVEAL_LIMIT = "reveal_limit", _("Reveal limit reached")

    class Severity(models.TextChoices):
        WARNING = "warning", _("Warning")
        CRITICAL = "critical", _("Critical")

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, default=Severity.WARNING)
    source = models.CharField(_("source"), max_length=120, blank=True)
    params = models.JSONField(_("details"), default=dict, blank=True)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("acknowledged by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("risk alert")
        verbose_name_plural = _("risk alerts")
        ordering = ["-id"]
        indexes = [models.Index(fields=["kind", "source", "created_at"], name="riskalert_dedupe_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.source}".strip()

    @property
    def message(self) -> str:
        from riskcontrol.decision import alert_message

        return alert_message(self.kind, self.params)

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None
