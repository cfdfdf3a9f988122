"""Flash-sale test data: a shop with a SKU and codes, a live flash-sale campaign with one running slot."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.services import codes_generate
from channels.models import Storefront, StorefrontItem
from marketing.models import Campaign, Consumer, FlashSlot
from tests import factories

LIST_PRICE = Decimal("29.90")
FLASH_PRICE = Decimal("9.90")


def shop(slug: str = "flash-shop", *, codes: int = 0):
    """A distributor's open storefront selling a fresh SKU at LIST_PRICE (with `codes` available codes)."""
    distributor = factories.DistributorFactory()
    storefront = Storefront.objects.create(distributor=distributor, slug=slug, title=f"小店 {slug}")
    sku = factories.SkuFactory()
    StorefrontItem.objects.create(storefront=storefront, sku=sku, retail_price=LIST_PRICE)
    if codes:
        codes_generate(sku=sku, count=codes)
    return storefront, sku


def flash_campaign(*, storefront, sku, stock: int = 100, limit: int = 1, live: bool = True, name: str = "秒杀") -> Campaign:
    """A flash sale on `storefront` with one slot: running now when `live`, else starting in an hour."""
    now = timezone.now()
    campaign = Campaign.objects.create(
        name=name,
        kind=Campaign.Kind.FLASH_SALE,
        status=Campaign.Status.ACTIVE,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=5),
        storefront=storefront,
        distributor=storefront.distributor,
        sku=sku,
        price=FLASH_PRICE,
        per_consumer_limit=limit,
        payment_minutes=15,
    )
    start = now - timedelta(minutes=30) if live else now + timedelta(hours=1)
    FlashSlot.objects.create(campaign=campaign, starts_at=start, ends_at=start + timedelta(hours=2), stock=stock)
    return campaign


def consumers(n: int, start: int = 0) -> list[Consumer]:
    return Consumer.objects.bulk_create([Consumer(phone=f"138{start + i:08d}") for i in range(n)])
