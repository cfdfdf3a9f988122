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
