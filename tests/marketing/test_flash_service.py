"""Flash-sale rules one request at a time: taking, limits, paying, releasing, late payments, the expiry job,
the slot validator and the gate's rebuild command (PostgreSQL; the gate runs when CACHE_URL is Redis)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from channels.models import Quota
from marketing.errors import CampaignError, CampaignNotLive, LimitReached, SoldOut
from marketing.gate import gate_counts, gate_enabled, gate_left, gate_reset
from marketing.models import Campaign, FlashReservation, FlashSlot
from marketing.services.flash import (
    EXPIRE_GRACE,
    flash_paid,
    flash_released,
    flash_reservations_expire,
    flash_slot_check,
    flash_slot_current,
    flash_still_held,
    flash_take,
)
from tests.marketing.flash_fixtures import consumers, flash_campaign, shop

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def sale():
    storefront, sku = shop(codes=5)
    return flash_campaign(storefront=storefront, sku=sku, stock=3, limit=2)


def take(campaign, consumer, ref, quantity=1, now=None):
    with transaction.atomic():
        return flash_take(campaign=campaign, consumer=consumer, quantity=quantity, order_ref=ref, now=now)


def test_a_take_holds_a_place_until_the_campaigns_payment_time(sale):
    (me,) = consumers(1)
    taken = take(sale, me, "O1")
    reservation = taken.reservation
    assert reservation.status == FlashReservation.Status.HELD and reservation.quantity == 1
    assert abs((reservation.expires_at - timezone.now()) - timedelta(minutes=15)) < timedelta(seconds=5)
    assert taken.pay_minutes == 15
    assert FlashSlot.objects.get(campaign=sale).taken == 1
    if gate_enabled():
        assert taken.gate_places == (f"{sale.pk}:{reservation.slot_id}:{me.pk}:1",)
        assert gate_left(slot=reservation.slot) == 2 and gate_counts(campaign=sale) == {me.pk: 1}


def test_the_limit_counts_across_orders_and_refuses_on_quantity(sale):
    (me,) = consumers(1)
    take(sale, me, "O1")
    with pytest.raises(LimitReached) as error:
        take(sale, me, "O2", quantity=2)
    assert error.value.field == "quantity"
    take(sale, me, "O3")
    with pytest.raises(LimitReached):
        take(sale, me, "O4")
    with pytest.raises(LimitReached):
        take(sale, consumers(1, start=9)[0], "O5", quantity=3)  # more than the limit at once
    assert FlashReservation.objects.filter(consumer=me).count() == 2


def test_sold_out_names_the_campaign_and_writes_nothing(sale):
    a, b, c = consumers(3)
    take(sale, a, "O1", quantity=2)
    take(sale, b, "O2")
    with pytest.raises(SoldOut) as error:
        take(sale, c, "O3")
    assert error.value.field == "campaign"
    assert not FlashReservation.objects.filter(consumer=c).exists()
    assert FlashSlot.objects.get(campaign=sale).taken == 3


def test_not_live_outside_a_slot_paused_or_not_a_flash_sale(sale):
    (me,) = consumers(1)
    with pytest.raises(CampaignNotLive):
        take(sale, me, "O1", now=timezone.now() + timedelta(hours=2))  # between the slot's end and the campaign's
    Campaign.objects.filter(pk=sale.pk).update(status=Campaign.Status.PAUSED)
    sale.refresh_from_db()
    with pytest.raises(CampaignNotLive) as error:
        take(sale, me, "O2")
    assert error.value.field == "campaign"
    sale.status, sale.kind = Campaign.Status.ACTIVE, Campaign.Kind.NEW_USER
    with pytest.raises(CampaignError):
        take(sale, me, "O3")
    sale.kind = Campaign.Kind.FLASH_SALE
    with pytest.raises(CampaignError) as error:
        take(sale, me, "O4", quantity=0)
    assert error.value.field == "quantity"
    assert not FlashReservation.objects.exists()


def test_a_coming_slot_is_not_current(sale):
    later = flash_campaign(storefront=sale.storefront, sku=sale.sku, live=False, name="later")
    assert flash_slot_current(later) is None
    assert flash_slot_current(sale) is not None


def test_paid_in_time_keeps_the_place_and_late_payments_are_refused(sale):
    a, b = consumers(2)
    take(sale, a, "PAID")
    take(sale, b, "LATE")
    assert flash_still_held(order_ref="PAID") and flash_still_held(order_ref="LATE")
    flash_paid(order_ref="PAID")
    flash_paid(order_ref="PAID")  # twice is fine
    assert FlashReservation.objects.get(order_ref="PAID").status == FlashReservation.Status.PAID
    # the payment time ran out: a payment now finds the place gone (settlement refunds it)
    assert not flash_still_held(order_ref="LATE", now=timezone.now() + timedelta(minutes=16))
    flash_released(order_ref="LATE")
    assert not flash_still_held(order_ref="LATE")
    with pytest.raises(CampaignNotLive):
        flash_paid(order_ref="LATE")
    assert not flash_still_held(order_ref="NO-SUCH-ORDER")


def test_released_gives_the_place_back_to_the_slot_and_the_gate(sale, django_capture_on_commit_callbacks):
    a, b = consumers(2)
    taken = take(sale, a, "O1", quantity=2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # the gate's place goes back on commit
        flash_released(order_ref="O1")
        flash_released(order_ref="O1")  # twice: nothing more
    assert len(callbacks) == 1
    slot = FlashSlot.objects.get(campaign=sale)
    assert slot.taken == 0 and FlashReservation.objects.get(order_ref="O1").status == FlashReservation.Status.RELEASED
    if gate_enabled():
        assert gate_left(slot=taken.reservation.slot) == 3 and gate_counts(campaign=sale) == {}
    take(sale, a, "O2", quantity=2)  # the buyer may buy again
    take(sale, b, "O3")
    flash_paid(order_ref="O3")
    flash_released(order_ref="O3")  # a paid reservation is never released
    assert FlashSlot.objects.get(campaign=sale).taken == 3


def test_the_expiry_job_releases_only_what_is_past_its_time_and_grace(sale, django_capture_on_commit_callbacks):
    a, b, c = consumers(3)
    take(sale, a, "OLD")
    take(sale, b, "NEW")
    take(sale, c, "PAID")
    flash_paid(order_ref="PAID")
    FlashReservation.objects.filter(order_ref__in=["OLD", "PAID"]).update(expires_at=timezone.now() - EXPIRE_GRACE - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert flash_reservations_expire() == 1
        assert flash_reservations_expire() == 0
    statuses = dict(FlashReservation.objects.values_list("order_ref", "status"))
    assert statuses == {"OLD": "released", "NEW": "held", "PAID": "paid"}
    assert FlashSlot.objects.get(campaign=sale).taken == 2
    if gate_enabled():
        assert gate_counts(campaign=sale) == {b.pk: 1, c.pk: 1}


def test_slot_check_keeps_the_cap_within_stock_quota_and_time(sale):
    now = timezone.now()
    slot = FlashSlot.objects.get(campaign=sale)
    later = {"starts_at": slot.ends_at, "ends_at": slot.ends_at + timedelta(hours=1)}
    flash_slot_check(campaign=sale, stock=5, **later)  # 5 codes available
    with pytest.raises(CampaignError) as error:
        flash_slot_check(campaign=sale, stock=6, **later)
    assert error.value.field == "stock"
    with pytest.raises(CampaignError) as error:
        flash_slot_check(campaign=sale, stock=0, **later)
    assert error.value.field == "stock"
    with pytest.raises(CampaignError) as error:
        flash_slot_check(campaign=sale, stock=1, starts_at=now, ends_at=now + timedelta(minutes=5))  # overlaps
    assert error.value.field == "starts_at"
    with pytest.raises(CampaignError) as error:
        flash_slot_check(campaign=sale, stock=1, starts_at=later["ends_at"], ends_at=later["starts_at"])
    assert error.value.field == "ends_at"
    with pytest.raises(CampaignError):
        flash_slot_check(campaign=sale, stock=1, starts_at=sale.ends_at, ends_at=sale.ends_at + timedelta(hours=1))
    # the existing slot itself may be changed, but not below what is taken
    take(sale, consumers(1)[0], "O1", quantity=2)
    slot.refresh_from_db()
    flash_slot_check(campaign=sale, stock=7, starts_at=slot.starts_at, ends_at=slot.ends_at, slot=slot)  # 5 more to sell
    with pytest.raises(CampaignError):
        flash_slot_check(campaign=sale, stock=1, starts_at=slot.starts_at, ends_at=slot.ends_at, slot=slot)
    # a distributor selling the SKU from a quota: no more than its balance
    Quota.objects.create(distributor=sale.distributor, sku=sale.sku, balance=2)
    flash_slot_check(campaign=sale, stock=2, **later)
    with pytest.raises(CampaignError) as error:
        flash_slot_check(campaign=sale, stock=3, **later)
    assert error.value.field == "stock" and "2" in str(error.value.message)


@pytest.mark.skipif(not gate_enabled(), reason="needs Redis")
def test_the_rebuild_command_sets_the_gate_from_the_database(sale, clear_cache):
    a, b = consumers(2)
    take(sale, a, "O1", quantity=2)
    take(sale, b, "O2")
    flash_released(order_ref="O2")
    slot = FlashSlot.objects.get(campaign=sale)
    clear_cache()
    assert gate_left(slot=slot) is None
    out = StringIO()
    call_command("flash_gate_rebuild", stdout=out)
    assert "rebuilt for 1 campaign" in out.getvalue()
    assert gate_left(slot=slot) == 1 and gate_counts(campaign=sale) == {a.pk: 2}
    # ops changed the slot's stock: reset, and the next take reads the database again
    FlashSlot.objects.filter(pk=slot.pk).update(stock=4)
    gate_reset(campaign=sale)
    take(sale, b, "O3")
    assert gate_left(slot=slot) == 1 and gate_counts(campaign=sale) == {a.pk: 2, b.pk: 1}


def test_sold_out_fast_answer_only_when_the_gate_is_sure(sale):
    from marketing.services.flash import flash_sold_out

    a, b = consumers(2)
    assert not flash_sold_out(campaign_id=sale.pk)
    take(sale, a, "O1", quantity=2)
    take(sale, b, "O2")
    assert flash_sold_out(campaign_id=sale.pk) is gate_enabled()  # without Redis: never sure, flash_take decides
    gate_reset(campaign=sale)
    assert not flash_sold_out(campaign_id=sale.pk)  # the gate not loaded: not sure
    with pytest.raises(SoldOut):
        take(sale, consumers(1, start=7)[0], "O3")  # the database says so, and the gate is rebuilt
    assert flash_sold_out(campaign_id=sale.pk) is gate_enabled()
    assert not flash_sold_out(campaign_id=sale.pk, now=timezone.now() + timedelta(hours=3))  # no running slot


@pytest.mark.skipif(not gate_enabled(), reason="needs Redis")
def test_the_buy_endpoint_answers_sold_out_before_anything_else(sale, client):
    a, b = consumers(2)
    take(sale, a, "O1", quantity=2)
    take(sale, b, "O2")
    response = client.post(f"/s/{sale.storefront.slug}/flash/{sale.pk}/buy/", {"quantity": 1})
    assert response.status_code == 409 and response.json()["code"] == "sold_out"
    assert "campaign" in response.json()["fields"]


@pytest.mark.skipif(not gate_enabled(), reason="needs Redis")
def test_a_slot_added_after_the_gate_was_loaded_is_read_from_the_database(sale):
    (me,) = consumers(1)
    old = FlashSlot.objects.get(campaign=sale)
    take(sale, me, "O1")  # the gate is loaded now, with the old slot only
    now = timezone.now()
    FlashSlot.objects.filter(pk=old.pk).update(ends_at=now - timedelta(minutes=1), starts_at=now - timedelta(minutes=40))
    new = FlashSlot.objects.create(campaign=sale, starts_at=now - timedelta(seconds=30), ends_at=now + timedelta(hours=1), stock=2)
    other = consumers(1, start=5)[0]
    taken = take(sale, other, "O2")  # not "sold out": the missing key makes the gate rebuild
    assert taken.reservation.slot_id == new.pk and gate_left(slot=new) == 1
