"""Coupons (优惠券): handed out (claimed, entered as a code, issued in bulk), used once, given back, expired.

Rules:
* A coupon belongs to a campaign whose rules say the discount: a fixed amount, or a percentage with an
  optional cap; an optional minimum spend; optional applicable SKUs and categories (empty: all).
* A campaign hands out at most `coupons_total` coupons (counted under the campaign row lock).
* A consumer claims at most `per_consumer_limit` coupons of a campaign, exact under parallel requests:
  the claim locks the consumer's row first, counts, then takes the campaign's lock to issue.
  Lock order everywhere in marketing: consumer, then coupon(s) by primary key, then campaign.
* A coupon is used once, by one order, under its row lock: it must be the consumer's (or an unclaimed
  code entered at checkout), within its validity, its campaign neither a draft nor paused. A paused
  campaign's coupons wait; an ended campaign's coupons stay good until their own `valid_until`.
* A coupon's discount is booked against its campaign's budget (exact under concurrency, see campaigns).
* An order that ends unpaid gives its coupon back (CLAIMED again, or EXPIRED when past its validity);
  a refunded order does not.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketing.errors import CampaignError, CampaignNotLive, CouponInvalid, LimitReached, SignInRequired, SoldOut, UnderReview
from marketing.models import Campaign, Consumer, Coupon
from marketing.services.campaigns import campaign_budget_give_back, campaign_budget_take, campaign_live_check
from riskcontrol.models import Action
from riskcontrol.services import RiskContext, risk_evaluate, risk_release
from voucherhub.core.money import ZERO, money
from voucherhub.core.templatetags.vh_format import money_text

# No 0/O, 1/I/L: a code read aloud or copied by hand survives.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
ISSUE_CHUNK = 1000


def coupon_code_normalize(code: str) -> str:
    """A code as typed (spaces, dashes, lower case) to its stored form."""
    return "".join(ch for ch in str(code or "").upper() if ch.isalnum())


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# --- Pricing ------------------------------------------------------------------------------------------


def coupon_applies(*, campaign: Campaign, sku) -> bool:
    """True when the campaign's coupons apply to `sku` (its SKU list and category list; empty: all)."""
    if campaign.sku_ids and sku.pk not in campaign.sku_ids:
        return False
    return not (campaign.categories and sku.product.category not in campaign.categories)


def coupon_discount(*, campaign: Campaign, skus, amount: Decimal) -> Decimal:
    """The discount a coupon of `campaign` gives on `amount` spent on `skus` (one product, or a bundle's
    components), or CouponInvalid(field="coupon") when a SKU or its category is not covered (a bundle: every
    component must be) or the minimum spend is not reached. Never more than the amount; a percentage is
    rounded once and capped."""
    amount = money(amount)
    if not skus or not all(coupon_applies(campaign=campaign, sku=sku) for sku in skus):
        raise CouponInvalid(_("This coupon does not apply to this product."), field="coupon")
    if campaign.min_spend and amount < campaign.min_spend:
        raise CouponInvalid(_("This coupon needs a spend of at least %(min)s.") % {"min": money_text(campaign.min_spend)}, field="coupon")
    if campaign.discount_kind == Campaign.DiscountKind.FIXED:
        discount = money(campaign.discount_amount or 0)
    elif campaign.discount_kind == Campaign.DiscountKind.PERCENT:
        discount = money(amount * (campaign.discount_percent or 0))
        if campaign.discount_cap is not None:
            discount = min(discount, money(campaign.discount_cap))
    else:
        raise CouponInvalid(field="coupon")
    return min(discount, amount)


# --- Handing out -----------------------------------------------------------------------------------------


def _valid_until(campaign: Campaign, now):
    if campaign.coupon_valid_days:
        return now + timedelta(days=campaign.coupon_valid_days)
    return campaign.ends_at


@transaction.atomic
def coupons_issue(*, campaign: Campaign, count: int, consumer: Consumer | None = None, issuance=None, referral=None) -> list[Coupon]:
    """Create `count` coupons of a coupon campaign with fresh unique codes: claimed by `consumer` when given,
    else unclaimed codes to hand out. Respects `coupons_total` under the campaign row lock (SoldOut)."""
    if count < 1:
        raise CampaignError(_("Issue at least one coupon."), field="count")
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not locked.discount_kind:
        raise CampaignError(_("This campaign does not hand out coupons."), field="campaign")
    if locked.status in (Campaign.Status.PAUSED, Campaign.Status.ENDED):
        raise CampaignNotLive(field="campaign")
    if locked.coupons_total is not None and locked.coupons_issued + count > locked.coupons_total:
        raise SoldOut(_("Every coupon of this campaign has been handed out."), field="campaign")
    now = timezone.now()
    coupons = _coupons_create(campaign=locked, count=count, consumer=consumer, issuance=issuance, referral=referral, now=now)
    locked.coupons_issued += count
    locked.save(update_fields=["coupons_issued"])
    campaign.coupons_issued = locked.coupons_issued
    return coupons


def _coupons_create(*, campaign, count, consumer, issuance, referral, now) -> list[Coupon]:
    """Insert the coupons in chunks; a code that collides (about one in 10^13) is drawn again."""
    created: list[Coupon] = []
    while len(created) < count:
        size = min(ISSUE_CHUNK, count - len(created))
        codes = {_new_code() for _ in range(size)}
        codes -= set(Coupon.objects.filter(code__in=codes).values_list("code", flat=True))
        rows = [
            Coupon(
                campaign=campaign, code=code, consumer=consumer, issuance=issuance, referral=referral,
                status=Coupon.Status.CLAIMED if consumer else Coupon.Status.ISSUED,
                claimed_at=now if consumer else None, valid_until=_valid_until(campaign, now),
            )
            for code in codes
        ]  # fmt: skip
        try:
            with transaction.atomic():
                created.extend(Coupon.objects.bulk_create(rows))
        except IntegrityError:
            continue  # a code was taken between the check and the insert: draw this chunk again
    return created


def _claims_count(*, campaign: Campaign, consumer: Consumer) -> int:
    return Coupon.objects.filter(campaign=campaign, consumer=consumer).exclude(status=Coupon.Status.VOID).count()


def _risk_claim(*, campaign: Campaign, consumer: Consumer, ip: str, device: str):
    decision = risk_evaluate(
        ctx=RiskContext(
            action=Action.COUPON_CLAIM, reference=f"campaign:{campaign.pk}", ip=ip or "", device=device or "",
            account_id=consumer.pk, phone=consumer.phone, distributor_id=campaign.distributor_id,
            storefront_id=campaign.storefront_id, account_created_at=consumer.created_at,
        )
    )  # fmt: skip
    decision.raise_if_refused()
    if decision.held_for_review:  # a claim cannot wait for a person: refused, its counters given back
        risk_release(decision=decision)
        raise UnderReview(_("Your claim is under review, so no coupon was given out now. Please try again later."), field="campaign")
    return decision


def coupon_claim(*, campaign: Campaign, consumer: Consumer | None, ip: str = "", device: str = "") -> Coupon:
    """A signed-in consumer claims one coupon of a live coupon campaign, at most `per_consumer_limit` in
    all (LimitReached), while coupons last (SoldOut); risk control sees the claim ("coupon_claim"): a block
    or challenge refuses it, and so does a review (UnderReview: no coupon handed out, counters given back)."""
    if consumer is None:
        raise SignInRequired(field="consumer")
    if campaign.kind != Campaign.Kind.COUPON:
        raise CampaignError(_("This campaign's coupons cannot be claimed."), field="campaign")
    campaign_live_check(campaign=campaign)
    decision = _risk_claim(campaign=campaign, consumer=consumer, ip=ip, device=device)
    try:
        with transaction.atomic():
            Consumer.objects.select_for_update().get(pk=consumer.pk)
            if _claims_count(campaign=campaign, consumer=consumer) >= campaign.per_consumer_limit:
                raise LimitReached(field="campaign")
            return coupons_issue(campaign=campaign, count=1, consumer=consumer)[0]
    except Exception:
        risk_release(decision=decision)
        raise


@transaction.atomic
def coupon_claim_code(*, code: str, consumer: Consumer | None, now=None) -> Coupon:
    """A consumer claims an unclaimed coupon by its code (from a leaflet, an issuance message ...). The
    campaign's per-consumer limit applies."""
    if consumer is None:
        raise SignInRequired(field="consumer")
    now = now or timezone.now()
    Consumer.objects.select_for_update().get(pk=consumer.pk)
    coupon = Coupon.objects.select_for_update().select_related("campaign").filter(code=coupon_code_normalize(code)).first()
    if coupon is None:
        raise CouponInvalid(_("No coupon has this code."), field="code")
    if coupon.consumer_id == consumer.pk and coupon.status == Coupon.Status.CLAIMED:
        return coupon  # claimed before: the same answer again
    if coupon.status != Coupon.Status.ISSUED or coupon.consumer_id is not None:
        raise CouponInvalid(_("This coupon has already been claimed."), field="code")
    if coupon.valid_until <= now:
        raise CouponInvalid(_("This coupon has expired."), field="code")
    if coupon.campaign.status in (Campaign.Status.DRAFT, Campaign.Status.PAUSED):
        raise CampaignNotLive(field="code")
    if _claims_count(campaign=coupon.campaign, consumer=consumer) >= coupon.campaign.per_consumer_limit:
        raise LimitReached(field="code")
    coupon.consumer, coupon.status, coupon.claimed_at = consumer, Coupon.Status.CLAIMED, now
    coupon.save(update_fields=["consumer", "status", "claimed_at"])
    return coupon


# --- Using and giving back ----------------------------------------------------------------------------------


def coupons_lock(*, codes, consumer: Consumer) -> list[Coupon]:
    """Lock the coupons of `codes` in primary-key order (CouponInvalid(field="coupon") for an unknown code
    or someone else's coupon). Expects the caller's transaction."""
    wanted = {coupon_code_normalize(code) for code in codes if coupon_code_normalize(code)}
    coupons = list(Coupon.objects.select_for_update(of=("self",)).select_related("campaign").filter(code__in=wanted).order_by("pk"))
    if len(coupons) != len(wanted):
        raise CouponInvalid(_("No coupon has this code."), field="coupon")
    for coupon in coupons:
        if coupon.consumer_id not in (None, consumer.pk):
            raise CouponInvalid(_("This coupon belongs to someone else."), field="coupon")
    return coupons


def coupons_stack_check(coupons: list[Coupon]) -> None:
    """One coupon per order, unless every coupon's campaign stacks; never two of the same campaign unless
    it stacks either."""
    if len(coupons) > 1 and not all(coupon.campaign.stackable for coupon in coupons):
        raise CouponInvalid(_("Only one coupon can be used on this order."), field="coupon")


def coupon_use(*, coupon: Coupon, consumer: Consumer, skus, amount: Decimal, order_ref: str, storefront=None,
               most: Decimal | None = None, now=None) -> Coupon:  # fmt: skip
    """Use a coupon locked by `coupons_lock` on an order of `amount` for `skus` (see coupon_discount): check its validity,
    price it (never more than `most`, the room above the floor for a distributor-funded coupon), take its
    campaign's budget (BudgetExhausted) and mark it USED by `order_ref`. Expects the caller's transaction."""
    now = now or timezone.now()
    campaign = coupon.campaign
    if coupon.status not in (Coupon.Status.ISSUED, Coupon.Status.CLAIMED):
        raise CouponInvalid(_("This coupon has already been used or is no longer valid."), field="coupon")
    if coupon.valid_until <= now:
        raise CouponInvalid(_("This coupon has expired."), field="coupon")
    if campaign.status in (Campaign.Status.DRAFT, Campaign.Status.PAUSED):
        raise CouponInvalid(_("This coupon's campaign is not running now."), field="coupon")
    if storefront is not None and (
        (campaign.storefront_id and campaign.storefront_id != storefront.pk)
        or (campaign.distributor_id and campaign.distributor_id != storefront.distributor_id)
    ):
        raise CouponInvalid(_("This coupon is not valid in this shop."), field="coupon")
    discount = coupon_discount(campaign=campaign, skus=skus, amount=amount)
    if most is not None:
        discount = min(discount, max(ZERO, money(most)))
    if discount <= 0:
        raise CouponInvalid(_("This coupon gives no discount on this order."), field="coupon")
    campaign_budget_take(campaign=campaign, amount=discount, count=1)
    coupon.consumer = consumer
    coupon.claimed_at = coupon.claimed_at or now
    coupon.status, coupon.used_at, coupon.order_ref, coupon.discount = Coupon.Status.USED, now, order_ref, discount
    coupon.save(update_fields=["consumer", "claimed_at", "status", "used_at", "order_ref", "discount"])
    return coupon


@transaction.atomic
def coupon_give_back(*, order_ref: str, now=None) -> int:
    """The order ended unpaid: its coupons are the consumer's again (EXPIRED when past their validity) and
    their discount goes back to the campaign's budget. Safe to call twice; returns how many came back."""
    now = now or timezone.now()
    coupons = list(
        Coupon.objects.select_for_update(of=("self",)).select_related("campaign")
        .filter(order_ref=order_ref, status=Coupon.Status.USED).order_by("pk")
    )  # fmt: skip
    for coupon in coupons:
        campaign_budget_give_back(campaign=coupon.campaign, amount=coupon.discount or ZERO, count=1)
        coupon.status = Coupon.Status.CLAIMED if coupon.valid_until > now else Coupon.Status.EXPIRED
        coupon.order_ref, coupon.used_at, coupon.discount = "", None, None
        coupon.save(update_fields=["status", "order_ref", "used_at", "discount"])
    return len(coupons)


def coupons_expire(*, now=None) -> int:
    """Job: unused coupons past their validity become EXPIRED. Safe to run twice."""
    now = now or timezone.now()
    return Coupon.objects.filter(status__in=[Coupon.Status.ISSUED, Coupon.Status.CLAIMED], valid_until__lte=now).update(
        status=Coupon.Status.EXPIRED
    )
