"""Group buys: opening, joining, filling, leaving, failing, refunding (with retries) and ops' decisions."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from marketing.errors import CampaignError, CampaignNotLive, GroupFull, LimitReached, SignInRequired
from marketing.models import Campaign, GroupBuy, GroupMember
from marketing.services import groups
from marketing.services.groups import (
    group_complete_by_ops,
    group_fail_by_ops,
    group_paid,
    group_refund_confirmed,
    group_refund_failed,
    group_released,
    group_take,
    groups_completion_retry,
    groups_expire,
    groups_refund_retry,
)
from tests.marketing.groups_support import consumer_make, group_campaign_make, settlement_unheard, signals_recorded
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db

Status, Member = GroupBuy.Status, GroupMember.Status


@pytest.fixture(autouse=True)
def _english_and_marketing_alone():
    """The refusals' messages are matched in English (the site's default language is Chinese), and the signals
    reach only this module's recorders (tests/marketing/test_groups_orders.py runs them with settlement's)."""
    with translation.override("en"), settlement_unheard():
        yield


@pytest.fixture
def campaign():
    return group_campaign_make(size=3, hours=24)


def _open(campaign, consumer=None, ref="G-LEAD"):
    return group_take(campaign=campaign, consumer=consumer or consumer_make(), group_token="", order_ref=ref)


def _join(member, consumer=None, ref=None):
    group = member.group
    return group_take(
        campaign=group.campaign,
        consumer=consumer or consumer_make(),
        group_token=group.token,
        order_ref=ref or f"G-{GroupMember.objects.count() + 1}",
    )


def _full_group(campaign):
    """A group of three: the leader and two friends, nobody paid yet."""
    leader = _open(campaign)
    return [leader, _join(leader, ref="G-2"), _join(leader, ref="G-3")]


def _group(member) -> GroupBuy:
    return GroupBuy.objects.get(pk=member.group_id)


# --- opening and joining ---------------------------------------------------------------------------------


def test_an_empty_token_opens_a_group_led_by_the_consumer(campaign):
    leader = consumer_make()
    before = timezone.now()
    member = _open(campaign, leader)
    group = _group(member)
    assert group.leader == leader and group.size == 3 and group.members_count == 1 and group.status == Status.OPEN
    assert member.consumer == leader and member.status == Member.JOINED and member.order_ref == "G-LEAD"
    assert len(group.token) == 16 and group.token.replace("-", "").replace("_", "").isalnum()
    assert before + timedelta(hours=24) <= group.expires_at <= timezone.now() + timedelta(hours=24)
    other = _group(_open(campaign, ref="G-OTHER"))
    assert other.token != group.token


def test_a_group_never_outlives_its_campaign():
    campaign = group_campaign_make(hours=48, ends_at=timezone.now() + timedelta(hours=2))
    group = _group(_open(campaign))
    assert group.expires_at == campaign.ends_at


def test_joining_takes_a_seat_until_the_group_is_full(campaign):
    members = _full_group(campaign)
    group = _group(members[0])
    assert group.members_count == 3 and group.members.count() == 3
    with pytest.raises(GroupFull) as refused:
        _join(members[0], ref="G-4")
    assert refused.value.field == "group"
    assert _group(members[0]).members_count == 3 and not GroupMember.objects.filter(order_ref="G-4").exists()


def test_the_same_consumer_cannot_join_a_group_twice(campaign):
    leader = consumer_make()
    member = _open(campaign, leader)
    with pytest.raises(LimitReached) as refused:
        _join(member, consumer=leader, ref="G-AGAIN")
    assert refused.value.field == "group"
    assert _group(member).members_count == 1


def test_a_consumer_is_in_at_most_the_campaigns_limit_of_open_groups():
    campaign = group_campaign_make(per_consumer_limit=2)
    buyer = consumer_make()
    _open(campaign, buyer, ref="G-A")
    friend_group = _open(campaign, ref="G-B")
    _join(friend_group, consumer=buyer, ref="G-C")
    with pytest.raises(LimitReached):
        _open(campaign, buyer, ref="G-D")
    with pytest.raises(LimitReached):
        _join(_open(campaign, ref="G-E"), consumer=buyer, ref="G-F")
    # a group that left the "open" state no longer counts
    GroupBuy.objects.filter(members__order_ref="G-A").update(status=Status.REFUNDED)
    assert _open(campaign, buyer, ref="G-G").status == Member.JOINED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": Status.COMPLETE}, "closed"),
        ({"status": Status.FAILED}, "closed"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "time is up"),
    ],
)
def test_a_closed_or_expired_group_refuses_joiners(campaign, change, message):
    member = _open(campaign)
    GroupBuy.objects.filter(pk=member.group_id).update(**change)
    with pytest.raises(CampaignError, match=message) as refused:
        _join(member, ref="G-LATE")
    assert refused.value.field == "group"


def test_a_token_of_another_campaign_or_an_unknown_one_is_refused(campaign):
    member = _open(campaign)
    other_campaign = group_campaign_make()
    for token in (member.group.token, "no-such-group"):
        with pytest.raises(CampaignError, match="does not exist") as refused:
            group_take(campaign=other_campaign, consumer=consumer_make(), group_token=token, order_ref=f"G-{token}")
        assert refused.value.field == "group"


def test_only_a_live_group_buy_campaign_with_its_rules_takes_seats(campaign):
    buyer = consumer_make()
    with pytest.raises(SignInRequired) as refused:
        group_take(campaign=campaign, consumer=None, group_token="", order_ref="G-ANON")
    assert refused.value.field == "consumer"
    paused = group_campaign_make(status=Campaign.Status.PAUSED)
    later = group_campaign_make(starts_at=timezone.now() + timedelta(hours=1))
    for not_live in (paused, later):
        with pytest.raises(CampaignNotLive):
            group_take(campaign=not_live, consumer=buyer, group_token="", order_ref=f"G-NL-{not_live.pk}")
    flash = group_campaign_make(kind=Campaign.Kind.FLASH_SALE)
    half = group_campaign_make(group_size=1)
    for wrong in (flash, half):
        with pytest.raises(CampaignError) as refused:
            group_take(campaign=wrong, consumer=buyer, group_token="", order_ref=f"G-W-{wrong.pk}")
        assert refused.value.field == "campaign"
    assert not GroupBuy.objects.exclude(campaign=campaign).exists()


# --- payments and completion -------------------------------------------------------------------------------


def test_delivery_waits_until_every_seat_is_paid_then_the_group_completes(campaign, django_capture_on_commit_callbacks):
    lead, second, third = _full_group(campaign)
    with signals_recorded() as recorded, django_capture_on_commit_callbacks(execute=True):
        assert group_paid(order_ref=lead.order_ref) is True
        assert group_paid(order_ref=third.order_ref) is True  # full, but one seat is still unpaid
        assert _group(lead).status == Status.OPEN
        assert recorded.sent == []
        assert group_paid(order_ref=second.order_ref) is False  # this payment completes it: deliver now
    group = _group(lead)
    assert group.status == Status.COMPLETE and group.completed_at is not None and group.completion_sent_at is not None
    assert set(group.members.values_list("status", flat=True)) == {Member.DELIVERED}
    [completed] = recorded.of("completed")
    assert completed["group_id"] == group.pk and completed["campaign_id"] == campaign.pk
    assert set(completed["order_refs"]) == {lead.order_ref, second.order_ref, third.order_ref}
    assert recorded.of("failed") == []
    # a replayed payment answers as the first one did, and sends nothing again
    with signals_recorded() as again, django_capture_on_commit_callbacks(execute=True):
        assert group_paid(order_ref=second.order_ref) is False
    assert again.sent == []


def test_a_replayed_payment_of_a_waiting_member_still_waits(campaign):
    lead = _open(campaign)
    assert group_paid(order_ref=lead.order_ref) is True
    assert group_paid(order_ref=lead.order_ref) is True
    assert GroupMember.objects.get(pk=lead.pk).status == Member.PAID


def test_a_payment_for_an_order_without_a_seat_is_refused():
    with pytest.raises(CampaignError) as refused:
        group_paid(order_ref="NO-SUCH-ORDER")
    assert refused.value.field == "group"


def test_a_completion_that_settlement_could_not_take_is_announced_again(campaign, django_capture_on_commit_callbacks):
    from marketing import signals

    members = _full_group(campaign)
    calls = []

    def broken(sender, **kwargs):
        calls.append(kwargs["order_refs"])
        if len(calls) == 1:
            raise RuntimeError("ledger unavailable")

    signals.group_completed.connect(broken, weak=False, dispatch_uid="test-broken-delivery")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for member in members:
                group_paid(order_ref=member.order_ref)
        group = _group(members[0])
        assert group.status == Status.COMPLETE and group.completion_sent_at is None
        assert groups_completion_retry() == 0  # not yet: it waits a minute
        assert groups_completion_retry(now=timezone.now() + timedelta(minutes=2)) == 1
    finally:
        signals.group_completed.disconnect(dispatch_uid="test-broken-delivery")
    assert len(calls) == 2 and set(calls[1]) == {m.order_ref for m in members}
    assert _group(members[0]).completion_sent_at is not None
    assert groups_completion_retry(now=timezone.now() + timedelta(minutes=2)) == 0


# --- leaving -------------------------------------------------------------------------------------------------


def test_an_unpaid_member_leaves_and_the_seat_is_free_again(campaign):
    lead, second, third = _full_group(campaign)
    group_released(order_ref=third.order_ref)
    group = _group(lead)
    assert group.members_count == 2 and GroupMember.objects.get(pk=third.pk).status == Member.LEFT
    group_released(order_ref=third.order_ref)  # a second call changes nothing
    assert _group(lead).members_count == 2
    newcomer = _join(lead, ref="G-NEW")
    assert newcomer.status == Member.JOINED and _group(lead).members_count == 3
    # the one who left may come back with a new order once a seat is free again
    group_released(order_ref=newcomer.order_ref)
    back = _join(lead, consumer=third.consumer, ref="G-BACK")
    assert back.consumer == third.consumer


def test_a_paid_member_or_an_unknown_order_is_not_released(campaign):
    lead = _open(campaign)
    group_paid(order_ref=lead.order_ref)
    group_released(order_ref=lead.order_ref)
    group_released(order_ref="NO-SUCH-ORDER")
    assert GroupMember.objects.get(pk=lead.pk).status == Member.PAID and _group(lead).members_count == 1


def test_a_group_everyone_left_is_closed(campaign):
    lead = _open(campaign)
    group_released(order_ref=lead.order_ref)
    group = _group(lead)
    assert group.members_count == 0 and group.status == Status.REFUNDED


# --- expiry, refunds and their retries ----------------------------------------------------------------------


def _expire(campaign, now=None):
    return groups_expire(now=now or timezone.now() + timedelta(hours=25))


def test_an_unfilled_group_fails_when_its_time_runs_out_and_its_paid_members_are_refunded(campaign, django_capture_on_commit_callbacks):
    lead = _open(campaign)
    paid_friend = _join(lead, ref="G-PAID")
    unpaid_friend = _join(lead, ref="G-UNPAID")
    group_released(order_ref=unpaid_friend.order_ref)
    waiting = _join(lead, ref="G-WAITING")  # still within the time to pay
    group_paid(order_ref=lead.order_ref)
    group_paid(order_ref=paid_friend.order_ref)
    group_released(order_ref=waiting.order_ref)
    untouched = _group(_open(campaign, ref="G-OTHER"))  # still has time
    with signals_recorded() as recorded, django_capture_on_commit_callbacks(execute=True):
        assert groups_expire() == 0  # nothing is past its time yet
        assert _expire(campaign) == 2
    group = _group(lead)
    assert group.status == Status.FAILED and group.refund_attempts == 1
    assert group.refund_next_at > timezone.now() + timedelta(minutes=4)
    [failed] = [sent for sent in recorded.of("failed") if sent["group_id"] == group.pk]
    assert set(failed["order_refs"]) == {lead.order_ref, paid_friend.order_ref}
    # the other group had nobody paid: closed at once, nothing to refund
    assert _group(untouched.members.first()).status == Status.REFUNDED
    assert recorded.of("completed") == []
    # settlement refunds each and says so: the group is refunded
    group_refund_confirmed(order_ref=lead.order_ref)
    assert _group(lead).status == Status.FAILED
    group_refund_confirmed(order_ref=paid_friend.order_ref)
    group_refund_confirmed(order_ref=paid_friend.order_ref)  # told twice
    group = _group(lead)
    assert group.status == Status.REFUNDED and group.refund_next_at is None and group.refund_error == ""
    assert set(group.members.exclude(status=Member.LEFT).values_list("status", flat=True)) == {Member.REFUNDED}


def test_a_full_group_past_its_time_waits_for_its_last_payment(campaign, django_capture_on_commit_callbacks):
    lead, second, third = _full_group(campaign)
    group_paid(order_ref=lead.order_ref)
    group_paid(order_ref=second.order_ref)
    assert _expire(campaign) == 0
    assert _group(lead).status == Status.OPEN
    with signals_recorded() as recorded, django_capture_on_commit_callbacks(execute=True):
        assert group_paid(order_ref=third.order_ref) is False
    assert _group(lead).status == Status.COMPLETE and len(recorded.of("completed")) == 1
    # had the last one not paid, its release frees the seat and the next run fails the group
    other = _full_group_of(campaign, "H")
    group_paid(order_ref=other[0].order_ref)
    group_released(order_ref=other[2].order_ref)
    assert _expire(campaign) == 1 and _group(other[0]).status == Status.FAILED


def _full_group_of(campaign, prefix):
    leader = _open(campaign, ref=f"{prefix}-1")
    return [leader, _join(leader, ref=f"{prefix}-2"), _join(leader, ref=f"{prefix}-3")]


def test_refunds_are_asked_again_with_backoff_and_the_error_kept_for_ops(campaign, django_capture_on_commit_callbacks):
    from marketing import signals

    lead = _open(campaign)
    group_paid(order_ref=lead.order_ref)
    answers = iter([RuntimeError("gateway timeout"), RuntimeError("gateway down"), None])
    asked = []

    def refunder(sender, order_refs=(), **kwargs):
        asked.append(tuple(order_refs))
        failure = next(answers)
        if failure is not None:
            raise failure
        for ref in order_refs:
            group_refund_confirmed(order_ref=ref)

    signals.group_failed.connect(refunder, weak=False, dispatch_uid="test-refunder")
    try:
        start = timezone.now() + timedelta(hours=25)
        with django_capture_on_commit_callbacks(execute=True):
            assert groups_expire(now=start) == 1
        group = _group(lead)
        assert group.status == Status.FAILED and group.refund_attempts == 1
        assert group.refund_error == "RuntimeError: gateway timeout"
        first_wait = group.refund_next_at - timezone.now()
        assert groups_refund_retry() == 0  # not due yet
        assert groups_refund_retry(now=group.refund_next_at) == 1
        group = _group(lead)
        assert group.refund_attempts == 2 and group.refund_error == "RuntimeError: gateway down"
        assert group.refund_next_at - timezone.now() > first_wait + timedelta(minutes=4)  # waits twice as long
        assert groups_refund_retry(now=group.refund_next_at) == 1
    finally:
        signals.group_failed.disconnect(dispatch_uid="test-refunder")
    group = _group(lead)
    assert asked == [(lead.order_ref,)] * 3
    assert group.status == Status.REFUNDED and group.refund_attempts == 3 and group.refund_error == ""
    assert groups_refund_retry(now=timezone.now() + timedelta(days=2)) == 0


def test_the_backoff_doubles_up_to_six_hours():
    waits = [groups._refund_backoff(n) for n in (1, 2, 3, 4, 10, 100)]
    assert waits[:4] == [timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40)]
    assert waits[4:] == [timedelta(hours=6), timedelta(hours=6)]


def test_a_refund_error_settlement_reports_is_shown_on_the_group(campaign):
    lead = _open(campaign)
    group_paid(order_ref=lead.order_ref)
    _expire(campaign)
    group_refund_failed(order_ref=lead.order_ref, error="渠道退款失败: 余额不足")
    assert _group(lead).refund_error == "渠道退款失败: 余额不足"


def test_a_payment_after_the_group_failed_is_refunded_too(campaign, django_capture_on_commit_callbacks):
    lead = _open(campaign)
    late = _join(lead, ref="G-LATE")  # its order is still waiting for payment when the group fails
    group_paid(order_ref=lead.order_ref)
    with django_capture_on_commit_callbacks(execute=True):
        _expire(campaign)
    group_refund_confirmed(order_ref=lead.order_ref)
    assert _group(lead).status == Status.REFUNDED  # every paid member refunded
    with signals_recorded() as recorded, django_capture_on_commit_callbacks(execute=True):
        assert group_paid(order_ref=late.order_ref) is True  # held: never delivered
    group = _group(lead)
    assert group.status == Status.FAILED and group.refund_attempts == 2
    assert [sent["order_refs"] for sent in recorded.of("failed")] == [(late.order_ref,)]
    group_refund_confirmed(order_ref=late.order_ref)
    assert _group(lead).status == Status.REFUNDED


# --- ops -------------------------------------------------------------------------------------------------------


def test_ops_complete_an_unfilled_group_with_its_paid_members_when_the_campaign_allows(ops_user, django_capture_on_commit_callbacks):
    campaign = group_campaign_make(group_ops_complete=True)
    lead = _open(campaign)
    unpaid = _join(lead, ref="G-UNPAID")
    group_paid(order_ref=lead.order_ref)
    # past its time, the group waits for ops instead of failing at once
    assert _expire(campaign) == 0 and _group(lead).status == Status.OPEN
    with pytest.raises(CampaignError) as refused:
        group_complete_by_ops(group=_group(lead), actor=ops_user, reason="  ")
    assert refused.value.field == "reason"
    with signals_recorded() as recorded, django_capture_on_commit_callbacks(execute=True):
        group_complete_by_ops(group=_group(lead), actor=ops_user, reason="客户投诉, 人工成团")
    group = _group(lead)
    assert group.status == Status.COMPLETE and group.completed_by == ops_user
    assert [sent["order_refs"] for sent in recorded.of("completed")] == [(lead.order_ref,)]
    entry = AuditLog.objects.get(action="marketing.group.complete")
    assert entry.object_id == str(group.pk) and entry.reason == "客户投诉, 人工成团" and entry.data["paid"] == 1
    # the member still paying is delivered as soon as the payment arrives
    assert group_paid(order_ref=unpaid.order_ref) is False
    assert GroupMember.objects.get(pk=unpaid.pk).status == Member.DELIVERED
    with pytest.raises(CampaignError, match="open group"):
        group_complete_by_ops(group=group, actor=ops_user, reason="again")


def test_ops_cannot_complete_a_group_the_campaign_does_not_allow_or_nobody_paid(campaign, ops_user):
    lead = _open(campaign)
    group_paid(order_ref=lead.order_ref)
    with pytest.raises(CampaignError, match="does not let ops"):
        group_complete_by_ops(group=_group(lead), actor=ops_user, reason="please")
    allowing = group_campaign_make(group_ops_complete=True)
    unpaid = _open(allowing, ref="G-NOBODY")
    with pytest.raises(CampaignError, match="Nobody"):
        group_complete_by_ops(group=_group(unpaid), actor=ops_user, reason="please")
    assert not AuditLog.objects.filter(action="marketing.group.complete").exists()
    assert GroupBuy.objects.filter(status=Status.COMPLETE).count() == 0


def test_an_ops_completable_group_fails_after_the_decision_window(django_capture_on_commit_callbacks):
    campaign = group_campaign_make(group_ops_complete=True)
    lead = _open(campaign)
    group_paid(order_ref=lead.order_ref)
    late = _group(lead).expires_at + groups.OPS_DECISION_WINDOW + timedelta(seconds=1)
    with signals_recorded() as recorded, django_capture_on_commit_callbacks(execute=True):
        assert groups_expire(now=late) == 1
    assert _group(lead).status == Status.FAILED and len(recorded.of("failed")) == 1


def test_ops_fail_a_group_now_and_its_paid_members_are_refunded(campaign, ops_user, django_capture_on_commit_callbacks):
    lead = _open(campaign)
    group_paid(order_ref=lead.order_ref)
    with signals_recorded() as recorded, django_capture_on_commit_callbacks(execute=True):
        group_fail_by_ops(group=_group(lead), actor=ops_user, reason="商品下架")
    assert _group(lead).status == Status.FAILED
    assert [sent["order_refs"] for sent in recorded.of("failed")] == [(lead.order_ref,)]
    assert AuditLog.objects.get(action="marketing.group.fail").reason == "商品下架"


# --- risk control ----------------------------------------------------------------------------------------------


def test_a_phone_on_a_group_join_blocklist_cannot_open_or_join(campaign):
    from riskcontrol.errors import RiskBlocked
    from riskcontrol.models import Action, Dimension, RiskRule
    from tests.riskcontrol.conftest import make_list, make_rule

    farmer = consumer_make("13912345678")
    make_rule(
        kind=RiskRule.Kind.BLOCKLIST, applies_to=Action.GROUP_JOIN, score=100, name="coupon farmers",
        risk_list=make_list(dimension=Dimension.PHONE, values=[farmer.phone]),
    )  # fmt: skip
    member = _open(campaign)
    with pytest.raises(RiskBlocked):
        _open(campaign, farmer, ref="G-FARM-1")
    with pytest.raises(RiskBlocked):
        _join(member, consumer=farmer, ref="G-FARM-2")
    assert not GroupMember.objects.filter(consumer=farmer).exists() and _group(member).members_count == 1
    assert _join(member, ref="G-HONEST").status == Member.JOINED  # everyone else still joins
