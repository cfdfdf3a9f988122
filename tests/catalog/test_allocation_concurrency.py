"""catalog.allocation raced on PostgreSQL: concurrent claims never share a code, and no claimable code is lost
behind the cursor (claims rolled back, codes released, expired and voided codes among them)."""

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction

from catalog.allocation import OutOfStock, codes_claim
from catalog.models import AllocationCursor, CardCode, CodeEvent
from catalog.services import code_status_change
from settlement.services import stock
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

S = CardCode.Status


class RolledBack(Exception):
    pass


def claimers(n, work):
    """Run work(index) in n threads at once; return what each returned (or raised)."""
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


def sell(codes, reference):
    code_status_change(codes=codes, to_status=S.SOLD, from_statuses=[S.AVAILABLE], reference=reference, locked=True)


def test_concurrent_claims_never_overlap_and_lose_nothing():
    # given 240 claimable codes of one SKU, with expired and void ones among them
    sku = factories.SkuFactory()
    make = factories.card_code
    claimable, unclaimable = set(), set()
    for i in range(300):
        if i % 20 == 7:
            unclaimable.add(make(sku=sku, status=S.AVAILABLE, expires_in=timedelta(seconds=-1))[0].pk)
        elif i % 20 == 13:
            unclaimable.add(make(sku=sku, status=S.VOID)[0].pk)
        elif i % 20 == 17:
            unclaimable.add(make(sku=sku, status=S.SOLD)[0].pk)
        else:
            claimable.add(make(sku=sku, status=S.AVAILABLE)[0].pk)

    # when 8 claimers sell 1-3 codes at a time until stock runs out; some of their orders fail after the claim
    # (rolled back) and some reserve codes that are released again
    def work(index):
        rng = random.Random(index)
        sold, outcome = [], Counter()
        while True:
            quantity, roll = rng.randint(1, 3), rng.random()
            try:
                if roll < 0.15:
                    with transaction.atomic():
                        codes_claim(sku=sku, quantity=quantity)
                        raise RolledBack
                if roll < 0.3:
                    ref = f"R{index}-{outcome['released']}"
                    with transaction.atomic():
                        reserved = stock.codes_reserve(sku=sku, quantity=quantity, order_ref=ref)
                    stock.codes_release(ids=reserved, order_ref=ref, reason="expired")
                    outcome["released"] += 1
                    continue
                with transaction.atomic():
                    codes = codes_claim(sku=sku, quantity=quantity)
                    sell(codes, f"T{index}")
                sold += [code.pk for code in codes]
            except RolledBack:
                outcome["rolled back"] += 1
            except OutOfStock:
                if quantity == 1:
                    return sold, outcome
        return sold, outcome

    results = claimers(8, work)
    assert not [r for r in results if isinstance(r, Exception)], results
    sold_by_claimers = [pk for sold, _outcome in results for pk in sold]
    outcomes = sum((outcome for _sold, outcome in results), Counter())

    # then no code went to two claimers, nothing unclaimable was sold, and what is left is still claimable
    assert len(sold_by_claimers) == len(set(sold_by_claimers))
    assert not set(sold_by_claimers) & unclaimable
    assert outcomes["rolled back"] > 0 and outcomes["released"] > 0, outcomes
    left = []
    with transaction.atomic():
        while True:
            try:
                codes = codes_claim(sku=sku, quantity=1)
            except OutOfStock:
                break
            sell(codes, "last")
            left += [code.pk for code in codes]
    assert set(sold_by_claimers) | set(left) == claimable
    assert len(left) <= 8 * 3, "codes left behind by the claimers: only what a rolled-back claim held at the end"
    sold_events = Counter(CodeEvent.objects.filter(code__sku=sku, to_status=S.SOLD).values_list("code_id", flat=True))
    assert set(sold_events.values()) == {1} and set(sold_events) == claimable
    assert AllocationCursor.objects.get(sku=sku).position > max(claimable) - 8 * 3


def test_two_claimers_of_the_last_code_one_gets_it():
    sku = factories.SkuFactory()
    last = factories.card_code(sku=sku, status=S.AVAILABLE)[0]
    holding = threading.Event()
    release = threading.Event()

    def work(index):
        if index == 0:
            with transaction.atomic():
                codes = codes_claim(sku=sku, quantity=1)
                holding.set()
                release.wait(10)
                sell(codes, "first")
            return [code.pk for code in codes]
        holding.wait(10)
        try:
            with transaction.atomic():
                return codes_claim(sku=sku, quantity=1)
        except OutOfStock as refused:
            return refused
        finally:
            release.set()

    first, second = claimers(2, work)
    assert first == [last.pk]
    assert isinstance(second, OutOfStock) and second.details["found"] == 0
