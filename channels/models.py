"""Who sells what at which price: the distributor tree, levels, prices, commission rules, quotas,
storefronts, API keys and the record of which distributor sold each code.

Rows here are changed only through channels/services.py; balances (Quota.balance) are kept equal to
the sum of their movement rows, and the tree's materialised path is rewritten only by services.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import CardCode, Product, Sku
from voucherhub.core.money import MoneyField, RateField

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a colour like #0d6efd."))
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")


class DistributorLevel(models.Model):
    """A rung of the distribution ladder (总代, 省代, 推广员 …). A smaller position is a higher level.

    The level's price list is its level-scoped PriceEntry rows. The upgrade conditions say what a
    distributor of a lower level must reach to be promoted to this level by the scheduled job.
    """

    name = models.CharField(_("name"), max_length=60, unique=True)
    position = models.PositiveSmallIntegerField(_("position"), unique=True, help_text=_("1 is the top level; larger numbers are lower."))
    description = models.CharField(_("description"), max_length=300, blank=True)
    auto_approve_signups = models.BooleanField(
        _("auto-approve signups"), default=False, help_text=_("Newcomers invited at this level are active at once, without ops approval.")
    )
    auto_upgrade = models.BooleanField(
        _("automatic upgrade"), default=False, help_text=_("Distributors of lower levels that meet the conditions are promoted here.")
    )
    upgrade_min_sales = MoneyField(_("minimum sales"), null=True, blank=True, help_text=_("Own sales in the period, in CNY."))
    upgrade_period_days = models.PositiveIntegerField(_("sales period (days)"), default=30, validators=[MinValueValidator(1)])
    upgrade_min_active_downline = models.PositiveIntegerField(
        _("minimum active direct downline"), null=True, blank=True, help_text=_("Active distributors directly below.")
    )

    class Meta:
        verbose_name = _("distributor level")
        verbose_name_plural = _("distributor levels")
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.auto_upgrade and self.upgrade_min_sales is None and self.upgrade_min_active_downline is None:
            raise ValidationError(_("An automatic upgrade needs at least one condition."))


PATH_DIGITS = 10


class DistributorQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Distributor.Status.ACTIVE)

    def subtree_of(self, distributor: "Distributor", *, include_self: bool = True):
        qs = self.filter(path__startswith=distributor.path)
        return qs if include_self else qs.exclude(pk=distributor.pk)


class Distributor(models.Model):
    class Kind(models.TextChoices):
        B_END = "b_end", _("B-end buyer")
        SMALL_B = "small_b", _("Small-B group leader")
        PROMOTER = "promoter", _("Promoter")
        DIRECT = "direct", _("Direct storefront")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending approval")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")

    name = models.CharField(_("name"), max_length=120)
    contact_name = models.CharField(_("contact"), max_length=80, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("email"), blank=True)
    region = models.CharField(_("region"), max_length=60, blank=True, help_text=_("Province or city, e.g. 浙江 / 杭州."))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PROMOTER)
    level = models.ForeignKey(DistributorLevel, verbose_name=_("level"), on_delete=models.PROTECT, related_name="distributors")
    parent = models.ForeignKey("self", verbose_name=_("upline"), null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # Materialised path of zero-padded primary keys ("/0000000001/0000000007/"): a subtree is one index range
    # scan, and ordering by path is tree order (unpadded, "/1/10/" would sort before "/1/9/").
    path = models.CharField(_("tree path"), max_length=600, db_index=True, editable=False, default="")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    invitation = models.ForeignKey(
        "Invitation", verbose_name=_("joined through"), null=True, blank=True, on_delete=models.SET_NULL, related_name="signups"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("approved by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = DistributorQuerySet.as_manager()

    class Meta:
        verbose_name = _("distributor")
        verbose_name_plural = _("distributors")
        ordering = ["path"]
        constraints = [models.CheckConstraint(condition=~Q(parent=models.F("pk")), name="distributor_not_own_parent")]
        permissions = [("move_distributor", "Can move a distributor and its downline")]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def path_segment(pk: int) -> str:
        """One step of the materialised path: the primary key, zero-padded so paths sort in tree order."""
        return f"{pk:0{PATH_DIGITS}d}/"

    @property
    def depth(self) -> int:
        """0 for a top distributor, 1 for its direct downline …"""
        return max(self.path.count("/") - 2, 0)

    @property
    def ancestor_ids(self) -> list[int]:
        """Primary keys from the top of the tree down to the parent."""
        return [int(p) for p in self.path.strip("/").split("/") if p][:-1]

    def is_ancestor_of(self, other: "Distributor") -> bool:
        return other.pk != self.pk and other.path.startswith(self.path)


class DistributorStaff(models.Model):
    """A user who acts for a distributor (its owner or a staff member). A user acts for one distributor."""

    distributor = models.ForeignKey(Distributor, verbose_name=_("distributor"), on_delete=models.CASCADE, related_name="staff")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="distributor_staff"
    )
    is_owner = models.BooleanField(_("owner"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("distributor user")
        verbose_name_plural = _("distributor users")

    def __str__(self) -> str:
        return f"{self.user} @ {self.distributor}"


class LevelChange(models.Model):
    """History of a distributor's level: who or what moved it, from where to where, and why."""

    class Reason(models.TextChoices):
        SIGNUP = "signup", _("Signup")
        MANUAL = "manual", _("Changed by ops")
        AUTO_UPGRADE = "auto_upgrade", _("Automatic upgrade")

    distributor = models.ForeignKey(Distributor, verbose_name=_("distributor"), on_delete=models.CASCADE, related_name="level_changes")
    from_level = models.ForeignKey(
        DistributorLevel, verbose_name=_("from"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_level = models.ForeignKey(DistributorLevel, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    note = models.CharField(_("note"), max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("level change")
        verbose_name_plural = _("level changes")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.distributor}: {self.from_level or '-'} -> {self.to_level}"


class Invitation(models.Model):
    """An invite link made by a distributor: a newcomer signs up under it at the target level."""

    distributor = models.ForeignKey(
        Distributor, verbose_name=_("inviting distributor"), on_delete=models.CASCADE, related_name="invitations"
    )
    token = models.CharField(_("token"), max_length=64, unique=True, editable=False)
    target_level = models.ForeignKey(DistributorLevel, verbose_name=_("level of the newcomer"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind of the newcomer"), max_length=10, choices=Distributor.Kind.choices, default=Distributor.Kind.PROMOTER)
    note = models.CharField(_("note"), max_length=200, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    max_uses = models.PositiveIntegerField(_("maximum uses"), default=1, validators=[MinValueValidator(1)])
    used_count = models.PositiveIntegerField(_("used"), default=0)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(used_count__lte=models.F("max_uses")), name="invitation_uses_within_max")]

    def __str__(self) -> str:
        return f"{self.distributor} → {self.target_level} ({self.used_count}/{self.max_uses})"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.used_count >= self.max_uses:
            return "used_up"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"

    @property
    def is_open(self) -> bool:
        return self.state == "open"


class PriceEntry(models.Model):
    """One row of a price list: for a level (the level's price list) or for one distributor (an override).

    `min_quantity` makes quantity tiers: the entry with the largest min_quantity not above the
    ordered quantity applies. A distributor override may leave retail and floor empty to keep the
    level's.
    """

    level = models.ForeignKey(
        DistributorLevel, verbose_name=_("level"), null=True, blank=True, on_delete=models.CASCADE, related_name="price_entries"
    )
    distributor = models.ForeignKey(
        Distributor, verbose_name=_("distributor"), null=True, blank=True, on_delete=models.CASCADE, related_name="price_entries"
    )
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="price_entries")
    min_quantity = models.PositiveIntegerField(_("from quantity"), default=1, validators=[MinValueValidator(1)])
    purchase_price = MoneyField(_("purchase price"))
    suggested_retail = MoneyField(_("suggested retail price"), null=True, blank=True)
    price_floor = MoneyField(_("price floor"), null=True, blank=True, help_text=_("Lowest retail price allowed (最低零售价)."))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("price entry")
        verbose_name_plural = _("price lists")
        ordering = ["sku__code", "level__position", "distributor__name", "min_quantity"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(level__isnull=False) & Q(distributor__isnull=True)) | (Q(level__isnull=True) & Q(distributor__isnull=False)),
                name="priceentry_level_xor_distributor",
            ),
            models.CheckConstraint(
                condition=Q(level__isnull=True) | (Q(suggested_retail__isnull=False) & Q(price_floor__isnull=False)),
                name="priceentry_level_has_retail_and_floor",
            ),
            models.CheckConstraint(condition=Q(purchase_price__gte=0), name="priceentry_purchase_nonneg"),
            models.CheckConstraint(condition=Q(min_quantity__gte=1), name="priceentry_min_quantity_positive"),
            models.CheckConstraint(
                condition=Q(price_floor__isnull=True) | Q(suggested_retail__isnull=True) | Q(suggested_retail__gte=models.F("price_floor")),
                name="priceentry_retail_not_below_floor",
            ),
            models.UniqueConstraint(
                fields=["level", "sku", "min_quantity"], condition=Q(level__isnull=False), name="priceentry_level_once"
            ),
            models.UniqueConstraint(
                fields=["distributor", "sku", "min_quantity"], condition=Q(distributor__isnull=False), name="priceentry_distributor_once"
            ),
        ]

    def __str__(self) -> str:
        scope = self.level or self.distributor
        return f"{scope} · {self.sku.code} ≥{self.min_quantity}: {self.purchase_price}"

    def clean(self):
        if bool(self.level_id) == bool(self.distributor_id):
            raise ValidationError(_("Give either a level or a distributor."))
        if self.level_id and (self.suggested_retail is None or self.price_floor is None):
            raise ValidationError(_("A level's price list needs a suggested retail price and a price floor."))
        if self.suggested_retail is not None and self.price_floor is not None and self.suggested_retail < self.price_floor:
            raise ValidationError({"suggested_retail": _("The suggested retail price is below the price floor.")})


class ProductPool(models.Model):
    """An exclusive pool: its SKUs are visible only to the listed levels and distributors."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    skus = models.ManyToManyField(Sku, verbose_name=_("SKUs"), related_name="pools")
    levels = models.ManyToManyField(DistributorLevel, verbose_name=_("levels"), blank=True, related_name="pools")
    distributors = models.ManyToManyField(Distributor, verbose_name=_("distributors"), blank=True, related_name="pools")
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("exclusive product pool")
        verbose_name_plural = _("exclusive product pools")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CommissionRule(models.Model):
    """What the upline at `depth` earns on a sale: per SKU, per product, or the default (neither)."""

    class Kind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount per unit")
        PERCENT = "percent", _("Percentage of the sale")

    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), null=True, blank=True, on_delete=models.CASCADE, related_name="commission_rules")
    product = models.ForeignKey(
        Product, verbose_name=_("product"), null=True, blank=True, on_delete=models.CASCADE, related_name="commission_rules"
    )
    depth = models.PositiveSmallIntegerField(_("upline depth"), help_text=_("1 is the seller's direct upline."))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    amount = MoneyField(_("fixed amount"), null=True, blank=True)
    percent = RateField(_("percentage"), null=True, blank=True, help_text=_("e.g. 5.0000 for 5 %."))
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("commission rule")
        verbose_name_plural = _("commission rules")
        ordering = ["sku__code", "product__name", "depth"]
        constraints = [
            models.CheckConstraint(condition=Q(sku__isnull=True) | Q(product__isnull=True), name="commission_sku_or_product"),
            models.CheckConstraint(condition=Q(depth__gte=1) & Q(depth__lte=3), name="commission_depth_within_cap"),
            models.CheckConstraint(
                condition=(Q(kind="fixed") & Q(amount__gte=0) & Q(percent__isnull=True))
                | (Q(kind="percent") & Q(percent__gte=0) & Q(percent__lte=100) & Q(amount__isnull=True)),
                name="commission_kind_matches_value",
            ),
            models.UniqueConstraint(fields=["sku", "depth"], condition=Q(sku__isnull=False), name="commission_sku_depth_once"),
            models.UniqueConstraint(fields=["product", "depth"], condition=Q(product__isnull=False), name="commission_product_depth_once"),
            models.UniqueConstraint(
                fields=["depth"], condition=Q(sku__isnull=True) & Q(product__isnull=True), name="commission_default_depth_once"
            ),
        ]

    def __str__(self) -> str:
        scope = self.sku or self.product or _("default")
        value = f"{self.amount}" if self.kind == self.Kind.FIXED else f"{self.percent}%"
        return f"{scope} · {self.depth}: {value}"

    def clean(self):
        from channels.commission import commission_max_depth

        if self.sku_id and self.product_id:
            raise ValidationError(_("Give a SKU or a product, not both."))
        if self.depth and not 1 <= self.depth <= commission_max_depth():
            raise ValidationError({"depth": _("Commission reaches at most %(n)s levels up.") % {"n": commission_max_depth()}})
        if self.kind == self.Kind.FIXED and self.amount is None:
            raise ValidationError({"amount": _("A fixed rule needs an amount.")})
        if self.kind == self.Kind.PERCENT and self.percent is None:
            raise ValidationError({"percent": _("A percentage rule needs a percentage.")})
        if self.kind == self.Kind.FIXED:
            self.percent = None
        if self.kind == self.Kind.PERCENT:
            self.amount = None


class Quota(models.Model):
    """How many units of a SKU a distributor may still sell or pass down. `balance` always equals the
    sum of its QuotaMovement rows in minus out; only services change it, under a row lock."""

    distributor = models.ForeignKey(Distributor, verbose_name=_("distributor"), on_delete=models.PROTECT, related_name="quotas")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="quotas")
    balance = models.PositiveIntegerField(_("balance"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        ordering = ["distributor__path", "sku__code"]
        constraints = [
            models.UniqueConstraint(fields=["distributor", "sku"], name="quota_once_per_distributor_sku"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="quota_balance_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.distributor} · {self.sku.code}: {self.balance}"


class QuotaMovement(models.Model):
    """One move of quota: from a distributor (or the platform, when empty) to a distributor (or out, when
    empty: a sale). Never edited; a correction is another movement."""

    class Kind(models.TextChoices):
        ALLOCATE = "allocate", _("Allocated by ops")
        TRANSFER = "transfer", _("Passed to downline")
        DRAW = "draw", _("Drawn by a sale")
        RETURN = "return", _("Returned (refund or expiry)")
        REVOKE = "revoke", _("Taken back by ops")

    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    from_distributor = models.ForeignKey(
        Distributor, verbose_name=_("from"), null=True, blank=True, on_delete=models.PROTECT, related_name="quota_out"
    )
    to_distributor = models.ForeignKey(
        Distributor, verbose_name=_("to"), null=True, blank=True, on_delete=models.PROTECT, related_name="quota_in"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    reference = models.CharField(_("reference"), max_length=64, blank=True, db_index=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("quota movement")
        verbose_name_plural = _("quota movements")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="quotamovement_quantity_positive"),
            models.CheckConstraint(
                condition=Q(from_distributor__isnull=False) | Q(to_distributor__isnull=False), name="quotamovement_has_a_side"
            ),
        ]
        indexes = [
            models.Index(fields=["from_distributor", "sku"], name="quotamove_from_idx"),
            models.Index(fields=["to_distributor", "sku"], name="quotamove_to_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.sku.code} ×{self.quantity}"


class Storefront(models.Model):
    """A distributor's own mobile shop at /s/<slug>/."""

    distributor = models.OneToOneField(Distributor, verbose_name=_("distributor"), on_delete=models.CASCADE, related_name="storefront")
    slug = models.SlugField(
        _("shop address"),
        max_length=40,
        unique=True,
        help_text=_("Lower-case letters, digits and dashes; the shop lives at /s/<shop address>/."),
    )
    title = models.CharField(_("shop name"), max_length=80)
    tagline = models.CharField(_("tagline"), max_length=160, blank=True)
    support_contact = models.CharField(
        _("support contact"),
        max_length=120,
        blank=True,
        help_text=_("Shown in the shop's footer: a phone number, WeChat ID or e-mail address buyers can ask."),
    )
    colour = models.CharField(_("colour"), max_length=7, default="#d63384", validators=[HEX_COLOUR])
    logo = models.BinaryField(_("logo"), null=True, blank=True, editable=False)
    logo_type = models.CharField(max_length=20, blank=True, editable=False)
    is_open = models.BooleanField(_("open"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("storefront")
        verbose_name_plural = _("storefronts")
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.title} (/s/{self.slug}/)"


class StorefrontItem(models.Model):
    storefront = models.ForeignKey(Storefront, verbose_name=_("storefront"), on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="+")
    retail_price = MoneyField(_("retail price"))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    listed = models.BooleanField(_("listed"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("storefront item")
        verbose_name_plural = _("storefront items")
        ordering = ["position", "sku__code"]
        constraints = [
            models.UniqueConstraint(fields=["storefront", "sku"], name="storefrontitem_once"),
            models.CheckConstraint(condition=Q(retail_price__gt=0), name="storefrontitem_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.sku.code} @ {self.retail_price}"


class PriceViolation(models.Model):
    """A refused attempt to set or use a retail price below the floor (the anti-diversion report)."""

    class Channel(models.TextChoices):
        STOREFRONT = "storefront", _("Storefront")
        API = "api", _("API")
        ORDER = "order", _("Order")

    distributor = models.ForeignKey(Distributor, verbose_name=_("distributor"), on_delete=models.CASCADE, related_name="price_violations")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    attempted_price = MoneyField(_("attempted price"))
    price_floor = MoneyField(_("price floor"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("price violation")
        verbose_name_plural = _("price violations")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.distributor} {self.sku.code} {self.attempted_price} < {self.price_floor}"


class CodeSale(models.Model):
    """Which distributor each card code was sold through (traceability: "who sold this code")."""

    code = models.ForeignKey(CardCode, verbose_name=_("card code"), on_delete=models.PROTECT, related_name="channel_sales")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    distributor = models.ForeignKey(Distributor, verbose_name=_("sold through"), on_delete=models.PROTECT, related_name="code_sales")
    order_ref = models.CharField(_("order reference"), max_length=64, db_index=True)
    unit_price = MoneyField(_("sale price"), null=True, blank=True)
    sold_at = models.DateTimeField(_("sold at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("code sale")
        verbose_name_plural = _("code sales")
        ordering = ["-id"]
        indexes = [models.Index(fields=["distributor", "sold_at"], name="codesale_dist_time_idx")]
        permissions = [("trace_codesale", "Can trace who sold a card code")]

    def __str__(self) -> str:
        return f"{self.code.hint} → {self.distributor}"


class ApiKey(models.Model):
    """A distributor's API credential. The secret is shown once and stored sealed (voucherhub.core.sealing)."""

    distributor = models.ForeignKey(Distributor, verbose_name=_("distributor"), on_delete=models.CASCADE, related_name="api_keys")
    key_id = models.CharField(_("key id"), max_length=40, unique=True, editable=False)
    secret_sealed = models.BinaryField(editable=False)
    label = models.CharField(_("label"), max_length=80, blank=True)
    ip_allowlist = models.JSONField(_("IP allowlist"), default=list, blank=True, help_text=_("Addresses or networks; empty allows any."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(
        _("works until"), null=True, blank=True, help_text=_("Set when the key was rotated with a grace period.")
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    replaced_by = models.OneToOneField(
        "self", verbose_name=_("replaced by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.key_id

    @property
    def usable(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
