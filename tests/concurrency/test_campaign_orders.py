"""Campaign orders under bursts (issue 16 acceptance), on PostgreSQL and Redis with real threads, each on its own
database connection: the whole order_place (risk check, marketing's offer, codes, order) per attempt."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import CardCode
from catalog.services import codes_generate
from marketing.errors import BudgetExhausted, LimitReached, SoldOut
from marketing.gate import gate_enabled
from marketing.models import Campaign, Consumer, FlashSlot
from marketing.services.coupons import coupons_issue
from marketing.services.offers import OfferRequest
from settlement.models import Order
from settlement.services.orders import order_place
from tests.concurrency.threads import burst
from tests.settlement.conftest import tree_make

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def people(n):
    return Consumer.objects.bulk_create([Consumer(phone=f"139{i:08d}") for i in range(n)])


def buy(tree, who, request):
    return order_place(channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku,
                       quantity=1, pay_method="sandbox", consumer=who, offer_request=request).number  # fmt: skip


def live(**fields) -> Campaign:
    now = timezone.now()
    return Campaign.objects.create(status=Campaign.Status.ACTIVE, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=5),
                                   **fields)  # fmt: skip


def test_a_flash_sale_of_a_hundred_sells_a_hundred_orders_under_a_thousand_attempts():
    if not gate_enabled():
        pytest.skip("the flash gate needs Redis (set CACHE_URL=redis://...)")
    # given a flash sale of 100 places and 230 codes in stock
    tree = tree_make()
    codes_generate(sku=tree.sku, count=200)
    campaign = live(name="秒杀", kind=Campaign.Kind.FLASH_SALE, sku=tree.sku, price=Decimal("9.90"), storefront=tree.storefront,
                    distributor=tree.seller, per_consumer_limit=1)  # fmt: skip
    now = timezone.now()
    FlashSlot.objects.create(campaign=campaign, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1), stock=100)
    crowd = people(500)
    request = OfferRequest(campaign_id=campaign.pk)
    # when 1,000 orders are placed at once by 500 consumers (two tries each)
    results = burst(range(1000), lambda i: buy(tree, crowd[i % 500], request))
    # then exactly 100 orders exist, with 100 codes reserved, one per consumer at most
    placed = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(placed) == 100 == Order.objects.count()
    assert all(isinstance(e, (SoldOut, LimitReached)) for e in refused), {type(e).__name__ for e in refused}
    assert CardCode.objects.filter(sku=tree.sku).exclude(status=CardCode.Status.AVAILABLE).count() == 100
    assert Order.objects.values("consumer").distinct().count() == 100
    assert FlashSlot.objects.get(campaign=campaign).taken == 100
    assert set(Order.objects.values_list("total", flat=True)) == {Decimal("9.90")}


def test_a_hundred_yuan_budget_in_ten_yuan_coupons_gives_ten_discounted_orders_under_fifty():
    # given a platform coupon campaign with a ¥100 budget and 50 consumers holding a ¥10 coupon each
    tree = tree_make()
    codes_generate(sku=tree.sku, count=30)
    campaign = live(name="满减", kind=Campaign.Kind.COUPON, funding=Campaign.Funding.PLATFORM, discount_kind=Campaign.DiscountKind.FIXED,
                    discount_amount=Decimal("10.00"), coupon_valid_days=30, budget_kind=Campaign.BudgetKind.MONEY,
                    budget_amount=Decimal("100.00"))  # fmt: skip
    crowd = people(50)
    codes = [coupons_issue(campaign=campaign, count=1, consumer=who)[0].code for who in crowd]
    # when all 50 order at once with their coupon
    results = burst(range(50), lambda i: buy(tree, crowd[i], OfferRequest(coupon_codes=(codes[i],))))
    # then 10 orders got the discount, the budget is spent exactly, the rest were refused
    placed = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(placed) == 10 and all(isinstance(e, BudgetExhausted) for e in refused), {type(e).__name__ for e in refused}
    assert Order.objects.filter(discount=Decimal("10.00"), discount_platform=Decimal("10.00")).count() == 10 == Order.objects.count()
    campaign.refresh_from_db()
    assert campaign.spent_amount == Decimal("100.00")
