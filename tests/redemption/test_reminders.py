"""Expiry reminders: once per threshold, never to opted-out holders, never for used codes, safe to rerun."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from catalog.models import CardCode
from redemption import holdings, reminders, selectors, tasks
from redemption.models import HolderLink, Redemption, ReminderSent
from redemption.notify import ConsoleSmsBackend
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_outboxes():
    ConsoleSmsBackend.outbox.clear()
    mail.outbox.clear()


def held_code(sku, *, days: float, contact="holder@example.com", order_ref="SO-1"):
    code, plaintext = factories.card_code(sku=sku, expires_in=timedelta(days=days))
    holdings.holding_create(code_ids=[code.pk], contact=contact, order_ref=order_ref)
    return code, plaintext


def test_each_threshold_sends_once(sku_a):
    code, _ = held_code(sku_a, days=6.5)
    now = timezone.now()
    first = reminders.reminders_send(now=now)
    assert (first.sent, first.skipped) == (1, 0)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["holder@example.com"]
    assert code.hint in message.body and "/my/" in message.body and "/unsubscribe/" in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<http")
    # running again sends nothing more
    assert reminders.reminders_send(now=now).sent == 0
    assert reminders.reminders_send(now=now + timedelta(hours=1)).sent == 0
    assert len(mail.outbox) == 1
    # 1 day before: the second threshold
    assert reminders.reminders_send(now=now + timedelta(days=5.6)).sent == 1
    assert reminders.reminders_send(now=now + timedelta(days=5.7)).sent == 0
    assert sorted(ReminderSent.objects.values_list("threshold_days", flat=True)) == [1, 7]
    assert len(mail.outbox) == 2


def test_a_code_first_seen_inside_the_nearer_threshold_gets_one_reminder(sku_a):
    held_code(sku_a, days=0.5)
    run = reminders.reminders_send()
    assert (run.sent, run.skipped) == (1, 1)
    assert ReminderSent.objects.get(outcome="sent").threshold_days == 1
    assert ReminderSent.objects.get(outcome="skipped").threshold_days == 7
    assert reminders.reminders_send().sent == 0


def test_not_sent_far_from_expiry_or_after_it(sku_a):
    held_code(sku_a, days=30)
    held_code(sku_a, days=-1, order_ref="SO-2")
    assert reminders.reminders_send().sent == 0
    assert not mail.outbox


def test_not_sent_for_redeemed_codes(api_a, sku_a):
    _code, plaintext = held_code(sku_a, days=3)
    api_a.redeem({"code": plaintext})
    assert reminders.reminders_send().sent == 0


def test_stored_value_with_balance_left_is_reminded_with_its_balance(api_a, gift_card_a):
    _code, plaintext = held_code(gift_card_a, days=3)
    api_a.redeem({"code": plaintext, "amount": "40.00"})
    assert reminders.reminders_send().sent == 1
    assert "60.00" in mail.outbox[0].body


def test_not_sent_to_unsubscribed_holders(sku_a):
    held_code(sku_a, days=3, contact="stop@example.com")
    holdings.reminders_unsubscribe(link=HolderLink.objects.get())
    # a later purchase by the same holder is not reminded either
    held_code(sku_a, days=3, contact="stop@example.com", order_ref="SO-2")
    assert reminders.reminders_send().sent == 0
    assert not ReminderSent.objects.exists()


def test_not_sent_without_a_contact(sku_a):
    code, _ = factories.card_code(sku=sku_a, expires_in=timedelta(days=2))
    holdings.holding_create(code_ids=[code.pk], contact="")
    assert reminders.reminders_send().sent == 0


def test_gifted_code_reminds_the_new_holder_only(sku_a):
    code, _ = held_code(sku_a, days=3, contact="giver@example.com")
    link = HolderLink.objects.get()
    holdings.holding_gift(link=link, holding_id=link.holdings.get().pk, to_contact="13800001111")
    assert reminders.reminders_send().sent == 1
    assert not mail.outbox
    assert len(ConsoleSmsBackend.outbox) == 1 and ConsoleSmsBackend.outbox[0].to == "13800001111"


def test_a_failing_adapter_frees_the_reminder_for_the_next_run(sku_a, settings):
    held_code(sku_a, days=3, contact="13800001111")
    settings.REDEMPTION_SMS_BACKEND = "tests.redemption.test_reminders.BrokenSms"
    run = reminders.reminders_send()
    assert (run.sent, run.failed) == (0, 1)
    assert not ReminderSent.objects.filter(outcome="sent").exists()
    settings.REDEMPTION_SMS_BACKEND = "redemption.notify.ConsoleSmsBackend"
    assert reminders.reminders_send().sent == 1


class BrokenSms:
    def send(self, *, to, text):
        raise ConnectionError("SMS gateway down")


def test_thresholds_are_configurable(sku_a, settings):
    settings.REDEMPTION_REMINDER_DAYS = [3]
    held_code(sku_a, days=5)
    assert reminders.reminders_send().sent == 0
    held_code(sku_a, days=2.5, order_ref="SO-2")
    assert reminders.reminders_send().sent == 1


def test_task_entry_point_and_schedule(sku_a):
    from django_q.models import Schedule

    held_code(sku_a, days=3)
    assert tasks.expiry_reminders_send() == "sent=1 skipped=0 failed=0"
    assert Schedule.objects.filter(func="redemption.tasks.expiry_reminders_send").exists()


def test_reminders_and_redemptions_after_them_are_counted(api_a, sku_a):
    _code, plaintext = held_code(sku_a, days=3)
    _other, other_plain = held_code(sku_a, days=30, order_ref="SO-2")
    reminders.reminders_send()
    api_a.redeem({"code": plaintext})
    api_a.redeem({"code": other_plain})
    assert Redemption.objects.filter(after_reminder=True).count() == 1
    stats = selectors.reminder_stats(period=selectors.Period.day(timezone.localdate()))
    assert (stats.sent, stats.redeemed_after_reminder) == (1, 1)
    assert stats.conversion == 1


def test_expired_status_codes_are_not_reminded(sku_a):
    code, _ = held_code(sku_a, days=3)
    CardCode.objects.filter(pk=code.pk).update(status=CardCode.Status.EXPIRED)
    assert reminders.reminders_send().sent == 0
