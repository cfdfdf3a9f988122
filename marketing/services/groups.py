"""Group buys (拼团): a leader opens a group of a group-buy campaign and shares its link; friends join until
the group is full; codes are delivered only once every seat is taken by a paid member.

The rules, and who calls what:

* `group_take` (offers' `offer_take`, inside settlement's order transaction): an empty token opens a new group
  led by the consumer, a token joins that group under its row lock, so a group never over-fills (the
  `groupbuy_never_overfilled` constraint backs the count). Refused: a closed group or one whose time is up, a
  full one (GroupFull), the same consumer twice, a consumer already in `campaign.per_consumer_limit` open
  groups of the campaign (LimitReached). The joiner then has the order's payment time to pay.
* `group_paid` (order paid): True while the group waits for members; the payment that makes every seat a
  paid one completes the group and, once committed, `signals.group_completed` carries every member's order
  (settlement delivers them; an order it delivered already is skipped).
* `group_released` (order expired or cancelled unpaid): the member leaves and the seat is free again.
* `groups_expire` (job, every minute): an open group past its time with a free seat fails; its paid members'
  orders go out in `signals.group_failed` and settlement refunds each through the ledger, confirming each
  with `group_refund_confirmed`. A campaign that lets ops complete groups gives them OPS_DECISION_WINDOW to
  do so first. A full group past its time waits for its last payments (or for a seat to be released).
* `groups_refund_retry` (job): a failed group with members still unrefunded is sent again with backoff,
  counting `refund_attempts` and keeping the last error in `refund_error` for ops.
* `groups_completion_retry` (job): a completed group whose announcement failed is announced again.
* `group_complete_by_ops` / `group_fail_by_ops`: ops' decisions, audited.

Locks are taken in one order everywhere: the campaign (when it has a budget), the consumer, the group, its members.
"""

import logging
from datetime import timedelta
from secrets import token_urlsafe

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketing import signals
from marketing.errors import CampaignError, CampaignNotLive, GroupFull, LimitReached, SignInRequired
from marketing.models import Campaign, Consumer, GroupBuy, GroupMember
from riskcontrol.services import RiskContext, risk_evaluate, risk_release
from voucherhub.core.audit import audit_record

logger = logging.getLogger(__name__)

GROUP_JOIN = "group_join"  # riskcontrol's Action value for opening or joining a group
REFUND_RETRY_FIRST = timedelta(minutes=5)  # the second refund request; each later one waits twice as long
REFUND_RETRY_LONGEST = timedelta(hours=6)
OPS_DECISION_WINDOW = timedelta(hours=24)  # an expired group of an ops-completable campaign waits this long
COMPLETION_RETRY_AFTER = timedelta(minutes=1)  # a completion not yet announced is sent again after this
EXPIRE_BATCH = 500
TOKEN_BYTES = 12  # 16 url-safe characters: unguessable, short enough for a share link

_OPEN, _COMPLETE, _FAILED, _REFUNDED = (GroupBuy.Status.OPEN, GroupBuy.Status.COMPLETE, GroupBuy.Status.FAILED, GroupBuy.Status.REFUNDED)
_JOINED, _PAID, _LEFT, _DELIVERED, _REFUNDED_MEMBER = (
    GroupMember.Status.JOINED, GroupMember.Status.PAID, GroupMember.Status.LEFT, GroupMember.Status.DELIVERED,
    GroupMember.Status.REFUNDED,
)  # fmt: skip

AUDIT_ACTIONS = {
    "marketing.group.complete": _("Group buy completed by ops"),
    "marketing.group.fail": _("Group buy failed by ops"),
}


# --- taking a seat ---------------------------------------------------------------------------------------


def group_campaign_check(campaign: Campaign, *, now=None) -> None:
    """A group-buy campaign that is live and has its group rules (size of two or more, hours, price)."""
    if campaign.kind != Campaign.Kind.GROUP_BUY:
        raise CampaignError(_("This campaign is not a group buy."), field="campaign")
    if not campaign.is_live(now):
        raise CampaignNotLive(field="campaign")
    if not campaign.group_size or campaign.group_size < 2 or not campaign.group_hours or campaign.price is None:
        raise CampaignError(_("This group buy is not set up completely."), field="campaign")


def group_take(
    *, campaign: Campaign, consumer: Consumer | None, group_token: str = "", order_ref: str, ip: str = "", device: str = ""
) -> GroupMember:
    """Open a new group (empty `group_token`) or join the group of that token for the order `order_ref`.

    Runs inside the caller's transaction (settlement's order). The consumer's row and then the group's row are
    locked, so a consumer's limit and a group's seats hold under parallel requests. Risk control sees the
    join as action "group_join"; its counters are given back when the seat is refused, and the member carries
    the decision (`member.risk_decision`) for the caller to give back (risk_release) if its order fails later."""
    if consumer is None:
        raise SignInRequired(field="consumer")
    now = timezone.now()
    group_campaign_check(campaign, now=now)
    decision = risk_evaluate(
        ctx=RiskContext(
            action=GROUP_JOIN, reference=order_ref, sku_id=campaign.sku_id, amount=campaign.price, ip=ip, device=device,
            phone=consumer.phone, distributor_id=campaign.distributor_id, storefront_id=campaign.storefront_id,
            extra={"campaign": campaign.pk, "group": group_token or ""},
        )
    )  # fmt: skip
    decision.raise_if_refused()
    try:
        with transaction.atomic():
            if campaign.budget_kind != Campaign.BudgetKind.NONE:
                # offer_take takes the budget under this lock after the seat, offer_released gives it back
                # before the seat: taking it first keeps one lock order (campaign, consumer, group).
                Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
            Consumer.objects.select_for_update().filter(pk=consumer.pk).first()
            token = (group_token or "").strip()
            if token:
                member = _group_join(campaign=campaign, consumer=consumer, token=token, order_ref=order_ref, now=now)
            else:
                member = _group_open(campaign=campaign, consumer=consumer, order_ref=order_ref, now=now)
    except Exception:
        risk_release(decision=decision)
        raise
    member.risk_decision = decision  # the caller gives its counters back if its own transaction fails later
    return member


def _open_groups_limit_check(*, campaign: Campaign, consumer: Consumer) -> None:
    """A consumer takes part in at most `per_consumer_limit` open groups of a campaign (expects the consumer's lock)."""
    limit = max(campaign.per_consumer_limit, 1)
    taken = GroupMember.objects.filter(
        consumer=consumer, group__campaign=campaign, group__status=_OPEN, status__in=(_JOINED, _PAID)
    ).count()
    if taken >= limit:
        raise LimitReached(_("You are already in as many open groups of this campaign as it allows."), field="group")


def _group_open(*, campaign: Campaign, consumer: Consumer, order_ref: str, now) -> GroupMember:
    _open_groups_limit_check(campaign=campaign, consumer=consumer)
    # A group cannot outlive its campaign: nobody could join it afterwards.
    expires_at = min(now + timedelta(hours=campaign.group_hours), campaign.ends_at)
    group = GroupBuy.objects.create(
        campaign=campaign, token=token_urlsafe(TOKEN_BYTES), leader=consumer, size=campaign.group_size, members_count=1,
        expires_at=expires_at,
    )  # fmt: skip
    return GroupMember.objects.create(group=group, consumer=consumer, order_ref=order_ref)


def _group_join(*, campaign: Campaign, consumer: Consumer, token: str, order_ref: str, now) -> GroupMember:
    group = GroupBuy.objects.select_for_update().filter(token=token, campaign=campaign).first()
    if group is None:
        raise CampaignError(_("This group does not exist."), field="group")
    if group.status != _OPEN:
        raise CampaignError(_("This group is closed."), field="group")
    if group.expires_at <= now:
        raise CampaignError(_("This group's time is up."), field="group")
    if group.members.filter(consumer=consumer).exclude(status=_LEFT).exists():
        raise LimitReached(_("You are already in this group."), field="group")
    _open_groups_limit_check(campaign=campaign, consumer=consumer)
    if group.members_count >= group.size:
        raise GroupFull(field="group")
    GroupBuy.objects.filter(pk=group.pk).update(members_count=F("members_count") + 1)
    return GroupMember.objects.create(group=group, consumer=consumer, order_ref=order_ref)


# --- the member's order moves --------------------------------------------------------------------------


def _member_locked(order_ref: str) -> tuple[GroupBuy, GroupMember] | None:
    """The group (locked first) and the member (locked next) of an order, or None when the order has no seat."""
    group_id = GroupMember.objects.filter(order_ref=order_ref).values_list("group_id", flat=True).first()
    if group_id is None:
        return None
    group = GroupBuy.objects.select_for_update().select_related("campaign").get(pk=group_id)
    member = GroupMember.objects.select_for_update().get(order_ref=order_ref)
    return group, member


@transaction.atomic
def group_paid(*, order_ref: str) -> bool:
    """The member's order is paid. True: hold its delivery (the group waits for members, or failed and the
    payment is refunded); False: deliver it now (this payment completed the group, or ops completed it).

    A replay answers as the first call did."""
    found = _member_locked(order_ref)
    if found is None:
        raise CampaignError(_("This order has no seat in a group."), field="group")
    group, member = found
    if member.status != _JOINED:
        if member.status == _LEFT:
            raise CampaignError(_("This order's seat in the group was given back."), field="group")
        return member.status != _DELIVERED  # a replay: paid and waiting, or refunded
    if group.status == _COMPLETE:
        _member_move(member, _DELIVERED)
        return False
    _member_move(member, _PAID)
    if group.status in (_FAILED, _REFUNDED):  # paid after the group failed: refunded like the others
        group.status, group.refund_next_at = _FAILED, timezone.now()
        group.save(update_fields=["status", "refund_next_at"])
        _announce_failure_on_commit(group.pk)
        return True
    if group.members.filter(status=_PAID).count() < group.size:
        return True
    _group_complete(group, actor=None)
    return False


def _member_move(member: GroupMember, status: str) -> None:
    member.status = status
    member.save(update_fields=["status"])


def _group_complete(group: GroupBuy, *, actor) -> list[str]:
    """Complete a locked group with its paid members (their orders are delivered); announce it on commit."""
    refs = list(group.members.filter(status=_PAID).values_list("order_ref", flat=True))
    group.members.filter(status=_PAID).update(status=_DELIVERED)
    group.status, group.completed_at = _COMPLETE, timezone.now()
    group.completed_by = actor if getattr(actor, "is_authenticated", False) else None
    group.save(update_fields=["status", "completed_at", "completed_by"])
    group_id = group.pk
    transaction.on_commit(lambda: group_completion_announce(group_id=group_id), robust=True)
    return refs


@transaction.atomic
def group_released(*, order_ref: str) -> None:
    """The member's order ended unpaid (expired or cancelled): the member leaves and the seat is free again.
    A group left empty closes. Nothing happens for a paid member, an unknown order or a second call."""
    found = _member_locked(order_ref)
    if found is None:
        return
    group, member = found
    if member.status != _JOINED:
        return
    _member_move(member, _LEFT)
    group.members_count -= 1
    fields = ["members_count"]
    if group.status == _OPEN and group.members_count == 0:
        group.status = _REFUNDED  # nobody left and nobody paid: closed, nothing to refund
        fields.append("status")
    group.save(update_fields=fields)
    if group.status == _FAILED:
        _refunds_settled(group)


# --- failing, refunding ---------------------------------------------------------------------------------


def groups_expire(*, now=None) -> int:
    """Fail every open group past its time that still has a free seat (job). Each group is failed in its own
    short transaction; a group locked by a join or a payment at that moment is taken by the next run. Returns
    how many groups failed."""
    now = now or timezone.now()
    ids = list(
        GroupBuy.objects.filter(status=_OPEN, expires_at__lte=now, members_count__lt=F("size"))
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:EXPIRE_BATCH]
    )
    failed = 0
    for group_id in ids:
        with transaction.atomic():
            group = GroupBuy.objects.select_for_update(skip_locked=True).select_related("campaign").filter(pk=group_id).first()
            if group is None or group.status != _OPEN or group.expires_at > now or group.members_count >= group.size:
                continue
            if group.campaign.group_ops_complete and now < group.expires_at + OPS_DECISION_WINDOW:
                continue  # ops may still complete it
            _group_fail(group, now=now)
            failed += 1
    return failed


def _group_fail(group: GroupBuy, *, now) -> None:
    """Fail a locked open group: with paid members it waits for their refunds (announced on commit), without
    any it is closed at once."""
    if group.members.filter(status=_PAID).exists():
        group.status, group.refund_next_at = _FAILED, now
        _announce_failure_on_commit(group.pk)
    else:
        group.status, group.refund_next_at = _REFUNDED, None
    group.save(update_fields=["status", "refund_next_at"])


def _announce_failure_on_commit(group_id: int) -> None:
    transaction.on_commit(lambda: group_failure_announce(group_id=group_id), robust=True)


def _refund_backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th request for refunds: 5 minutes, 10, 20 … at most 6 hours."""
    return min(REFUND_RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 16), REFUND_RETRY_LONGEST)


def group_failure_announce(*, group_id: int) -> bool:
    """Ask settlement (signals.group_failed) to refund the paid members of a failed group, counting the attempt
    and scheduling the next one first (committed before the listeners run, so a crash still counts). A
    listener's error is kept as the group's `refund_error`. False when there is nothing to ask for."""
    with transaction.atomic():
        group = GroupBuy.objects.select_for_update().filter(pk=group_id, status=_FAILED).first()
        if group is None:
            return False
        refs = tuple(group.members.filter(status=_PAID).values_list("order_ref", flat=True))
        if not refs:
            _refunds_settled(group)
            return False
        group.refund_attempts = min(group.refund_attempts + 1, 32767)
        group.refund_next_at = timezone.now() + _refund_backoff(group.refund_attempts)
        group.save(update_fields=["refund_attempts", "refund_next_at"])
        campaign_id = group.campaign_id
    answers = signals.group_failed.send_robust(sender=GroupBuy, campaign_id=campaign_id, group_id=group_id, order_refs=refs)
    errors = [f"{type(answer).__name__}: {answer}" for _receiver, answer in answers if isinstance(answer, Exception)]
    if errors:
        logger.warning("group %s: refund request failed: %s", group_id, errors[0])
        GroupBuy.objects.filter(pk=group_id, status=_FAILED).update(refund_error=errors[0][:300])
    return True


def groups_refund_retry(*, now=None) -> int:
    """Ask again for the refunds of every failed group whose next attempt is due (job). Settlement's listener
    skips an order already refunded, so asking twice is safe. Returns how many groups were asked."""
    now = now or timezone.now()
    ids = list(
        GroupBuy.objects.filter(status=_FAILED, refund_next_at__lte=now)
        .order_by("refund_next_at", "pk")
        .values_list("pk", flat=True)[:EXPIRE_BATCH]
    )
    return sum(1 for group_id in ids if group_failure_announce(group_id=group_id))


@transaction.atomic
def group_refund_confirmed(*, order_ref: str) -> None:
    """Settlement refunded a member's order: the member is refunded, and a failed group whose paid members are
    all refunded becomes REFUNDED (its error cleared, no more attempts). Safe to call twice."""
    found = _member_locked(order_ref)
    if found is None:
        return
    group, member = found
    if member.status in (_PAID, _DELIVERED):
        _member_move(member, _REFUNDED_MEMBER)
    if group.status == _FAILED:
        _refunds_settled(group)


def group_refund_failed(*, order_ref: str, error: str) -> None:
    """Settlement could not refund a member's order now: keep its reason on the group for ops (the refund job
    asks again later)."""
    group_id = GroupMember.objects.filter(order_ref=order_ref).values_list("group_id", flat=True).first()
    if group_id is not None:
        GroupBuy.objects.filter(pk=group_id, status=_FAILED).update(refund_error=str(error)[:300])


def _refunds_settled(group: GroupBuy) -> None:
    """A locked failed group with no paid member left to refund is REFUNDED."""
    if group.members.filter(status=_PAID).exists():
        return
    group.status, group.refund_next_at, group.refund_error = _REFUNDED, None, ""
    group.save(update_fields=["status", "refund_next_at", "refund_error"])


# --- completion --------------------------------------------------------------------------------------------


def group_completion_announce(*, group_id: int) -> bool:
    """Tell settlement (signals.group_completed) to deliver a completed group's orders, and mark it told. A
    listener that raises leaves it unmarked (logged) and `groups_completion_retry` tells it again."""
    group = GroupBuy.objects.filter(pk=group_id, status=_COMPLETE).first()
    if group is None:
        return False
    refs = tuple(group.members.filter(status=_DELIVERED).values_list("order_ref", flat=True))
    answers = signals.group_completed.send_robust(sender=GroupBuy, campaign_id=group.campaign_id, group_id=group_id, order_refs=refs)
    errors = [answer for _receiver, answer in answers if isinstance(answer, Exception)]
    if errors:
        logger.warning("group %s: completion not delivered: %s: %s", group_id, type(errors[0]).__name__, errors[0])
        return False
    GroupBuy.objects.filter(pk=group_id, completion_sent_at__isnull=True).update(completion_sent_at=timezone.now())
    return True


def groups_completion_retry(*, now=None) -> int:
    """Announce again every completed group whose announcement did not go through (job). Returns how many
    went through now."""
    now = now or timezone.now()
    ids = list(
        GroupBuy.objects.filter(status=_COMPLETE, completion_sent_at__isnull=True, completed_at__lte=now - COMPLETION_RETRY_AFTER)
        .order_by("completed_at", "pk")
        .values_list("pk", flat=True)[:EXPIRE_BATCH]
    )
    return sum(1 for group_id in ids if group_completion_announce(group_id=group_id))


# --- ops ---------------------------------------------------------------------------------------------------


def _ops_group_locked(group: GroupBuy, reason: str) -> GroupBuy:
    if not (reason or "").strip():
        raise CampaignError(_("Give a reason."), field="reason")
    locked = GroupBuy.objects.select_for_update().select_related("campaign").get(pk=group.pk)
    if locked.status != _OPEN:
        raise CampaignError(_("Only an open group can be decided by ops."), field="group")
    return locked


@transaction.atomic
def group_complete_by_ops(*, group: GroupBuy, actor, reason: str, ip: str = "") -> GroupBuy:
    """Complete an unfilled open group with its paid members, when the campaign allows ops to (audited). A
    member still waiting to pay is delivered as soon as the payment arrives."""
    locked = _ops_group_locked(group, reason)
    if not locked.campaign.group_ops_complete:
        raise CampaignError(_("This campaign does not let ops complete a group."), field="group")
    if not locked.members.filter(status=_PAID).exists():
        raise CampaignError(_("Nobody in this group has paid yet."), field="group")
    refs = _group_complete(locked, actor=actor)
    audit_record(
        actor=actor, action="marketing.group.complete", obj=locked, ip=ip, reason=reason.strip(),
        data={"campaign": locked.campaign_id, "size": locked.size, "paid": len(refs), "members": locked.members_count},
    )  # fmt: skip
    return locked


@transaction.atomic
def group_fail_by_ops(*, group: GroupBuy, actor, reason: str, ip: str = "") -> GroupBuy:
    """Fail an open group now (audited): its paid members are refunded as for a group that ran out of time."""
    locked = _ops_group_locked(group, reason)
    paid = locked.members.filter(status=_PAID).count()
    _group_fail(locked, now=timezone.now())
    audit_record(
        actor=actor, action="marketing.group.fail", obj=locked, ip=ip, reason=reason.strip(),
        data={"campaign": locked.campaign_id, "size": locked.size, "paid": paid, "members": locked.members_count},
    )  # fmt: skip
    return locked
