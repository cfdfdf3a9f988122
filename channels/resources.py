"""Spreadsheet import/export of price lists (finance and ops keep price sheets in Excel).

One row per price entry: `level` (level name) or `distributor` (distributor name), `sku` (SKU
code), `min_quantity`, `purchase_price`, `suggested_retail`, `price_floor`. A row with the same
level/distributor, SKU and quantity tier updates the existing entry. Every row is validated
(model clean: exactly one of level and distributor, level rows have retail and floor, retail not
below floor); import-export reports each bad row and stores nothing until all are valid.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources
from import_export.widgets import DecimalWidget, ForeignKeyWidget, IntegerWidget

from catalog.models import Sku
from channels.models import Distributor, DistributorLevel, PriceEntry


class UniqueNameWidget(ForeignKeyWidget):
    """A foreign key by name that refuses an unknown or ambiguous name with a clear row error."""

    def clean(self, value, row=None, **kwargs):
        if value in (None, ""):
            return None
        matches = list(self.get_queryset(value, row, **kwargs).filter(**{self.field: str(value).strip()})[:2])
        if not matches:
            raise ValueError(_("%(model)s %(value)r does not exist.") % {"model": self.model._meta.verbose_name, "value": value})
        if len(matches) > 1:
            raise ValueError(_("%(model)s %(value)r is ambiguous.") % {"model": self.model._meta.verbose_name, "value": value})
        return matches[0]


class PriceEntryResource(resources.ModelResource):
    level = fields.Field(attribute="level", column_name="level", widget=UniqueNameWidget(DistributorLevel, field="name"))
    distributor = fields.Field(attribute="distributor", column_name="distributor", widget=UniqueNameWidget(Distributor, field="name"))
    sku = fields.Field(attribute="sku", column_name="sku", widget=UniqueNameWidget(Sku, field="code"))
    min_quantity = fields.Field(attribute="min_quantity", column_name="min_quantity", widget=IntegerWidget(), default=1)
    purchase_price = fields.Field(attribute="purchase_price", column_name="purchase_price", widget=DecimalWidget())
    suggested_retail = fields.Field(attribute="suggested_retail", column_name="suggested_retail", widget=DecimalWidget())
    price_floor = fields.Field(attribute="price_floor", column_name="price_floor", widget=DecimalWidget())

    class Meta:
        model = PriceEntry
        fields = ["level", "distributor", "sku", "min_quantity", "purchase_price", "suggested_retail", "price_floor"]
        export_order = fields
        import_id_fields = ["level", "distributor", "sku", "min_quantity"]
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = False

    def get_queryset(self):
        return PriceEntry.objects.select_related("level", "distributor", "sku")

    def before_import_row(self, row, **kwargs):
        if row.get("min_quantity") in (None, ""):
            row["min_quantity"] = 1
        for money_column in ("purchase_price", "suggested_retail", "price_floor"):
            value = row.get(money_column)
            if isinstance(value, float):
                raise ValidationError({money_column: _("Format money cells as text or numbers with two decimals.")})
