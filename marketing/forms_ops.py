"""The campaign forms of ops' pages and the distributor portal: one form per kind, showing only the fields that
kind uses (KIND_FIELDS). The rules themselves (which fields a kind needs, the price floor, budgets) are checked
by campaign_save; a domain error it raises lands on the field it names."""

import copy

from django import forms
from django.forms import inlineformset_factory
from django.utils.translation import gettext_lazy as _

from catalog.models import Product, Sku
from marketing.errors import CampaignError
from marketing.models import BundleItem, Campaign, FlashSlot
from marketing.portal_limits import distributor_campaign_check
from marketing.services.campaigns import campaign_errors

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
    Kind.TARGETED: [*DISCOUNT, "coupon_valid_days", "coupons_total", "sku"],  # a SKU and no discount: free codes
    Kind.BUNDLE: ["price", "per_consumer_limit"],
}
# What a distributor's form leaves out (views_portal.py): set for it.
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

    portal = False  # a distributor's own campaign: ops' limits apply too (portal_limits.py)

    def __init__(self, *args, sku_queryset=None, fixed: dict | None = None, **kwargs):
        """`fixed`: attributes the page sets rather than the reader (a distributor's own storefront and funding)."""
        super().__init__(*args, **kwargs)
        self.fixed = fixed or {}
        if "sku_ids" in self.fields:
            self.fields["sku_ids"].queryset = sku_queryset if sku_queryset is not None else Sku.objects.filter(active=True)
            if self.instance.pk or self.instance.sku_ids:
                self.initial["sku_ids"] = list(self.instance.sku_ids or [])
        if "reward_campaign" in self.fields:  # both sides of a referral get a coupon of a coupon campaign
            self.fields["reward_campaign"].queryset = Campaign.objects.filter(kind__in=[Kind.COUPON, Kind.TARGETED]).exclude(
                status=Campaign.Status.ENDED
            )
        if "sku" in self.fields and sku_queryset is not None:
            self.fields["sku"].queryset = sku_queryset
        for name in ("starts_at", "ends_at"):
            self.fields[name].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    def clean_sku_ids(self):
        return [sku.pk for sku in self.cleaned_data.get("sku_ids") or []]

    def clean(self):
        """The campaign services' rules (campaign_errors) on what was typed, each on its field, so a bad form is
        refused before anything is written and the preview never shows a campaign that could not be saved."""
        data = super().clean()
        if self.errors:
            return data
        candidate = self.candidate()
        problems = campaign_errors(candidate)
        if not problems and self.portal:
            try:
                distributor_campaign_check(campaign=candidate)
            except CampaignError as exc:
                problems = {exc.field: exc.message}
        for name, message in problems.items():
            self.add_error(name if name in self.fields else None, str(message))
        return data

    def candidate(self) -> Campaign:
        """The instance as it would be saved (a copy: the form's instance is filled later by Django)."""
        campaign = copy.copy(self.instance)
        for name, value in self.cleaned_data.items():
            setattr(campaign, name, value)
        for name, value in self.fixed.items():
            setattr(campaign, name, value)
        return campaign

    def save(self, commit=True):
        campaign = super().save(commit=False)
        for name, value in self.fixed.items():
            setattr(campaign, name, value)
        if commit:
            campaign.save()
        return campaign


def campaign_form_class(kind: str, *, portal: bool = False) -> type[CampaignForm]:
    """The form of one kind: the common fields, the owner and budget (ops) or the budget only (portal), then the
    kind's own fields."""
    owner = [] if portal else OWNER
    fields = [*COMMON, *owner, *BUDGET, *KIND_FIELDS[kind]]
    if portal:
        fields = [f for f in fields if f not in PORTAL_EXCLUDED]
    meta = type("Meta", (CampaignForm.Meta,), {"fields": fields})
    return type(f"{kind.title().replace('_', '')}CampaignForm", (CampaignForm,), {"Meta": meta, "portal": portal})


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
