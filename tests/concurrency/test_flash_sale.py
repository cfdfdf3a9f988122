"""A flash-sale burst on PostgreSQL and Redis with real threads, each on its own database connection:
`flash_take` inside `transaction.atomic()` as settlement's order transaction runs it."""

import uuid

import pytest
from django.db import transaction
from django.db.models import Sum

from marketing.errors import LimitReached, SoldOut
from marketing.gate import gate_counts, gate_enabled, gate_left
from marketing.models import FlashReservation, FlashSlot
from marketing.services.flash import flash_give_back, flash_take
from tests.concurrency.threads import burst
from tests.marketing.flash_fixtures import consumers, flash_campaign, shop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


needs_redis = pytest.mark.skipif(not gate_enabled(), reason="the flash gate needs Redis (set CACHE_URL=redis://...)")


def take(campaign, consumer):
    with transaction.atomic():
        return flash_take(campaign=campaign, consumer=consumer, quantity=1, order_ref=uuid.uuid4().hex[:20]).reservation.pk


def test_a_hundred_places_under_a_thousand_attempts_by_two_hundred_consumers():
    storefront, sku = shop()
    campaign = flash_campaign(storefront=storefront, sku=sku, stock=100, limit=1)
    people = consumers(200)
    results = burst(range(1000), lambda i: take(campaign, people[i % 200]))
    sold = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(sold) == 100 and len(set(sold)) == 100
    assert all(isinstance(e, (SoldOut, LimitReached)) for e in refused), {type(e) for e in refused}
    slot = FlashSlot.objects.get(campaign=campaign)
    assert slot.taken == 100
    assert FlashReservation.objects.filter(slot=slot, status="held").count() == 100
    per_consumer = FlashReservation.objects.filter(slot=slot).values("consumer").annotate(n=Sum("quantity"))
    assert max(row["n"] for row in per_consumer) == 1  # nobody holds more than the limit
    if gate_enabled():  # without Redis the database alone decided (the same answer, more slowly)
        assert gate_left(slot=slot) == 0 and sum(gate_counts(campaign=campaign).values()) == 100


def test_one_consumer_fifty_parallel_attempts_gets_one():
    storefront, sku = shop()
    campaign = flash_campaign(storefront=storefront, sku=sku, stock=100, limit=1)
    (me,) = consumers(1)
    results = burst(range(50), lambda i: take(campaign, me), threads=50)
    ok = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    assert len(ok) == 1
    assert len(errors) == 49 and all(isinstance(e, LimitReached) for e in errors)
    slot = FlashSlot.objects.get(campaign=campaign)
    assert slot.taken == 1 and FlashReservation.objects.filter(consumer=me).count() == 1
    if gate_enabled():
        assert gate_left(slot=slot) == 99 and gate_counts(campaign=campaign) == {me.pk: 1}


class OrderFailed(Exception):
    pass


@needs_redis
def test_an_order_failing_after_admission_gives_its_place_back():
    """Orders that fail after flash_take (the caller's transaction rolls back, then offer_undo gives the gate
    its places back) keep nothing: afterwards every place is still there and sells exactly once."""
    storefront, sku = shop()
    campaign = flash_campaign(storefront=storefront, sku=sku, stock=20, limit=1)
    people = consumers(60)

    def failing(i):
        taken = None
        try:
            with transaction.atomic():
                taken = flash_take(campaign=campaign, consumer=people[i], quantity=1, order_ref=f"F{i:06d}")
                raise OrderFailed  # e.g. the wallet or the risk check refused the order after the offer
        except OrderFailed:
            flash_give_back(taken.gate_places)
            raise

    # when: 30 buyers are admitted (20 of them at most at a time) and every order fails
    results = burst(range(30), failing, threads=30)
    assert sum(isinstance(value, OrderFailed) for _, value in results) >= 20
    slot = FlashSlot.objects.get(campaign=campaign)
    # then: nothing is held, in the database or the gate; the same buyers may try again
    assert slot.taken == 0 and not FlashReservation.objects.filter(slot=slot).exists()
    assert gate_left(slot=slot) == 20 and gate_counts(campaign=campaign) == {}
    # and a burst afterwards sells exactly the 20 places
    results = burst(range(60), lambda i: take(campaign, people[i]), threads=30)
    assert sum(kind == "ok" for kind, _ in results) == 20
    slot.refresh_from_db()
    assert slot.taken == 20 == FlashReservation.objects.filter(slot=slot).count() and gate_left(slot=slot) == 0


@needs_redis
def test_the_gate_rebuilt_after_redis_lost_its_keys_equals_the_database(clear_cache):
    storefront, sku = shop()
    campaign = flash_campaign(storefront=storefront, sku=sku, stock=50, limit=2)
    people = consumers(30)
    burst(range(60), lambda i: take(campaign, people[i % 30]), threads=20)
    slot = FlashSlot.objects.get(campaign=campaign)
    before_left, before_counts = gate_left(slot=slot), gate_counts(campaign=campaign)
    assert slot.taken == 50 and before_left == 0
    # when: Redis loses everything (a restart without persistence; FLUSHDB of this test's keys)
    clear_cache()
    assert gate_left(slot=slot) is None
    # then: the next attempts (in parallel) rebuild it once from the database, and it says what the database says
    results = burst(range(20), lambda i: take(campaign, people[i]), threads=20)
    assert all(kind == "error" and isinstance(value, (SoldOut, LimitReached)) for kind, value in results)
    assert gate_left(slot=slot) == before_left == 0
    database = dict(
        FlashReservation.objects.filter(slot=slot, status__in=["held", "paid"]).values_list("consumer").annotate(n=Sum("quantity"))
    )
    assert gate_counts(campaign=campaign) == before_counts == database
