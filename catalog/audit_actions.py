"""Readable labels of the audit action codes the catalog writes (registered in CatalogConfig.ready)."""

from django.utils.translation import gettext_lazy as _

AUDIT_ACTIONS = {
    "codes.import_uploaded": _("Code file uploaded"),
    "codes.import": _("Codes imported"),
    "codes.import_cancelled": _("Code import cancelled"),
    "codes.import_refused": _("Code import refused"),
    "codes.import_failed": _("Code import failed"),
    "codes.import_retried": _("Code import retried"),
    "codes.generate": _("Codes generated"),
    "codes.void": _("Codes voided"),
    "batch.void": _("Batch voided"),
    "codes.reveal": _("Codes revealed"),
    "codes.reveal_refused": _("Code reveal refused"),
    "codes.lookup": _("Code looked up"),
    "codes.search_refused": _("Admin search with a card code refused"),
}
