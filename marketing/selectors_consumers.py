"""What a consumer's own page (/me/, settlement/consumer_views.py) shows of marketing: their coupons and their
group buys. Every read is filtered by the consumer: nobody sees another's rows."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from marketing.models import Consumer, Coupon, GroupBuy, GroupMember

COUPONS_SHOWN = 50
GROUPS_SHOWN = 30


@dataclass(frozen=True)
class CouponLine:
    code: str
    campaign_name: str
    status: str  # the display value, never the stored one
    live: bool  # claimed, not used, still valid
    discount_kind: str
    discount_amount: Decimal | None
    discount_percent: Decimal | None
    discount_cap: Decimal | None
    min_spend: Decimal | None
    valid_until: datetime


@dataclass(frozen=True)
class GroupLine:
    campaign_name: str
    status: str  # display value
    my_status: str  # display value of the consumer's own membership
    size: int
    members: int
    seats_left: int
    expires_at: datetime
    open: bool
    share_path: str | None  # the group's page to share while it is open


def consumer_coupons(*, consumer: Consumer) -> list[CouponLine]:
    """The consumer's coupons, the usable ones first (soonest to expire first), then the rest newest first."""
    now = timezone.now()
    rows = list(Coupon.objects.filter(consumer=consumer).select_related("campaign").order_by("-issued_at", "-pk")[:COUPONS_SHOWN])
    lines = [_coupon_line(coupon, now) for coupon in rows]
    live = sorted((line for line in lines if line.live), key=lambda line: line.valid_until)
    return live + [line for line in lines if not line.live]


def _coupon_line(coupon: Coupon, now) -> CouponLine:
    campaign = coupon.campaign
    expired = coupon.status in (Coupon.Status.ISSUED, Coupon.Status.CLAIMED) and coupon.valid_until <= now
    status = Coupon.Status.EXPIRED.label if expired else coupon.get_status_display()
    return CouponLine(
        code=coupon.code,
        campaign_name=campaign.name,
        status=str(status),
        live=coupon.status == Coupon.Status.CLAIMED and not expired,
        discount_kind=campaign.discount_kind,
        discount_amount=campaign.discount_amount,
        discount_percent=campaign.discount_percent,
        discount_cap=campaign.discount_cap,
        min_spend=campaign.min_spend,
        valid_until=coupon.valid_until,
    )


def consumer_group_members(*, consumer: Consumer) -> QuerySet[GroupMember]:
    return GroupMember.objects.filter(consumer=consumer).select_related("group__campaign").order_by("-joined_at", "-pk")


def consumer_groups(*, consumer: Consumer) -> list[GroupLine]:
    """The group buys the consumer opened or joined (not the ones they left unpaid), newest first."""
    members = consumer_group_members(consumer=consumer).exclude(status=GroupMember.Status.LEFT)[:GROUPS_SHOWN]
    return [_group_line(member) for member in members]


def _group_line(member: GroupMember) -> GroupLine:
    group = member.group
    is_open = group.status == GroupBuy.Status.OPEN and group.expires_at > timezone.now()
    return GroupLine(
        campaign_name=group.campaign.name,
        status=str(group.get_status_display()),
        my_status=str(member.get_status_display()),
        size=group.size,
        members=group.members_count,
        seats_left=max(0, group.size - group.members_count),
        expires_at=group.expires_at,
        open=is_open,
        share_path=group_share_path(group) if is_open else None,
    )


def group_share_path(group: GroupBuy) -> str | None:
    """The group's public page (/g/<token>/, the groups branch's view), None until that page exists."""
    for name in ("marketing:group", "marketing:group-page", "marketing:group-detail"):
        try:
            return reverse(name, kwargs={"token": group.token})
        except NoReverseMatch:
            continue
    return None
