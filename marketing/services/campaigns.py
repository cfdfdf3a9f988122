"""A campaign's life: its settings checked per kind, its status moves (audited), its budget taken and given
back under the campaign's row lock, and the job that ends campaigns past their end.

Rules:
* A campaign is created as a draft; `campaign_activate` puts it live (ACTIVE between starts_at and ends_at),
  `campaign_pause` stops it for a while, `campaign_end` for good. Every save and move is audited
  ("marketing.campaign.*").
* Each kind needs its own fields (`campaign_errors` says which); a price is never negative and a
  distributor-funded price never below the distributor's floor for the SKU.
* A distributor's campaign runs on its own storefront and is funded from its margin.
* The budget (money or count) is taken under `SELECT ... FOR UPDATE` of the campaign row, so concurrent
  orders stop exactly at it; a check constraint on the table backs the rule. A campaign without a budget is
  not locked at all (its cost is summed from its uses).
"""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Product, Sku
from channels.pricing import price_quote
from marketing.errors import BudgetExhausted, CampaignError, CampaignInvalid, CampaignNotLive
from marketing.models import Campaign
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import DomainError
from voucherhub.core.money import ZERO, money
from voucherhub.core.templatetags.vh_format import money_text

Kind, Status = Campaign.Kind, Campaign.Status

TRANSITIONS = {
    Status.DRAFT: {Status.ACTIVE, Status.ENDED},
    Status.ACTIVE: {Status.PAUSED, Status.ENDED},
    Status.PAUSED: {Status.ACTIVE, Status.ENDED},
    Status.ENDED: set(),
}

# Kinds priced by the campaign itself (one SKU at `price`); a bundle has a price but its SKUs are its items.
PRICED_KINDS = {Kind.FLASH_SALE, Kind.NEW_USER, Kind.GROUP_BUY}
# Kinds whose rules describe a coupon (what a claim, a referral reward or an issuance hands out).
COUPON_KINDS = {Kind.COUPON, Kind.TARGETED}
# Kinds a distributor may run on its own storefront (ops set the limits in the portal).
DISTRIBUTOR_KINDS = {Kind.COUPON, Kind.GROUP_BUY}

# Fields ops edit; the counters (spent_*, coupons_issued) and the status only move through services.
EDITABLE_FIELDS = [
    "name", "kind", "description", "starts_at", "ends_at", "distributor", "storefront", "funding",
    "budget_kind", "budget_amount", "budget_count", "sku", "price", "per_consumer_limit", "payment_minutes",
    "group_size", "group_hours", "group_ops_complete", "discount_kind", "discount_amount", "discount_percent",
    "discount_cap", "min_spend", "sku_ids", "categories", "coupon_valid_days", "coupons_total", "stackable",
    "reward_campaign", "refund_window_days",
]  # fmt: skip


# --- Validation -------------------------------------------------------------------------------------


def _common_errors(campaign: Campaign) -> dict:
    errors = {}
    if not (campaign.name or "").strip():
        errors["name"] = _("Enter a name.")
    if campaign.kind not in Kind.values:
        errors["kind"] = _("Choose a campaign kind.")
    if not campaign.starts_at:
        errors["starts_at"] = _("Enter when the campaign starts.")
    if not campaign.ends_at:
        errors["ends_at"] = _("Enter when the campaign ends.")
    elif campaign.starts_at and campaign.ends_at <= campaign.starts_at:
        errors["ends_at"] = _("The end must be after the start.")
    if campaign.price is not None and campaign.price < 0:
        errors["price"] = _("The price cannot be negative.")
    if campaign.per_consumer_limit is not None and campaign.per_consumer_limit < 1:
        errors["per_consumer_limit"] = _("The limit per consumer is at least 1.")
    if campaign.budget_kind == Campaign.BudgetKind.MONEY and not (campaign.budget_amount and campaign.budget_amount > 0):
        errors["budget_amount"] = _("Enter the budget amount.")
    if campaign.budget_kind == Campaign.BudgetKind.COUNT and not campaign.budget_count:
        errors["budget_count"] = _("Enter how many times the offer may be given.")
    errors.update(_owner_errors(campaign))
    return errors


def _owner_errors(campaign: Campaign) -> dict:
    """A distributor's campaign: distributor-funded, on its own storefront, of a kind it may run."""
    errors = {}
    if campaign.funding == Campaign.Funding.DISTRIBUTOR and campaign.distributor_id is None:
        errors["distributor"] = _("A distributor-funded campaign names its distributor.")
    if campaign.distributor_id is not None:
        if campaign.funding != Campaign.Funding.DISTRIBUTOR:
            errors["funding"] = _("A distributor's campaign is funded from its own margin.")
        if campaign.kind not in DISTRIBUTOR_KINDS:
            errors["kind"] = _("Distributors run coupon and group-buy campaigns only.")
        if campaign.storefront_id is not None and campaign.storefront.distributor_id != campaign.distributor_id:
            errors["storefront"] = _("A distributor's campaign runs on its own storefront.")
    return errors


def _discount_errors(campaign: Campaign) -> dict:
    errors = {}
    if campaign.discount_kind == Campaign.DiscountKind.FIXED:
        if not (campaign.discount_amount and campaign.discount_amount > 0):
            errors["discount_amount"] = _("Enter the amount taken off.")
    elif campaign.discount_kind == Campaign.DiscountKind.PERCENT:
        if campaign.discount_percent is None or not (Decimal("0") < campaign.discount_percent < Decimal("1")):
            errors["discount_percent"] = _("Enter a rate between 0 and 1 (0.2000 means 20 percent off).")
        if campaign.discount_cap is not None and campaign.discount_cap <= 0:
            errors["discount_cap"] = _("The cap must be more than zero.")
    else:
        errors["discount_kind"] = _("Choose a fixed amount or a percentage.")
    if campaign.min_spend is not None and campaign.min_spend < 0:
        errors["min_spend"] = _("The minimum spend cannot be negative.")
    if not isinstance(campaign.sku_ids, list) or not all(isinstance(pk, int) for pk in campaign.sku_ids):
        errors["sku_ids"] = _("Choose the SKUs from the list.")
    elif campaign.sku_ids and Sku.objects.filter(pk__in=campaign.sku_ids).count() != len(set(campaign.sku_ids)):
        errors["sku_ids"] = _("One of the chosen SKUs does not exist.")
    if not isinstance(campaign.categories, list) or any(c not in Product.Category.values for c in campaign.categories):
        errors["categories"] = _("Choose the categories from the list.")
    if campaign.coupon_valid_days is not None and campaign.coupon_valid_days < 1:
        errors["coupon_valid_days"] = _("A coupon is valid for at least one day.")
    return errors


def _kind_errors(campaign: Campaign) -> dict:
    """The fields each kind needs."""
    kind = campaign.kind
    errors = {}
    if kind in PRICED_KINDS:
        if campaign.sku_id is None:
            errors["sku"] = _("Choose the SKU on offer.")
        if campaign.price is None:
            errors["price"] = _("Enter the campaign price.")
    if kind == Kind.BUNDLE and campaign.price is None:
        errors["price"] = _("Enter the bundle's price.")
    if kind == Kind.GROUP_BUY:
        if not campaign.group_size or campaign.group_size < 2:
            errors["group_size"] = _("A group has at least 2 members.")
        if not campaign.group_hours:
            errors["group_hours"] = _("Enter how many hours a group has to fill.")
    if kind in COUPON_KINDS and not (kind == Kind.TARGETED and campaign.sku_id and not campaign.discount_kind):
        errors.update(_discount_errors(campaign))  # a targeted issuance of free codes names a SKU instead
    if kind == Kind.REFERRAL:
        reward = campaign.reward_campaign
        if reward is None:
            errors["reward_campaign"] = _("Choose the coupon campaign both sides get.")
        elif reward.kind not in COUPON_KINDS or (campaign.pk and reward.pk == campaign.pk):
            errors["reward_campaign"] = _("The reward must be a coupon campaign.")
    return errors


def _floor_errors(campaign: Campaign) -> dict:
    """A distributor-funded price never goes below the distributor's floor for the SKU."""
    if campaign.funding != Campaign.Funding.DISTRIBUTOR or campaign.distributor_id is None:
        return {}
    if campaign.sku_id is None or campaign.price is None:
        return {}
    try:
        quote = price_quote(distributor=campaign.distributor, sku=campaign.sku)
    except DomainError as error:
        return {"sku": error.message}
    if campaign.price < quote.price_floor:
        return {"price": _("The price is below the floor of %(floor)s for this SKU.") % {"floor": money_text(quote.price_floor)}}
    return {}


def campaign_errors(campaign: Campaign) -> dict:
    """Every broken rule of the campaign's settings, by field (empty: the campaign may be saved)."""
    errors = _common_errors(campaign)
    if "kind" not in errors:
        errors.update(_kind_errors(campaign))
    if "price" not in errors and "sku" not in errors:
        errors.update(_floor_errors(campaign))
    return errors


# --- Saving and moving --------------------------------------------------------------------------------


@transaction.atomic
def campaign_save(*, campaign: Campaign, actor, ip: str | None = None) -> Campaign:
    """Create (as a draft) or change a campaign after checking its kind's rules (CampaignInvalid names every
    bad field). The counters and the status are never written from here; an ended campaign is read-only."""
    if campaign.distributor_id is not None and campaign.storefront_id is None:
        campaign.storefront = getattr(campaign.distributor, "storefront", None)
    errors = campaign_errors(campaign)
    if errors:
        raise CampaignInvalid(errors)
    if campaign.pk is None:
        campaign.status = Status.DRAFT
        campaign.created_by = actor if getattr(actor, "is_authenticated", False) else None
        campaign.save()
        audit_record(actor=actor, action="marketing.campaign.create", obj=campaign, ip=ip, data={"kind": campaign.kind})
        return campaign
    current = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if current.status == Status.ENDED:
        raise CampaignError(_("An ended campaign cannot be changed."), field="status")
    changed = [name for name in EDITABLE_FIELDS if _value(current, name) != _value(campaign, name)]
    if current.status != Status.DRAFT and "kind" in changed:
        raise CampaignInvalid({"kind": _("The kind of a campaign that has run cannot change.")})
    campaign.save(update_fields=[*EDITABLE_FIELDS, "updated_at"])
    campaign.refresh_from_db()
    audit_record(actor=actor, action="marketing.campaign.change", obj=campaign, ip=ip, data={"fields": changed})
    return campaign


def _value(campaign: Campaign, name: str):
    field = Campaign._meta.get_field(name)
    return getattr(campaign, field.attname)


def _move(*, campaign: Campaign, to: str, actor, ip, action: str, reason: str = "") -> Campaign:
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if to not in TRANSITIONS[locked.status]:
        raise CampaignError(
            _("A campaign that is %(status)s cannot become %(to)s.") % {"status": locked.get_status_display(), "to": Status(to).label},
            field="status",
        )
    before = locked.status
    locked.status = to
    locked.save(update_fields=["status", "updated_at"])
    audit_record(actor=actor, action=action, obj=locked, ip=ip, reason=reason, data={"from": before, "to": to})
    campaign.status = to
    return locked


@transaction.atomic
def campaign_activate(*, campaign: Campaign, actor, ip: str | None = None) -> Campaign:
    """Draft or paused → active. The settings are checked again, a bundle needs its components (their shares
    adding up to its price) and the campaign must not be past its end."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    errors = campaign_errors(campaign)
    if campaign.ends_at <= timezone.now():
        errors["ends_at"] = _("The campaign's end has passed; move the end first.")
    if campaign.kind == Kind.BUNDLE:
        from marketing.services.bundles import bundle_errors

        errors.update(bundle_errors(campaign))
    if errors:
        raise CampaignInvalid(errors)
    return _move(campaign=campaign, to=Status.ACTIVE, actor=actor, ip=ip, action="marketing.campaign.activate")


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor, ip: str | None = None, reason: str = "") -> Campaign:
    """Active → paused: no new orders, claims or coupon uses until activated again."""
    return _move(campaign=campaign, to=Status.PAUSED, actor=actor, ip=ip, action="marketing.campaign.pause", reason=reason)


@transaction.atomic
def campaign_end(*, campaign: Campaign, actor, ip: str | None = None, reason: str = "") -> Campaign:
    """Any status → ended, for good. Coupons already handed out stay usable until their own validity."""
    return _move(campaign=campaign, to=Status.ENDED, actor=actor, ip=ip, action="marketing.campaign.end", reason=reason)


def campaigns_end_due(*, now=None) -> int:
    """Job: campaigns past their end become ENDED (one audited move each). Safe to run twice."""
    now = now or timezone.now()
    ended = 0
    for pk in Campaign.objects.filter(status__in=[Status.ACTIVE, Status.PAUSED], ends_at__lte=now).values_list("pk", flat=True):
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update().filter(pk=pk, status__in=[Status.ACTIVE, Status.PAUSED]).first()
            if campaign is None or campaign.ends_at > now:
                continue
            _move(campaign=campaign, to=Status.ENDED, actor=None, ip=None, action="marketing.campaign.end", reason="ends_at passed")
            ended += 1
    return ended


# --- Live and budget ----------------------------------------------------------------------------------


def campaign_live(*, campaign_id, now=None) -> Campaign:
    """The campaign if it runs now, else CampaignNotLive(field="campaign")."""
    campaign = Campaign.objects.select_related("sku", "storefront", "distributor").filter(pk=campaign_id).first()
    if campaign is None or not campaign.is_live(now):
        raise CampaignNotLive(field="campaign")
    return campaign


def campaign_live_check(*, campaign: Campaign, storefront=None, now=None) -> None:
    """Raise CampaignNotLive unless the campaign runs now on this storefront (empty: every storefront)."""
    if not campaign.is_live(now):
        raise CampaignNotLive(field="campaign")
    if storefront is not None and campaign.storefront_id and campaign.storefront_id != storefront.pk:
        raise CampaignError(_("This offer is not available in this shop."), field="campaign")
    if storefront is not None and campaign.distributor_id and campaign.distributor_id != storefront.distributor_id:
        raise CampaignError(_("This offer is not available in this shop."), field="campaign")


@transaction.atomic
def campaign_budget_take(*, campaign: Campaign, amount: Decimal, count: int) -> Campaign:
    """Take `amount` of money and `count` uses from the campaign's budget under its row lock, or raise
    BudgetExhausted(field="campaign"). Without a budget nothing is locked or written."""
    amount = money(amount)
    if amount < 0 or count < 0:
        raise ValueError("a budget take is never negative")
    if campaign.budget_kind == Campaign.BudgetKind.NONE:
        return campaign
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.budget_kind == Campaign.BudgetKind.MONEY and locked.spent_amount + amount > locked.budget_amount:
        raise BudgetExhausted(field="campaign")
    if locked.budget_kind == Campaign.BudgetKind.COUNT and locked.spent_count + count > locked.budget_count:
        raise BudgetExhausted(field="campaign")
    locked.spent_amount += amount
    locked.spent_count += count
    locked.save(update_fields=["spent_amount", "spent_count"])
    return locked


@transaction.atomic
def campaign_budget_give_back(*, campaign: Campaign, amount: Decimal, count: int) -> None:
    """Give back what `campaign_budget_take` took (an order released unpaid or refunded), never below zero."""
    if campaign.budget_kind == Campaign.BudgetKind.NONE:
        return
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    locked.spent_amount = max(ZERO, locked.spent_amount - money(amount))
    locked.spent_count = max(0, locked.spent_count - count)
    locked.save(update_fields=["spent_amount", "spent_count"])
