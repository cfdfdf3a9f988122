"""catalog.allocation: claims in id order from the SKU's cursor, returned codes first, nothing claimable skipped
or lost (tests/catalog/test_allocation_concurrency.py races it on PostgreSQL)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import allocation
from catalog.allocation import OutOfStock, codes_claim
from catalog.models import AllocationCursor, CardCode, ReturnedCode
from catalog.services import code_status_change
from settlement.errors import OutOfStock as SettlementOutOfStock
from settlement.services import stock
from tests import factories

pytestmark = pytest.mark.django_db

S = CardCode.Status


def codes_for(sku, n, **kwargs):
    return [factories.card_code(sku=sku, status=S.AVAILABLE, **kwargs)[0] for _ in range(n)]


def sell(codes):
    code_status_change(codes=codes, to_status=S.SOLD, from_statuses=[S.AVAILABLE], reference="T", locked=True)


def position(sku):
    return AllocationCursor.objects.get(sku=sku).position


def test_claims_take_codes_in_id_order_and_move_the_cursor_past_them():
    sku = factories.SkuFactory()
    codes = codes_for(sku, 5)
    with transaction.atomic():
        first = codes_claim(sku=sku, quantity=2)
        sell(first)
    assert [c.pk for c in first] == [codes[0].pk, codes[1].pk]
    assert position(sku) == codes[1].pk + 1
    with transaction.atomic():
        second = codes_claim(sku=sku, quantity=3)
        sell(second)
    assert [c.pk for c in second] == [c.pk for c in codes[2:]]
    assert position(sku) == codes[4].pk + 1
    # what the buyer is shown is loaded, the status is left to the caller
    assert second[0].get_deferred_fields() >= {"order_ref"} and not {"ciphertext", "hint"} & second[0].get_deferred_fields()


def test_a_claim_leaves_the_status_alone():
    sku = factories.SkuFactory()
    codes_for(sku, 2)
    with transaction.atomic():
        claimed = codes_claim(sku=sku, quantity=2)
        assert {c.status for c in claimed} == {S.AVAILABLE}
    assert CardCode.objects.filter(sku=sku, status=S.AVAILABLE).count() == 2


def test_expired_void_and_sold_codes_are_skipped():
    sku = factories.SkuFactory()
    expired = codes_for(sku, 1, expires_in=timedelta(seconds=-1))[0]
    void = codes_for(sku, 1)[0]
    code_status_change(codes=[void], to_status=S.VOID, reason="broken")
    sold = factories.card_code(sku=sku, status=S.SOLD)[0]
    good = codes_for(sku, 1, expires_in=None)[0]
    with transaction.atomic():
        claimed = codes_claim(sku=sku, quantity=1)
    assert [c.pk for c in claimed] == [good.pk]
    assert expired.pk < void.pk < sold.pk < good.pk
    assert position(sku) == good.pk + 1


def test_out_of_stock_names_what_was_wanted_and_found_and_changes_nothing():
    sku = factories.SkuFactory()
    codes_for(sku, 2)
    with pytest.raises(OutOfStock) as refused, transaction.atomic():
        codes_claim(sku=sku, quantity=3)
    assert refused.value.details == {"sku": sku.code, "wanted": 3, "found": 2}
    assert refused.value.status == 409 and refused.value.code == "out_of_stock"
    assert SettlementOutOfStock is OutOfStock  # settlement.errors still names it
    assert not AllocationCursor.objects.filter(sku=sku, position__gt=0).exists()
    with transaction.atomic():
        assert codes_claim(sku=sku, quantity=0) == []


def test_a_negative_quantity_is_refused():
    sku = factories.SkuFactory()
    with pytest.raises(ValueError), transaction.atomic():
        codes_claim(sku=sku, quantity=-1)


def test_released_codes_are_claimed_first_and_leave_the_pool():
    # given an order whose two codes were released after later codes sold
    sku = factories.SkuFactory()
    codes = codes_for(sku, 6)
    with transaction.atomic():
        reserved = stock.codes_claim(sku=sku, quantity=2, order_ref="O-1")
    with transaction.atomic():
        sell(codes_claim(sku=sku, quantity=2))
    assert stock.codes_release(ids=[c.pk for c in reserved], order_ref="O-1", reason="expired") == 2
    assert set(ReturnedCode.objects.filter(sku=sku).values_list("code_id", flat=True)) == {codes[0].pk, codes[1].pk}
    assert position(sku) == codes[3].pk + 1
    # when the next claims come
    with transaction.atomic():
        first = codes_claim(sku=sku, quantity=3)
        sell(first)
    # then they take the returned codes, then go on from the cursor
    assert [c.pk for c in first] == [codes[0].pk, codes[1].pk, codes[4].pk]
    assert not ReturnedCode.objects.filter(sku=sku).exists()
    assert position(sku) == codes[4].pk + 1


def test_a_returned_code_that_is_no_longer_claimable_leaves_the_pool_untaken():
    sku = factories.SkuFactory()
    codes = codes_for(sku, 3)
    with transaction.atomic():
        reserved = stock.codes_claim(sku=sku, quantity=2, order_ref="O-2")
    stock.codes_release(ids=[c.pk for c in reserved], order_ref="O-2")
    code_status_change(codes=[codes[0]], to_status=S.VOID, reason="leaked")
    with transaction.atomic():
        claimed = codes_claim(sku=sku, quantity=2)
    assert [c.pk for c in claimed] == [codes[1].pk, codes[2].pk]
    assert not ReturnedCode.objects.filter(sku=sku).exists()


def test_a_code_left_behind_the_cursor_is_still_sold_before_out_of_stock():
    # given a code behind the cursor that is not in the pool (a claim rolled back after the cursor moved on)
    sku = factories.SkuFactory()
    codes = codes_for(sku, 3)
    AllocationCursor.objects.create(sku=sku, position=codes[1].pk)
    # then the codes from the cursor on go first, and the one behind it is found before stock runs out
    with transaction.atomic():
        assert [c.pk for c in codes_claim(sku=sku, quantity=2)] == [codes[1].pk, codes[2].pk]
    with transaction.atomic():
        assert [c.pk for c in codes_claim(sku=sku, quantity=1)] == [codes[0].pk]


def test_a_claim_spanning_the_cursor_and_the_codes_behind_it():
    sku = factories.SkuFactory()
    codes = codes_for(sku, 3)
    AllocationCursor.objects.create(sku=sku, position=codes[2].pk)
    with transaction.atomic():
        assert [c.pk for c in codes_claim(sku=sku, quantity=3)] == [c.pk for c in codes]


def test_excluded_codes_are_not_taken_and_the_cursor_does_not_pass_them():
    sku = factories.SkuFactory()
    codes = codes_for(sku, 3)
    with transaction.atomic():
        claimed = codes_claim(sku=sku, quantity=2, exclude_ids=[codes[0].pk])
        sell(claimed)
    assert [c.pk for c in claimed] == [codes[1].pk, codes[2].pk]
    assert position(sku) == 0
    with transaction.atomic():
        assert [c.pk for c in codes_claim(sku=sku, quantity=1)] == [codes[0].pk]


def test_new_codes_after_a_sell_out_are_claimed_from_the_cursor():
    sku = factories.SkuFactory()
    sold = codes_for(sku, 2)
    with transaction.atomic():
        sell(codes_claim(sku=sku, quantity=2))
    fresh = codes_for(sku, 2)
    with transaction.atomic():
        assert [c.pk for c in codes_claim(sku=sku, quantity=2)] == [c.pk for c in fresh]
    assert sold[1].pk < fresh[0].pk


def test_a_claim_costs_the_same_statements_however_many_codes_were_sold():
    # The pool's probe, then the cursor's read, scan and move: one statement on PostgreSQL, three elsewhere.
    sku = factories.SkuFactory()
    codes_for(sku, 20)
    counts = []
    for sold in (1, 10):
        with transaction.atomic():
            sell(codes_claim(sku=sku, quantity=sold))
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            codes_claim(sku=sku, quantity=1)
        counts.append(len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]))
    assert counts == ([2, 2] if connection.vendor == "postgresql" else [4, 4]), counts


def test_the_cursor_starts_at_each_skus_first_available_code_on_upgrade():
    from importlib import import_module

    from django.apps import apps

    start = import_module("catalog.migrations.0007_allocation_cursor_start").cursors_start
    sku, sold_out, fresh = factories.SkuFactory(), factories.SkuFactory(), factories.SkuFactory()
    factories.card_code(sku=sku, status=S.SOLD)
    available = codes_for(sku, 2)
    last = factories.card_code(sku=sold_out, status=S.SOLD)[0]
    start(apps, None)
    assert position(sku) == available[0].pk
    assert position(sold_out) == last.pk + 1
    assert not AllocationCursor.objects.filter(sku=fresh).exists()


def test_codes_returned_counts_only_available_codes():
    sku = factories.SkuFactory()
    available = codes_for(sku, 1)[0]
    sold = factories.card_code(sku=sku, status=S.SOLD)[0]
    assert allocation.codes_returned(ids=[available.pk, sold.pk]) == 1
    assert allocation.codes_returned(ids=[available.pk]) == 1  # joining twice keeps one row
    assert list(ReturnedCode.objects.values_list("code_id", flat=True)) == [available.pk]
    assert timezone.now() >= ReturnedCode.objects.get().returned_at
