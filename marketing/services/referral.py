"""Referral (裂变): a consumer's share link; a friend's first paid order through it rewards both sides.

Rules:
* A consumer gets one link per referral campaign (`referral_link_for`), remembering the address and
  device it was asked from.
* A friend's order through a link is recorded only when it is the friend's first order (settlement's
  `first_order`), as a PENDING referral with a campaign use of the referral campaign (no discount).
* Refused, with the reason kept: the owner's own phone (self-referral), a loop (the friend once referred
  the owner), the owner's address or device, or an address or device another friend of the same link used
  within the window (MARKETING_REFERRAL_WINDOW_DAYS, 30 days by default).
* The reward waits for the friend's order to pass the campaign's refund window (`reward_due_at`, set when
  the order is paid); then the job `referrals_reward_due` gives each side one coupon of the reward
  campaign. A friend's order that ends unpaid drops the referral; one refunded before the reward cancels it.
"""

import logging
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketing.errors import CampaignError, SignInRequired
from marketing.models import Campaign, CampaignUse, Consumer, Referral, ReferralLink
from marketing.services.campaigns import campaign_live_check
from marketing.services.coupons import coupons_issue
from voucherhub.core.errors import DomainError

logger = logging.getLogger(__name__)


# Referral.reason holds one of these codes (a failed reward: "reward_failed: <message>"); pages show the label.
REASONS = {
    "self": _("The friend is the link's owner (same phone)."),
    "loop": _("A loop: the friend once referred the link's owner."),
    "owner_address": _("The friend ordered from the link owner's address."),
    "owner_device": _("The friend ordered from the link owner's device."),
    "friend_twin": _("Another friend of this link used the same address or device."),
    "refunded": _("The friend's order was refunded."),
    "reward_failed": _("The reward could not be issued yet; it is tried again."),
}


def referral_reason_text(referral: Referral) -> str:
    """The referral's reason in the reader's language."""
    code = (referral.reason or "").split(":", 1)[0]
    return str(REASONS.get(code, referral.reason or ""))


def _window() -> timedelta:
    return timedelta(days=getattr(settings, "MARKETING_REFERRAL_WINDOW_DAYS", 30))


def referral_link_for(*, campaign: Campaign, consumer: Consumer | None, ip: str = "", device: str = "") -> ReferralLink:
    """The consumer's share link for a live referral campaign (made on first ask, the same one afterwards)."""
    if consumer is None:
        raise SignInRequired(field="consumer")
    if campaign.kind != Campaign.Kind.REFERRAL:
        raise CampaignError(_("This campaign has no share links."), field="campaign")
    campaign_live_check(campaign=campaign)
    link = ReferralLink.objects.filter(campaign=campaign, consumer=consumer).first()
    if link is not None:
        return link
    try:
        with transaction.atomic():
            return ReferralLink.objects.create(
                campaign=campaign, consumer=consumer, token=secrets.token_urlsafe(12)[:16], ip=ip or None, device=(device or "")[:64]
            )
    except IntegrityError:  # a second tab asked at the same moment
        return ReferralLink.objects.get(campaign=campaign, consumer=consumer)


def referral_link_by_token(token: str) -> ReferralLink | None:
    return ReferralLink.objects.select_related("campaign", "consumer").filter(token=str(token or "")[:24]).first()


def _refusal(*, link: ReferralLink, friend: Consumer, ip: str, device: str, now) -> str:
    """Why a friend's order does not count, or "" when it does."""
    owner = link.consumer
    if friend.pk == owner.pk or friend.phone == owner.phone:
        return "self"
    if Referral.objects.filter(link__consumer=friend, friend=owner).exists():
        return "loop"
    if ip and link.ip and ip == link.ip:
        return "owner_address"
    if device and link.device and device == link.device:
        return "owner_device"
    recent = Referral.objects.filter(link=link, created_at__gte=now - _window()).exclude(friend=friend)
    same = Q()
    if ip:
        same |= Q(ip=ip)
    if device:
        same |= Q(device=device)
    if same and recent.filter(same).exists():
        return "friend_twin"
    return ""


def referral_record(
    *,
    token: str,
    friend: Consumer,
    order_ref: str,
    first_order: bool,
    ip: str = "",
    device: str = "",
    channel: str = "",
    distributor=None,
    quantity: int = 1,
    list_amount: Decimal,
    paid_amount: Decimal,
) -> Referral | None:
    """Record the friend's order through a share link (inside offer_take's transaction). Nothing happens for
    an unknown link, a campaign not running, a repeat buyer, or a friend this link already counted;
    a refused one is kept with its reason."""
    link = referral_link_by_token(token)
    if link is None or not first_order or not link.campaign.is_live():
        return None
    if Referral.objects.filter(link=link, friend=friend).exists():
        return None
    now = timezone.now()
    reason = _refusal(link=link, friend=friend, ip=ip, device=device, now=now)
    referral = Referral.objects.create(
        link=link, friend=friend, order_ref=order_ref, ip=ip or None, device=(device or "")[:64],
        status=Referral.Status.REFUSED if reason else Referral.Status.PENDING, reason=reason,
    )  # fmt: skip
    if not reason:
        CampaignUse.objects.create(
            campaign=link.campaign, order_ref=order_ref, consumer=friend, channel=channel, distributor=distributor,
            quantity=quantity, list_amount=list_amount, discount=0, paid_amount=paid_amount, new_customer=True,
        )  # fmt: skip
    return referral


def referral_paid(*, order_ref: str, now=None) -> None:
    """The friend's order is paid: the reward is due once the refund window has passed."""
    now = now or timezone.now()
    for referral in Referral.objects.select_related("link__campaign").filter(order_ref=order_ref, status=Referral.Status.PENDING):
        referral.reward_due_at = now + timedelta(days=referral.link.campaign.refund_window_days)
        referral.save(update_fields=["reward_due_at"])


def referral_released(*, order_ref: str) -> None:
    """The friend's order ended unpaid: the provisional referral goes (the friend may come again)."""
    Referral.objects.filter(order_ref=order_ref, status=Referral.Status.PENDING).delete()


def referral_refunded(*, order_ref: str) -> None:
    """The friend's order was refunded before the reward: no reward."""
    Referral.objects.filter(order_ref=order_ref, status=Referral.Status.PENDING).update(status=Referral.Status.CANCELLED, reason="refunded")


def referrals_reward_due(*, now=None) -> int:
    """Job: referrals past the refund window whose order is still paid give each side one coupon of the
    reward campaign (one transaction per referral; a failure is kept as its reason and tried next run).
    Safe to run twice. Returns how many were rewarded."""
    now = now or timezone.now()
    rewarded = 0
    due = Referral.objects.filter(status=Referral.Status.PENDING, reward_due_at__lte=now).values_list("pk", flat=True)
    for pk in list(due):
        try:
            with transaction.atomic():
                rewarded += _referral_reward(pk=pk, now=now)
        except DomainError as error:
            Referral.objects.filter(pk=pk).update(reason=f"reward_failed: {error.message}"[:200])
            logger.warning("referral %s: reward failed: %s", pk, error.message)
    return rewarded


def _referral_reward(*, pk: int, now) -> int:
    related = ("link__campaign__reward_campaign", "link__consumer")
    referral = Referral.objects.select_for_update(of=("self",)).select_related(*related).get(pk=pk)
    if referral.status != Referral.Status.PENDING:
        return 0
    paid = CampaignUse.objects.filter(
        campaign=referral.link.campaign, order_ref=referral.order_ref, status=CampaignUse.Status.PAID
    ).exists()
    if not paid:  # released or refunded in the meantime
        referral.status, referral.reason = Referral.Status.CANCELLED, "refunded"
        referral.save(update_fields=["status", "reason"])
        return 0
    reward = referral.link.campaign.reward_campaign
    for consumer in (referral.link.consumer, referral.friend):
        coupons_issue(campaign=reward, count=1, consumer=consumer, referral=referral)
    referral.status, referral.rewarded_at, referral.reason = Referral.Status.REWARDED, now, ""
    referral.save(update_fields=["status", "rewarded_at", "reason"])
    return 1
