"""Rows the ops, portal and results tests share: a SKU with a distributor price, a distributor with its storefront."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from channels.models import Storefront, StorefrontItem
from marketing.models import Campaign
from tests import factories


def sku_priced(*, face_value="30.00", cost_price="20.00", floor="25.00", code=None):
    """A SKU; `floor` is the price floor distributor_with_shop gives its distributor for it."""
    sku = factories.SkuFactory(face_value=Decimal(face_value), cost_price=Decimal(cost_price), **({"code": code} if code else {}))
    sku.test_floor = Decimal(floor)
    return sku


def distributor_with_shop(*, username: str, slug: str, sku=None, retail="30.00"):
    """An active distributor whose owner is `username`, its open storefront, and `sku` listed at `retail`."""
    from voucherhub.core import roles

    user = factories.UserFactory(username=username, role=roles.DISTRIBUTOR)
    distributor = factories.DistributorFactory(user=user)
    if sku is not None:
        floor = getattr(sku, "test_floor", Decimal("25.00"))
        prices = {"purchase_price": Decimal("22.00"), "suggested_retail": Decimal(retail), "price_floor": floor}
        factories.PriceEntryFactory(sku=sku, distributor=distributor, level=None, **prices)
    shop = Storefront.objects.create(distributor=distributor, slug=slug, title=f"{slug} 小店")
    if sku is not None:
        StorefrontItem.objects.create(storefront=shop, sku=sku, retail_price=Decimal(retail))
    return user, distributor, shop


def campaign(**fields) -> Campaign:
    """A campaign row written directly (the results and portal tests need rows, not the rules)."""
    now = timezone.now()
    values = {"name": "测试活动", "kind": Campaign.Kind.COUPON, "starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=6)}
    values.update(fields)
    return Campaign.objects.create(**values)


def local_input(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")
