"""django-import-export resources of the catalog (exports only; code import has its own pipeline).

A card-code export carries the masked hint, serial, status and dates. The ciphertext, blind index and
key id are not fields of any resource, and no resource ever opens the vault.
"""

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources

from catalog import selectors
from catalog.models import CardCode


class CardCodeResource(resources.ModelResource):
    sku = fields.Field(attribute="sku__code", column_name=_("SKU"))
    batch = fields.Field(attribute="batch_id", column_name=_("batch"))
    hint = fields.Field(attribute="hint", column_name=_("code (masked)"))
    serial = fields.Field(attribute="serial", column_name=_("serial number"))
    status = fields.Field(attribute="get_status_display", column_name=_("status"))
    expires_at = fields.Field(attribute="expires_at", column_name=_("expires at"))
    order_ref = fields.Field(attribute="order_ref", column_name=_("order reference"))
    created_at = fields.Field(attribute="created_at", column_name=_("created"))
    status_changed_at = fields.Field(attribute="status_changed_at", column_name=_("status changed"))

    class Meta:
        model = CardCode
        name = _("Card codes (masked)")
        fields = ("id", "sku", "batch", "hint", "serial", "status", "expires_at", "order_ref", "created_at", "status_changed_at")
        export_order = fields

    def get_queryset(self):
        return selectors.codes_for_export()

    def filter_export(self, queryset, **kwargs):
        # Whatever queryset the admin hands over (filters, search, selection), never load the ciphertext.
        return selectors.codes_for_export(queryset)
