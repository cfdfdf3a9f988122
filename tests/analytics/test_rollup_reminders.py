"""Expiry reminders per local day and SKU, and their codes redeemed after the reminder."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from analytics.models import RedemptionHour, ReminderDay
from analytics.rollups import redemptions
from analytics.rollups.base import rollup_rebuild, rollup_refresh
from analytics.rollups.reminders import ROLLUP
from redemption.models import ReminderSent
from redemption.reminders import reminders_send
from tests.analytics.rollup_support import order_codes, redeem, shop_for, shop_order
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db


def test_reminders_sent_and_redeemed_after_them(tree, finance_user, settings):
    settings.REDEMPTION_REMINDER_DAYS = [7]
    fund(tree.seller, "100.00", actor=finance_user)
    caller = shop_for(tree.sku)
    codes = order_codes(shop_order(tree, contact="ann@example.test", quantity=2))
    other = order_codes(shop_order(tree, contact="bob@example.test"))
    expires = codes[0].expires_at
    sent_at = expires - timedelta(days=6, hours=1)
    # given: a code redeemed before the reminders, then two reminders (the redeemed code gets none)
    redeem(caller, other[0])
    with time_machine.travel(sent_at, tick=False):
        reminders_send()
        rollup_refresh(ROLLUP)
    day = timezone.localdate(sent_at)
    assert ReminderSent.objects.filter(outcome="sent").count() == 2
    row = ReminderDay.objects.get()
    assert (row.day, row.sku_id, row.sent, row.redeemed_after) == (day, tree.sku.pk, 2, 0)
    # when: one of the two reminded codes is redeemed two days later
    with time_machine.travel(sent_at + timedelta(days=2), tick=False):
        redeem(caller, codes[0])
        assert rollup_refresh(ROLLUP) == 1
        redemptions_days = rollup_refresh(redemptions.ROLLUP)
    # then
    assert ReminderDay.objects.get(day=day).redeemed_after == 1
    assert redemptions_days >= 1 and sum(RedemptionHour.objects.values_list("after_reminder", flat=True)) == 1
    ReminderDay.objects.all().delete()
    rollup_rebuild(ROLLUP, day, day)
    assert ReminderDay.objects.get(day=day).redeemed_after == 1
