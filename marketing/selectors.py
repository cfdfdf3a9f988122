"""Marketing's shared reads: live campaigns for a shop and a product, a consumer's coupons.

Other branches add their own `selectors_*.py`; these are the reads checkout and the storefront pages need.
"""

from django.db.models import Q, QuerySet
from django.utils import timezone

from marketing.models import Campaign, Consumer, Coupon


def campaigns_live(*, storefront=None, kind: str | None = None, sku=None, now=None) -> QuerySet[Campaign]:
    """Campaigns running now in `storefront` (platform campaigns for every shop, a distributor's in its own),
    optionally of one kind and for one SKU."""
    now = now or timezone.now()
    rows = Campaign.objects.filter(status=Campaign.Status.ACTIVE, starts_at__lte=now, ends_at__gt=now)
    if storefront is not None:
        rows = rows.filter(Q(storefront__isnull=True) | Q(storefront=storefront)).filter(
            Q(distributor__isnull=True) | Q(distributor_id=storefront.distributor_id)
        )
    if kind:
        rows = rows.filter(kind=kind)
    if sku is not None:
        rows = rows.filter(sku=sku)
    return rows.select_related("sku").order_by("ends_at", "pk")


def campaign_new_user_for(*, storefront, sku, now=None) -> Campaign | None:
    """The live new-user price for `sku` in `storefront` (the lowest price when several run), or None.
    Settlement offers it by itself to a buyer whose order would be their first."""
    return campaigns_live(storefront=storefront, kind=Campaign.Kind.NEW_USER, sku=sku, now=now).order_by("price", "pk").first()


def consumer_coupons(*, consumer: Consumer, status: str | None = None) -> QuerySet[Coupon]:
    """The consumer's own coupons (never another's), newest first."""
    rows = Coupon.objects.filter(consumer=consumer).select_related("campaign")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-issued_at", "-pk")


def consumer_coupons_usable(*, consumer: Consumer, storefront=None, sku=None, now=None) -> list[Coupon]:
    """The consumer's claimed coupons usable now (valid, campaign running or ended-but-honoured), for a
    product and shop when given: what checkout offers to pick."""
    from marketing.services.coupons import coupon_applies

    now = now or timezone.now()
    rows = consumer_coupons(consumer=consumer, status=Coupon.Status.CLAIMED).filter(valid_until__gt=now)
    rows = rows.exclude(campaign__status__in=[Campaign.Status.DRAFT, Campaign.Status.PAUSED])
    if storefront is not None:
        rows = rows.filter(Q(campaign__storefront__isnull=True) | Q(campaign__storefront=storefront)).filter(
            Q(campaign__distributor__isnull=True) | Q(campaign__distributor_id=storefront.distributor_id)
        )
    coupons = list(rows.order_by("valid_until", "pk"))
    if sku is not None:
        coupons = [coupon for coupon in coupons if coupon_applies(campaign=coupon.campaign, sku=sku)]
    return coupons


# The kinds a shop's deals page lists, in its order (targeted issuance reaches people, not a page).
DEAL_KINDS = (
    Campaign.Kind.FLASH_SALE,
    Campaign.Kind.GROUP_BUY,
    Campaign.Kind.BUNDLE,
    Campaign.Kind.NEW_USER,
    Campaign.Kind.COUPON,
    Campaign.Kind.REFERRAL,
)


def shop_deals(*, storefront, now=None) -> dict[str, list[Campaign]]:
    """The campaigns a shopper can take part in on `storefront` now, by kind: running, of this shop (or the
    platform's), and for a campaign of one SKU only when the shop lists that SKU (else its checkout would
    refuse). Flash sales come from selectors_flash (their slots decide), so they are not here."""
    from channels.models import StorefrontItem

    listed = set(StorefrontItem.objects.filter(storefront=storefront, listed=True).values_list("sku_id", flat=True))
    deals: dict[str, list[Campaign]] = {kind: [] for kind in DEAL_KINDS if kind != Campaign.Kind.FLASH_SALE}
    for campaign in campaigns_live(storefront=storefront, now=now).filter(kind__in=list(deals)):
        if campaign.sku_id is None or campaign.sku_id in listed:
            deals[campaign.kind].append(campaign)
    return deals
