"""Ops' and finance's rows of the supply app: statement imports and their differences (reconciliation), and
card replenishments. Imported at the end of supply/models.py; migration 0004_reconciliation.

Writers: `supply/reconciliation.py` (StatementImport, StatementDifference), `supply/replenish.py`
(Replenishment)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StatementImport(models.Model):
    """One supplier statement file, read and compared with our attempts at that supplier."""

    class Status(models.TextChoices):
        DONE = "done", _("Compared")
        REFUSED = "refused", _("Refused: bad rows")
        REJECTED = "rejected", _("Refused: unreadable file")

    class Mode(models.TextChoices):
        ALL = "all", _("All or nothing")
        VALID = "valid", _("Compare the valid rows")

    upstream = models.ForeignKey("supply.Upstream", verbose_name=_("supplier"), on_delete=models.PROTECT, related_name="statements")
    filename = models.CharField(_("file"), max_length=200)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64, db_index=True)
    file_format = models.CharField(_("format"), max_length=8, blank=True)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices, default=Mode.ALL)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    message = models.CharField(_("message"), max_length=300, blank=True)
    period_start = models.DateTimeField(_("period start"), null=True, blank=True)
    period_end = models.DateTimeField(_("period end"), null=True, blank=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    matched_rows = models.PositiveIntegerField(_("matching rows"), default=0)
    bad_rows = models.PositiveIntegerField(_("bad rows"), default=0)
    # [{"row": 7, "column": "amount", "reason": "Not an amount.", "value": "abc"}, ...]
    errors = models.JSONField(_("bad rows"), default=list, blank=True)
    their_total = models.DecimalField(_("their total"), max_digits=14, decimal_places=2, default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("imported by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        verbose_name = _("supplier statement")
        verbose_name_plural = _("supplier statements")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.filename} #{self.pk}"

    @property
    def bad_rows_report(self) -> list[dict]:
        """The bad rows with their column's name in the reader's language."""
        from supply.statement_files import COLUMN_LABELS, reason_text

        return [
            {**error, "column_label": str(COLUMN_LABELS.get(error.get("column"), "—")), "reason_text": reason_text(error)}
            for error in self.errors
        ]


class StatementDifference(models.Model):
    """Where a statement and our records disagree, with what ops did about it."""

    class Kind(models.TextChoices):
        # Ordered by cost: the first is money paid to the supplier for an order we refunded.
        SUCCESS_REFUNDED = "success_refunded", _("They say success, we refunded")
        AMOUNT = "amount", _("Amount differs")
        STATUS = "status", _("Status differs")
        MISSING_OURS = "missing_ours", _("Missing on our side")
        MISSING_THEIRS = "missing_theirs", _("Missing on their side")

    RANK = {Kind.SUCCESS_REFUNDED: 0, Kind.AMOUNT: 1, Kind.STATUS: 2, Kind.MISSING_OURS: 3, Kind.MISSING_THEIRS: 4}

    statement = models.ForeignKey(StatementImport, verbose_name=_("statement"), on_delete=models.CASCADE, related_name="differences")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    rank = models.PositiveSmallIntegerField(_("rank"), default=0)
    row = models.PositiveIntegerField(_("row"), null=True, blank=True)
    attempt = models.ForeignKey(
        "supply.TopupAttempt", verbose_name=_("attempt"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    topup = models.ForeignKey("supply.Topup", verbose_name=_("top-up"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    our_number = models.CharField(_("our number"), max_length=64, blank=True)
    their_number = models.CharField(_("their number"), max_length=64, blank=True)
    our_amount = models.DecimalField(_("our amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    their_amount = models.DecimalField(_("their amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    our_status = models.CharField(_("our status"), max_length=20, blank=True)
    their_status = models.CharField(_("their status"), max_length=20, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("resolved by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("statement difference")
        verbose_name_plural = _("statement differences")
        ordering = ["rank", "id"]
        indexes = [models.Index(fields=["statement", "rank", "id"], name="supply_diff_order")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.our_number or self.their_number}"

    @property
    def our_status_label(self) -> str:
        from supply.models import TopupAttempt

        return str(TopupAttempt.Status(self.our_status).label) if self.our_status in TopupAttempt.Status.values else self.our_status

    @property
    def their_status_label(self) -> str:
        from supply.statement_files import STATUS_LABELS

        return str(STATUS_LABELS.get(self.their_status, self.their_status))


class Replenishment(models.Model):
    """One purchase of card codes from a supplier for a SKU of imported codes whose stock ran low."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        BUYING = "buying", _("Buying from the supplier")
        STORING = "storing", _("Storing in the vault")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    RUNNING = (Status.PENDING, Status.BUYING, Status.STORING)

    number = models.CharField(_("purchase number"), max_length=40, unique=True)
    product = models.ForeignKey(
        "supply.UpstreamProduct", verbose_name=_("supplier product"), on_delete=models.PROTECT, related_name="replenishments"
    )
    sku = models.ForeignKey("catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    available_before = models.PositiveIntegerField(_("stock before"), default=0)
    quantity = models.PositiveIntegerField(_("ordered"))
    received = models.PositiveIntegerField(_("received"), default=0)
    stored = models.PositiveIntegerField(_("stored"), default=0)
    unit_cost = models.DecimalField(_("unit cost"), max_digits=14, decimal_places=2, null=True, blank=True)
    import_job = models.ForeignKey(
        "catalog.ImportJob", verbose_name=_("import"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        "catalog.CodeBatch", verbose_name=_("batch"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.CharField(_("message"), max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("card replenishment")
        verbose_name_plural = _("card replenishments")
        ordering = ["-id"]
        constraints = [
            # One running replenishment per supplier product: a second check while one runs buys nothing.
            models.UniqueConstraint(
                fields=["product"], condition=models.Q(status__in=["pending", "buying", "storing"]), name="supply_replenish_one_running"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        steps = {self.Status.PENDING: 5, self.Status.BUYING: 30, self.Status.STORING: 70, self.Status.FAILED: 100}
        return steps.get(self.status, 0)
