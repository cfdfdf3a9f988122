"""The redemption rollups: per local hour, day, SKU and hour of the week; known and first-visit holders; a
reversal that moves a holder's first visit to a later day is picked up by the incremental refresh."""

import uuid
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum

from analytics.models import RedemptionDay, RedemptionHeat, RedemptionHour, SkuRedemptionDay
from analytics.rollups.base import rollup_rebuild, rollup_refresh
from analytics.rollups.redemptions import ROLLUP
from redemption.models import Redemption
from redemption.services import redemption_reverse
from settlement.models import Order
from settlement.services.orders import order_place
from tests.analytics.rollup_support import days_ago, local, order_codes, redeem, shop_for, shop_order
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
D = Decimal
MEASURES = ["redemptions", "reversed", "amount", "owed", "after_reminder", "known_holders", "new_holders"]


def hour_row(at, store) -> dict:
    row = RedemptionHour.objects.get(hour=at.replace(minute=0), store_id=store.pk)
    return {name: getattr(row, name) for name in ("redemptions", "reversed", "known_holders", "new_holders", "weekday", "local_hour")}


def table(model) -> list[tuple]:
    keys = [f.attname for f in model._meta.fields if f.attname != "id"]
    return sorted(tuple(str(getattr(row, key)) for key in keys) for row in model.objects.all())


@pytest.fixture
def scene(tree, finance_user):
    """Ann buys two codes, Bob one, the seller one from the portal (no holder); redeemed on two days."""
    day1, day2 = days_ago(5), days_ago(4)
    fund(tree.seller, "100.00", actor=finance_user)
    with time_machine.travel(local(days_ago(6), 9), tick=False):
        ann = order_codes(shop_order(tree, contact="ann@example.test", quantity=2))
        bob = order_codes(shop_order(tree, contact="Bob@Example.test"))
        stock = order_codes(order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=1))
        caller = shop_for(tree.sku)
    times = {"ann1": local(day1, 10, 5), "stock": local(day1, 10, 40), "bob": local(day1, 11, 30), "ann2": local(day2, 9, 0)}
    done = {}
    for name, code in (("ann1", ann[0]), ("stock", stock[0]), ("bob", bob[0]), ("ann2", ann[1])):
        with time_machine.travel(times[name], tick=False):
            done[name] = redeem(caller, code)
    return caller, times, done, (day1, day2)


def test_hours_days_and_first_visits_then_a_reversal_moves_the_first_visit(scene):
    caller, times, done, (day1, day2) = scene
    # when
    with time_machine.travel(local(day2, 9, 30), tick=False):
        assert rollup_refresh(ROLLUP) >= 2
    # then: 10:00 holds ann's first visit and the portal code (holder unknown); 11:00 bob's first visit
    store = caller.store
    assert hour_row(times["ann1"], store) == {
        "redemptions": 2, "reversed": 0, "known_holders": 1, "new_holders": 1, "weekday": day1.weekday(), "local_hour": 10,
    }  # fmt: skip
    assert hour_row(times["bob"], store)["new_holders"] == 1
    assert hour_row(times["ann2"], store) == {
        "redemptions": 1, "reversed": 0, "known_holders": 1, "new_holders": 0, "weekday": day2.weekday(), "local_hour": 9,
    }  # fmt: skip
    first = RedemptionDay.objects.get(day=day1, store_id=store.pk)
    assert (first.redemptions, first.known_holders, first.new_holders, first.amount) == (3, 2, 2, D("90.00"))
    owed = Redemption.objects.filter(created_at__date__lte=day1).aggregate(s=Sum("amount_owed"))["s"]
    assert first.owed == owed
    assert SkuRedemptionDay.objects.get(day=day1).redemptions == 3
    assert RedemptionHeat.objects.get(day=day1, merchant_id=caller.merchant.pk, local_hour=10).redemptions == 2

    # when: ann's first redemption is reversed on day 2: her day-2 redemption becomes her first visit
    with time_machine.travel(local(day2, 12), tick=False):
        redemption_reverse(caller=caller, redemption_id=done["ann1"].pk, idempotency_key=uuid.uuid4().hex)
    with time_machine.travel(local(day2, 12, 30), tick=False):
        assert rollup_refresh(ROLLUP) == 2
    # then
    assert hour_row(times["ann1"], store) == {
        "redemptions": 1, "reversed": 1, "known_holders": 0, "new_holders": 0, "weekday": day1.weekday(), "local_hour": 10,
    }  # fmt: skip
    assert hour_row(times["ann2"], store)["new_holders"] == 1
    first = RedemptionDay.objects.get(day=day1, store_id=store.pk)  # rows are rewritten, not updated
    assert (first.redemptions, first.reversed, first.amount) == (2, 1, D("60.00"))
    assert RedemptionHeat.objects.get(day=day2, merchant_id=caller.merchant.pk, local_hour=9).new_holders == 1


def test_a_rebuild_day_by_day_equals_the_incremental_result(scene):
    caller, times, done, (day1, day2) = scene
    with time_machine.travel(local(day2, 9, 30), tick=False):
        rollup_refresh(ROLLUP)
    with time_machine.travel(local(day2, 12), tick=False):
        redemption_reverse(caller=caller, redemption_id=done["ann1"].pk, idempotency_key=uuid.uuid4().hex)
        rollup_refresh(ROLLUP)
    incremental = [table(model) for model in (RedemptionHour, RedemptionDay, SkuRedemptionDay, RedemptionHeat)]
    # when
    for model in (RedemptionHour, RedemptionDay, SkuRedemptionDay, RedemptionHeat):
        model.objects.all().delete()
    rollup_rebuild(ROLLUP, days_ago(10))
    # then
    assert [table(model) for model in (RedemptionHour, RedemptionDay, SkuRedemptionDay, RedemptionHeat)] == incremental
    assert sum(RedemptionHour.objects.values_list("new_holders", flat=True)) == 2


def test_a_gifted_code_has_no_known_holder(scene, tree):
    caller, times, done, (day1, day2) = scene
    from redemption.holdings import holding_gift
    from redemption.models import CodeHolding

    code = order_codes(shop_order(tree, contact="ann@example.test"))[0]
    holding = CodeHolding.objects.get(code=code, active=True)
    holding_gift(link=holding.link, holding_id=holding.pk, to_contact="13800138000")
    with time_machine.travel(local(day2, 15), tick=False):
        redeem(caller, code)
    rollup_rebuild(ROLLUP, day2, day2)
    row = RedemptionHour.objects.get(hour=local(day2, 15))
    assert (row.redemptions, row.known_holders, row.new_holders) == (1, 0, 0)
