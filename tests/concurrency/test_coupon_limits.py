"""Coupon limits raced on PostgreSQL (issue 16 acceptance): a per-consumer claim limit of 1 under 50
parallel claims by one consumer gives 1 coupon; a ¥100 budget of ¥10 coupons under 50 parallel uses gives
exactly 10 uses and spends 100.00."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction

from marketing.errors import BudgetExhausted, LimitReached
from marketing.models import Campaign, CampaignUse, Coupon
from marketing.services.coupons import coupon_claim, coupons_issue
from marketing.services.offers import OfferRequest, offer_take
from tests.marketing.factories import ConsumerFactory, coupon_campaign, shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(n, work):
    """Run work(index) in n threads released together; return what each returned or raised."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_claim_limit_of_one_under_50_parallel_claims_gives_one_coupon():
    campaign = coupon_campaign(per_consumer_limit=1)
    consumer = ConsumerFactory()

    results = at_once(50, lambda i: coupon_claim(campaign=campaign, consumer=consumer, ip="10.0.0.1", device=f"d{i}"))

    won = [r for r in results if isinstance(r, Coupon)]
    assert len(won) == 1
    assert all(isinstance(r, LimitReached) for r in results if not isinstance(r, Coupon)), results
    assert Coupon.objects.filter(campaign=campaign, consumer=consumer).count() == 1
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 1


def test_a_budget_of_100_in_10_yuan_coupons_under_50_parallel_uses_gives_10():
    _distributor, storefront, sku = shop()
    campaign = coupon_campaign(discount_amount=Decimal("10.00"), budget_kind=Campaign.BudgetKind.MONEY, budget_amount=Decimal("100.00"))
    consumers = [ConsumerFactory() for _ in range(50)]
    coupons = [coupons_issue(campaign=campaign, count=1, consumer=consumer)[0] for consumer in consumers]

    def use(index):
        with transaction.atomic():  # the order's own transaction, as settlement opens it
            return offer_take(
                request=OfferRequest(coupon_codes=(coupons[index].code,)), order_ref=uuid.uuid4().hex[:16],
                consumer=consumers[index], channel="storefront", distributor=storefront.distributor, storefront=storefront,
                sku=sku, quantity=1, list_unit_price=Decimal("30.00"), floor_unit_price=Decimal("0.00"), first_order=False,
            )  # fmt: skip

    results = at_once(50, use)

    taken = [r for r in results if not isinstance(r, Exception)]
    assert len(taken) == 10
    assert all(isinstance(r, BudgetExhausted) for r in results if isinstance(r, Exception)), results
    campaign.refresh_from_db()
    assert (campaign.spent_amount, campaign.spent_count) == (Decimal("100.00"), 10)
    assert Coupon.objects.filter(campaign=campaign, status=Coupon.Status.USED).count() == 10
    assert CampaignUse.objects.filter(campaign=campaign).count() == 10


def test_one_issued_code_claimed_by_30_consumers_at_once_goes_to_one():
    from marketing.services.coupons import coupon_claim_code

    coupon = coupons_issue(campaign=coupon_campaign(), count=1)[0]
    consumers = [ConsumerFactory() for _ in range(30)]

    results = at_once(30, lambda i: coupon_claim_code(code=coupon.code, consumer=consumers[i]))

    assert sum(isinstance(r, Coupon) for r in results) == 1
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.CLAIMED and coupon.consumer_id in {c.pk for c in consumers}
