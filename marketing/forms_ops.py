"""The campaign forms of ops' pages and the distributor portal: one form per kind, showing only the fields that
kind uses (KIND_FIELDS). The rules themselves (which fields a kind needs, the price floor, budgets) are checked
by campaign_save; a domain error it raises lands on the field it names."""

from django import forms
from django.forms import inlineformset_factory
from django.utils.translation import gettext_lazy as _

from catalog.models import Product, Sku
from marketing.models import BundleItem, Campaign, FlashSlot

Kind = Campaign.Kind

COMMON = ["name", "description", "starts_at", "ends_at"]
OWNER = ["distributor", "storefront", "funding"]
BUDGET = ["budget_kind", "budget_amount", "budget_count"]
DISCOUNT = ["discount_kind", "discount_amount", "discount_percent", "discount_cap", "min_spend", "sku_ids", "categories"]
KIND_FIELDS = {
    Kind.FLASH_SALE: ["sku", "price", "per_consumer_limit", "payment_minutes"],
    Kind.NEW_USER: ["sku", "price"],
    Kind.COUPON: [*DISCOUNT, "coupon_valid_days", "coupons_total", "per_consumer_limit", "stackable"],
    Kind.GROUP_BUY: ["sku", "price", "group_size", "group_hours", "group_ops_complete", "per_consumer_limit"],
    Kind.REFERRAL: ["reward_campaign", "refund_window_days"],
    Kind.TARGETED: [*DISCOUNT, "coupon_valid_days", "coupons_total"],
    Kind.BUNDLE: ["price", "per_consumer_limit"],
}
# What a distributor may run on its own storefront (views_portal.py): the rest is set for it.
PORTAL_KINDS = [Kind.COUPON, Kind.GROUP_BUY]
PORTAL_EXCLUDED = {"distributor", "storefront", "funding", "stackable"}

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class CampaignForm(forms.ModelForm):
    """Build with `campaign_form_class(kind)`; `sku_ids` and `categories` are picked from lists."""

    sku_ids = forms.ModelMultipleChoiceField(
        label=_("applicable SKUs"), queryset=Sku.objects.none(), required=False, help_text=_("None picked: every SKU.")
    )
    categories = forms.MultipleChoiceField(
        label=_("applicable categories"), choices=Product.Category.choices, required=False, help_text=_("None picked: every category.")
    )

    class Meta:
        model = Campaign
        fields = COMMON
        widgets = {"starts_at": DATETIME_WIDGET, "ends_at": DATETIME_WIDGET, "description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, sku_queryset=None, **kwargs):
        super().__init__(*args, **kwargs)
        if "sku_ids" in self.fields:
            self.fields["sku_ids"].queryset = sku_queryset if sku_queryset is not None else Sku.objects.filter(active=True)
            if self.instance.pk or self.instance.sku_ids:
                self.initial["sku_ids"] = list(self.instance.sku_ids or [])
        if "sku" in self.fields and sku_queryset is not None:
            self.fields["sku"].queryset = sku_queryset
        for name in ("starts_at", "ends_at"):
            self.fields[name].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    def clean_sku_ids(self):
        return [sku.pk for sku in self.cleaned_data.get("sku_ids") or []]

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The end must be after the start."))
        return data


def campaign_form_class(kind: str, *, portal: bool = False) -> type[CampaignForm]:
    """The form of one kind: the common fields, the owner and budget (ops) or the budget only (portal), then the
    kind's own fields."""
    owner = [] if portal else OWNER
    fields = [*COMMON, *owner, *BUDGET, *KIND_FIELDS[kind]]
    if portal:
        fields = [f for f in fields if f not in PORTAL_EXCLUDED]
    meta = type("Meta", (CampaignForm.Meta,), {"fields": fields})
    return type(f"{kind.title().replace('_', '')}CampaignForm", (CampaignForm,), {"Meta": meta})


FlashSlotFormSet = inlineformset_factory(
    Campaign,
    FlashSlot,
    fields=["starts_at", "ends_at", "stock"],
    extra=2,
    can_delete=True,
    widgets={"starts_at": DATETIME_WIDGET, "ends_at": DATETIME_WIDGET},
)
BundleItemFormSet = inlineformset_factory(Campaign, BundleItem, fields=["sku", "quantity", "revenue_share"], extra=3, can_delete=True)

for _formset in (FlashSlotFormSet,):
    for _name in ("starts_at", "ends_at"):
        _formset.form.base_fields[_name].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


def formset_for(kind: str):
    """The rows a kind keeps beside the campaign: a flash sale's slots, a bundle's components."""
    return {Kind.FLASH_SALE: FlashSlotFormSet, Kind.BUNDLE: BundleItemFormSet}.get(kind)


class KindChoiceForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=Campaign.Kind.choices)
