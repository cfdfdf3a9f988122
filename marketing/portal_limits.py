"""The limits ops set on distributors' own campaigns (marketing/conf.py, settings MARKETING_DISTRIBUTOR_*), checked
before campaign_save when a distributor creates or changes a campaign in the portal. campaign_save itself keeps
the price floor; these keep a distributor's campaign small and short:

* kinds: coupons and group buys only, on its own storefront, funded from its own margin;
* a money budget, at most MARKETING_DISTRIBUTOR_MAX_BUDGET;
* from start to end at most MARKETING_DISTRIBUTOR_MAX_DAYS;
* the discount at most MARKETING_DISTRIBUTOR_MAX_DISCOUNT_RATE of the list price: a percentage coupon's rate, a
  fixed coupon's amount against its minimum spend (so a fixed coupon needs one), a group price against the
  storefront's retail price of the SKU (which must be on the storefront)."""

from decimal import Decimal

from django.utils.translation import gettext as _

from channels.models import StorefrontItem
from marketing import conf
from marketing.errors import CampaignError
from marketing.models import Campaign
from voucherhub.core.templatetags.vh_format import money_text

# What a distributor may run on its own storefront.
PORTAL_KINDS = [Campaign.Kind.COUPON, Campaign.Kind.GROUP_BUY]


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _discount_check(campaign: Campaign, rate: Decimal) -> None:
    if campaign.kind == Campaign.Kind.GROUP_BUY:
        item = StorefrontItem.objects.filter(storefront_id=campaign.storefront_id, sku_id=campaign.sku_id, listed=True).first()
        if item is None:
            raise CampaignError(_("Pick a product listed on your storefront."), field="sku")
        if campaign.price is not None and item.retail_price and (item.retail_price - campaign.price) > item.retail_price * rate:
            lowest = money_text(item.retail_price * (1 - rate))
            message = _("The group price may be at most %(rate)s below your retail price: %(lowest)s or more.")
            raise CampaignError(message % {"rate": _percent(rate), "lowest": lowest}, field="price")
        return
    if campaign.discount_kind == Campaign.DiscountKind.PERCENT:
        if campaign.discount_percent is not None and campaign.discount_percent > rate:
            raise CampaignError(_("The discount rate may be at most %(rate)s.") % {"rate": _percent(rate)}, field="discount_percent")
        return
    if not campaign.min_spend:
        raise CampaignError(_("A fixed-amount coupon of yours needs a minimum spend."), field="min_spend")
    if campaign.discount_amount is not None and campaign.discount_amount > campaign.min_spend * rate:
        most = money_text(campaign.min_spend * rate)
        raise CampaignError(
            _("The discount may be at most %(rate)s of the minimum spend: %(most)s.") % {"rate": _percent(rate), "most": most},
            field="discount_amount",
        )


def distributor_campaign_check(*, campaign: Campaign) -> None:
    """Raise CampaignError naming the field when `campaign` (a distributor's) breaks a limit ops set."""
    if campaign.kind not in PORTAL_KINDS:
        raise CampaignError(_("You can run coupon and group-buy campaigns."), field="kind")
    if campaign.budget_kind != Campaign.BudgetKind.MONEY or campaign.budget_amount is None:
        raise CampaignError(_("Set a money budget for your campaign."), field="budget_kind")
    if campaign.budget_amount > conf.distributor_max_budget():
        most = money_text(conf.distributor_max_budget())
        raise CampaignError(_("The budget may be at most %(most)s.") % {"most": most}, field="budget_amount")
    if campaign.starts_at and campaign.ends_at and campaign.ends_at - campaign.starts_at > conf.distributor_max_duration():
        days = conf.distributor_max_duration().days
        raise CampaignError(_("A campaign of yours may run at most %(days)d days.") % {"days": days}, field="ends_at")
    _discount_check(campaign, conf.distributor_max_discount_rate())
