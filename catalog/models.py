from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voucherhub.core.jobs import WORKER_STOPPED, WORKER_STOPPED_LABEL, LongJob
from voucherhub.core.money import Currency, MoneyField


class Supplier(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    contact = models.CharField(_("contact"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("email"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


PRODUCT_IMAGE_MAX_BYTES = 2 * 1024 * 1024


def image_size_limit(file) -> None:
    """A product picture is at most 2 MB (it is shown on phones)."""
    if file.size > PRODUCT_IMAGE_MAX_BYTES:
        raise ValidationError(_("The picture is larger than 2 MB."), code="too_large")


class Product(models.Model):
    class Category(models.TextChoices):
        VIDEO = "video", _("Video membership")
        MUSIC = "music", _("Music membership")
        MOVIE = "movie", _("Movie ticket")
        DINING = "dining", _("Dining")
        COFFEE = "coffee", _("Coffee & tea")
        COURSE = "course", _("Online course")
        GIFT_CARD = "gift_card", _("Gift card")
        TOPUP = "topup", _("Mobile / game top-up")
        OTHER = "other", _("Other")

    supplier = models.ForeignKey(Supplier, verbose_name=_("supplier"), on_delete=models.PROTECT, related_name="products")
    name = models.CharField(_("name"), max_length=120)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices, default=Category.OTHER)
    description = models.TextField(_("description"), blank=True)
    image = models.ImageField(
        _("image"),
        upload_to="products/",
        blank=True,
        validators=[FileExtensionValidator(["jpg", "jpeg", "png", "webp"]), image_size_limit],
        help_text=_("Shown on storefronts: JPEG, PNG or WebP, at most 2 MB. Without one a placeholder is shown."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SkuQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True, product__active=True)


class Sku(models.Model):
    class ValidityKind(models.TextChoices):
        FIXED = "fixed", _("Fixed window")
        DAYS_FROM_SALE = "days_from_sale", _("N days from sale")

    class Fulfilment(models.TextChoices):
        IMPORTED = "imported", _("Imported codes")
        GENERATED = "generated", _("Generated codes")
        TOPUP = "topup", _("Direct top-up")

    product = models.ForeignKey(Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="skus")
    code = models.SlugField(_("SKU code"), max_length=40, unique=True, help_text=_("Short stable identifier, e.g. IQIYI-VIP-M1."))
    name = models.CharField(_("name"), max_length=160)
    face_value = MoneyField(_("face value"))
    cost_price = MoneyField(_("cost price"))
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    # Validity
    validity_kind = models.CharField(_("validity"), max_length=20, choices=ValidityKind.choices, default=ValidityKind.DAYS_FROM_SALE)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveIntegerField(_("valid days after sale"), null=True, blank=True)
    # Usage rules: stored here, enforced by redemption (merchant/store ids refer to redemption's rows).
    is_stored_value = models.BooleanField(_("stored value (partial use)"), default=False)
    allowed_merchant_ids = models.JSONField(_("allowed merchants"), default=list, blank=True)
    allowed_store_ids = models.JSONField(_("allowed stores"), default=list, blank=True)
    allowed_weekdays = models.JSONField(
        _("allowed weekdays"), default=list, blank=True, help_text=_("ISO weekdays 1 (Monday) to 7; empty means every day.")
    )
    usable_from_time = models.TimeField(_("usable from (time of day)"), null=True, blank=True)
    usable_until_time = models.TimeField(_("usable until (time of day)"), null=True, blank=True)
    min_spend = MoneyField(_("minimum spend"), null=True, blank=True)
    usage_notes = models.TextField(_("usage notes"), blank=True)
    # Fulfilment and stock
    fulfilment = models.CharField(_("fulfilment"), max_length=20, choices=Fulfilment.choices, default=Fulfilment.IMPORTED)
    low_stock_threshold = models.PositiveIntegerField(_("low-stock threshold"), default=50)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = SkuQuerySet.as_manager()

    class Meta:
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(face_value__gte=0), name="sku_face_value_nonneg"),
            models.CheckConstraint(condition=Q(cost_price__gte=0), name="sku_cost_price_nonneg"),
            models.CheckConstraint(condition=~Q(validity_kind="fixed") | Q(valid_until__isnull=False), name="sku_fixed_window_has_end"),
            models.CheckConstraint(condition=~Q(validity_kind="days_from_sale") | Q(valid_days__gt=0), name="sku_days_from_sale_has_days"),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="sku_window_ordered",
            ),
        ]
        permissions = [
            ("reveal_cardcode", "Can reveal plaintext card codes"),
            ("import_cardcode", "Can import card codes"),
            ("generate_cardcode", "Can generate card codes"),
            ("void_cardcode", "Can void card codes"),
        ]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    def expiry_for_sale(self, sold_at=None):
        """When a code of this SKU sold at `sold_at` stops being valid."""
        if self.validity_kind == self.ValidityKind.FIXED:
            return self.valid_until
        sold_at = sold_at or timezone.now()
        return sold_at + timedelta(days=self.valid_days or 0)


class CodeBatch(models.Model):
    class Source(models.TextChoices):
        IMPORT = "import", _("Imported")
        GENERATED = "generated", _("Generated")

    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="batches")
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    label = models.CharField(_("label"), max_length=200, blank=True, help_text=_("File name or note."))
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    code_count = models.PositiveIntegerField(_("codes"), default=0)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    void_reason = models.CharField(_("void reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("code batch")
        verbose_name_plural = _("code batches")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.sku.code} {self.label}".strip()


class CardCodeQuerySet(models.QuerySet):
    def available(self):
        return self.filter(status=CardCode.Status.AVAILABLE)


class CardCode(models.Model):
    """One card code (卡密). The plaintext exists only in memory; see catalog/vault.py."""

    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        RESERVED = "reserved", _("Reserved")
        SOLD = "sold", _("Sold")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="codes")
    batch = models.ForeignKey(CodeBatch, verbose_name=_("batch"), on_delete=models.PROTECT, related_name="codes")
    ciphertext = models.BinaryField(_("ciphertext"))
    key_id = models.CharField(_("key id"), max_length=8, db_index=True)
    blind_index = models.CharField(_("blind index"), max_length=64, unique=True)
    hint = models.CharField(_("code"), max_length=12)
    serial = models.CharField(_("serial number"), max_length=64, blank=True, db_index=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.AVAILABLE)
    order_ref = models.CharField(_("order reference"), max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    status_changed_at = models.DateTimeField(_("status changed"), default=timezone.now)

    # Every status change goes through catalog.services.code_status_change, which locks the rows,
    # checks this table and writes a CodeEvent. Later apps (settlement, redemption) use the same door.
    TRANSITIONS = {
        Status.AVAILABLE: {Status.RESERVED, Status.SOLD, Status.EXPIRED, Status.VOID},
        Status.RESERVED: {Status.AVAILABLE, Status.SOLD, Status.EXPIRED, Status.VOID},
        # VOID from SOLD: a refunded sale burns the code (its buyer has seen it); never back to stock.
        Status.SOLD: {Status.REDEEMED, Status.EXPIRED, Status.VOID},
        # A reversed redemption makes the code usable again by its holder.
        Status.REDEEMED: {Status.SOLD},
        Status.EXPIRED: set(),
        Status.VOID: set(),
    }
    # What operations staff may void by hand: codes nobody holds yet.
    VOIDABLE = frozenset({Status.AVAILABLE, Status.RESERVED})

    objects = CardCodeQuerySet.as_manager()

    class Meta:
        verbose_name = _("card code")
        verbose_name_plural = _("card codes")
        indexes = [
            models.Index(fields=["sku", "status", "id"], name="cardcode_alloc_idx"),
            models.Index(fields=["batch", "status"], name="cardcode_batch_status_idx"),
        ]

    def __str__(self) -> str:
        return self.hint


class AllocationCursor(models.Model):
    """Where the next claim of a SKU's codes starts looking (catalog/allocation.py).

    Codes are allocated in id order. When a claim moves the cursor, no code of the SKU below `position`
    was claimable but the ones in the pool of returned codes: a claim starts its index scan here and never
    steps over the entries of the codes sold before.
    """

    sku = models.OneToOneField(Sku, verbose_name=_("SKU"), primary_key=True, on_delete=models.CASCADE, related_name="+")
    position = models.BigIntegerField(_("next code id"), default=0)

    class Meta:
        verbose_name = _("allocation cursor")
        verbose_name_plural = _("allocation cursors")

    def __str__(self) -> str:
        return f"{self.sku_id} @ {self.position}"


class ReturnedCode(models.Model):
    """A code that went back to stock (an unpaid order expired, a refund before delivery), behind its SKU's
    cursor: claims take these first (catalog/allocation.py). A row whose code is no longer available is
    dropped by the next claim that meets it."""

    code = models.OneToOneField(CardCode, verbose_name=_("card code"), primary_key=True, on_delete=models.CASCADE, related_name="+")
    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="+", db_index=False)
    returned_at = models.DateTimeField(_("returned"), default=timezone.now)

    class Meta:
        verbose_name = _("returned code")
        verbose_name_plural = _("returned codes")
        indexes = [models.Index(fields=["sku", "code"], name="returnedcode_sku_idx")]

    def __str__(self) -> str:
        return f"{self.sku_id}: {self.code_id}"


class CodeEvent(models.Model):
    """A card code's lifecycle: every status change, with who and why."""

    code = models.ForeignKey(CardCode, verbose_name=_("card code"), on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("code event")
        verbose_name_plural = _("code events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} -> {self.to_status}"


class ImportJob(LongJob):
    """An upload of codes, validated (dry run) and then committed, in the background.

    The uploaded file itself is kept only sealed with the vault key (`payload`) and wiped once the
    job is finished, so no plaintext code rests on disk or in the database. (A job whose worker stopped
    keeps it, so that it can be retried, until the preview expiry wipes it.)

    A worker holds a validating or importing job through its heartbeat (voucherhub/core/jobs.py).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        VALIDATING = "validating", _("Validating")
        PREVIEW = "preview", _("Ready to import")
        CONFIRMED = "confirmed", _("Confirmed, waiting to import")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    RUNNING = (Status.QUEUED, Status.VALIDATING, Status.CONFIRMED, Status.IMPORTING)
    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)
    # A step whose worker died starts again from where it was queued.
    WORKING = {Status.VALIDATING: Status.QUEUED, Status.IMPORTING: Status.CONFIRMED}

    class Mode(models.TextChoices):
        ALL = "all", _("All or nothing")
        VALID = "valid", _("Store the valid rows")

    class Failure(models.TextChoices):
        """Why a whole file was refused (row problems are listed in `errors`)."""

        UNSUPPORTED = "unsupported_format", _("The file is neither CSV nor XLSX (save it as .xlsx or .csv).")
        UNREADABLE = "unreadable", _("The file could not be read.")
        EMPTY = "empty", _("The file has no rows.")
        NO_CODE_COLUMN = "no_code_column", _("The header row has no code column (code or 卡密).")
        DUPLICATE_COLUMN = "duplicate_column", _("The header row names the same column twice.")
        TOO_MANY_ROWS = "too_many_rows", _("The file has too many rows.")
        TOO_LARGE = "too_large", _("The file is too large.")
        REFUSED = "refused", _("All or nothing: the file has bad rows, so nothing was stored.")
        ERROR = "error", _("The import stopped on an unexpected error; nothing was stored.")
        WORKER_STOPPED = WORKER_STOPPED, WORKER_STOPPED_LABEL

    sku = models.ForeignKey(Sku, verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="import_jobs")
    batch = models.OneToOneField(CodeBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_job")
    filename = models.CharField(_("file"), max_length=200)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64, db_index=True)
    file_size = models.PositiveBigIntegerField(_("file size"), default=0)
    file_format = models.CharField(_("format"), max_length=8, blank=True)
    payload = models.BinaryField(_("sealed upload"), null=True, blank=True, editable=False)
    payload_key_id = models.CharField(max_length=8, blank=True, editable=False)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.ALL)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress %"), default=0)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    valid_rows = models.PositiveIntegerField(_("valid rows"), default=0)
    invalid_rows = models.PositiveIntegerField(_("invalid rows"), default=0)
    stored_rows = models.PositiveIntegerField(_("stored"), default=0)
    # Each bad row as {"row": n, "reason": code, "hint": masked, ...}: never the code itself.
    errors = models.JSONField(_("row errors"), default=list, blank=True)
    reason_counts = models.JSONField(_("bad rows by reason"), default=dict, blank=True)
    failure = models.CharField(_("failure"), max_length=20, choices=Failure.choices, blank=True)
    message = models.CharField(_("message"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("confirmed by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("step started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("code import")
        verbose_name_plural = _("code imports")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.filename}"

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING
