"""Bundles (权益礼包): several SKUs sold as one product at one price.

Rules:
* A bundle campaign has a price and components (BundleItem: a SKU, a quantity per bundle and the revenue
  share of the bundle's price each unit carries). The shares times the quantities add up to the price
  exactly, so statements split revenue and commission per component without a rounding cent left over.
* One order of a bundle reserves one set of every component atomically (settlement places one order per
  component sharing a basket, in one transaction: all or nothing).
* Components are set while the campaign is a draft; a running bundle's parts never change under buyers.
"""

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from marketing.errors import CampaignError, CampaignInvalid
from marketing.models import BundleItem, Campaign
from voucherhub.core.audit import audit_record
from voucherhub.core.money import ZERO, money
from voucherhub.core.templatetags.vh_format import money_text


def bundle_errors(campaign: Campaign) -> dict:
    """What keeps a bundle from going live: no components, or shares that do not add up to its price."""
    items = list(campaign.bundle_items.all())
    if not items:
        return {"bundle_items": _("A bundle needs at least one component.")}
    total = sum((item.revenue_share * item.quantity for item in items), ZERO)
    if campaign.price is not None and money(total) != money(campaign.price):
        return {
            "bundle_items": _("The components' revenue shares add up to %(total)s, not the price %(price)s.")
            % {"total": money_text(total), "price": money_text(campaign.price)}
        }
    return {}


@transaction.atomic
def bundle_items_set(*, campaign: Campaign, items: list[tuple], actor, ip: str | None = None) -> list[BundleItem]:
    """Replace a draft bundle's components with `items` = [(sku, quantity, revenue_share), ...].

    Every SKU once, quantities of at least one, shares not negative and adding up to the price."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.kind != Campaign.Kind.BUNDLE:
        raise CampaignError(_("Only a bundle has components."), field="kind")
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignError(_("A bundle's components change only while it is a draft."), field="status")
    errors = {}
    skus = [sku.pk for sku, _quantity, _share in items]
    if not items:
        errors["bundle_items"] = _("A bundle needs at least one component.")
    elif len(set(skus)) != len(skus):
        errors["bundle_items"] = _("Each SKU appears once in a bundle.")
    elif any(int(quantity) < 1 for _sku, quantity, _share in items):
        errors["bundle_items"] = _("A component's quantity is at least 1.")
    elif any(Decimal(share) < 0 for _sku, _quantity, share in items):
        errors["bundle_items"] = _("A revenue share cannot be negative.")
    if errors:
        raise CampaignInvalid(errors)
    BundleItem.objects.filter(campaign=campaign).delete()
    rows = BundleItem.objects.bulk_create(
        [BundleItem(campaign=campaign, sku=sku, quantity=int(quantity), revenue_share=money(share)) for sku, quantity, share in items]
    )
    errors = bundle_errors(campaign)
    if errors:
        raise CampaignInvalid(errors)
    audit_record(
        actor=actor, action="marketing.campaign.bundle", obj=campaign, ip=ip,
        data={"items": [[sku.pk, int(quantity), str(money(share))] for sku, quantity, share in items]},
    )  # fmt: skip
    return rows
