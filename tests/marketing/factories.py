"""Marketing factories: consumers, campaigns of each kind (live by default), a distributor with a shop."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from channels.models import PriceEntry, Storefront, StorefrontItem
from marketing.models import Campaign, Consumer
from tests import factories


class ConsumerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Consumer

    phone = factory.Sequence(lambda n: f"138{n:08d}")


class CampaignFactory(factory.django.DjangoModelFactory):
    """A live platform campaign; pass the kind's fields (or use the helpers below)."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"活动 {n}")
    kind = Campaign.Kind.COUPON
    status = Campaign.Status.ACTIVE
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


def coupon_campaign(**kwargs) -> Campaign:
    """¥10 off, no minimum, every SKU, coupons valid 30 days."""
    values = {
        "kind": Campaign.Kind.COUPON, "discount_kind": Campaign.DiscountKind.FIXED, "discount_amount": Decimal("10.00"),
        "coupon_valid_days": 30,
    }  # fmt: skip
    values.update(kwargs)
    return CampaignFactory(**values)


def new_user_campaign(*, sku, price=Decimal("9.90"), **kwargs) -> Campaign:
    return CampaignFactory(kind=Campaign.Kind.NEW_USER, sku=sku, price=price, **kwargs)


def shop(*, price_floor=Decimal("25.00"), retail=Decimal("30.00"), sku=None):
    """A distributor with a storefront selling `sku` at `retail`, its floor `price_floor`."""
    sku = sku or factories.SkuFactory()
    distributor = factories.DistributorFactory()
    PriceEntry.objects.create(
        level=distributor.level, sku=sku, purchase_price=Decimal("20.00"), suggested_retail=retail, price_floor=price_floor
    )
    storefront = Storefront.objects.create(distributor=distributor, slug=f"shop-{distributor.pk}", title="小店")
    StorefrontItem.objects.create(storefront=storefront, sku=sku, retail_price=retail)
    return distributor, storefront, sku
