from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AuditLog(models.Model):
    """Who did what to which object, when, from where. Append-only; `data` never holds a plaintext code.

    Writers insert plain rows; `voucherhub.core.audit.audit_chain_seal()` later gives each row its
    place in a hash chain (`seq`, `prev_hash`, `hash`), so no writer waits on a shared row.
    """

    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_repr = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    # The hash chain, filled by the sealer (never by writers).
    seq = models.BigIntegerField(_("chain position"), null=True, blank=True, unique=True, editable=False)
    prev_hash = models.CharField(_("previous hash"), max_length=64, blank=True, editable=False)
    hash = models.CharField(_("hash"), max_length=64, blank=True, editable=False)
    sealed_at = models.DateTimeField(_("sealed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["id"], condition=Q(seq__isnull=True), name="audit_unsealed_idx"),
        ]
        permissions = [("view_auditlog_all", "Can view the whole audit log")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_repr or '-'} {self.action_label} {self.object_repr}"

    @property
    def action_label(self) -> str:
        """The readable label of `action` in the active language (the code itself when it has none)."""
        from voucherhub.core.audit import audit_action_label  # audit imports this module

        return audit_action_label(self.action)


class AuditChainState(models.Model):
    """The head of the audit hash chain: one row (pk=1), locked only by the sealer."""

    last_seq = models.BigIntegerField(_("last chain position"), default=0)
    last_hash = models.CharField(_("last hash"), max_length=64, default=GENESIS_HASH)
    sealed_at = models.DateTimeField(_("last sealed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain head")

    def __str__(self) -> str:
        return f"#{self.last_seq} {self.last_hash[:12]}"


class IdempotencyRecord(models.Model):
    """The first answer to a (scope, Idempotency-Key) of a retryable write (voucherhub.core.idempotency).

    `fingerprint` is a keyed HMAC of the canonical request body: a replay with the same body gets the stored
    answer, another body under the key a 409. `reference_id`: the row the answer is about, kept for the
    caller (a redemption's id), never a foreign key (core sits below every app). `fingerprint_legacy`: the
    row was copied from an app's own table of before issue 14 (settlement's orders, redemption's), with that
    app's fingerprint; its caller recomputes the old fingerprint for a replay (idempotent_answer's
    `legacy_fingerprint`). Such rows age out like the others.
    """

    scope = models.CharField(_("scope"), max_length=64)
    key = models.CharField(_("idempotency key"), max_length=100)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"))
    response = models.JSONField(_("response"))
    reference_id = models.BigIntegerField(_("reference"), null=True, blank=True)
    fingerprint_legacy = models.BooleanField(_("fingerprint of the former scheme"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="core_idempotency_once")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class SpentNonce(models.Model):
    """The nonce of a signed state-changing API request, kept in PostgreSQL beside the cache's copy.

    The unique constraint refuses the same (key id, nonce) twice also after the cache lost its data; rows
    older than apisign.NONCE_SECONDS (past the timestamp window) are pruned by a scheduled job.
    """

    key_id = models.CharField(_("key id"), max_length=64)
    nonce = models.CharField(_("nonce"), max_length=64)
    created_at = models.DateTimeField(_("spent at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("spent API nonce")
        verbose_name_plural = _("spent API nonces")
        constraints = [models.UniqueConstraint(fields=["key_id", "nonce"], name="core_nonce_once")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.nonce}"
