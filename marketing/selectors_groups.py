"""Reads of group buys for pages: a group as its share page shows it, the open groups of a campaign, a
consumer's groups (the /me/ page). Members appear only as masked phone numbers."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Prefetch
from django.utils import timezone

from marketing.models import Campaign, Consumer, GroupBuy, GroupMember

_SEATED = (GroupMember.Status.JOINED, GroupMember.Status.PAID, GroupMember.Status.DELIVERED, GroupMember.Status.REFUNDED)


@dataclass(frozen=True)
class MemberView:
    phone_masked: str
    is_leader: bool
    paid: bool
    status_label: str
    is_viewer: bool


@dataclass(frozen=True)
class GroupView:
    group: GroupBuy
    campaign: Campaign
    members: tuple[MemberView, ...]
    seats_left: int
    seconds_left: int  # 0 once the time is up
    joinable: bool  # open, time left, a free seat, and the viewer not in it already
    viewer_status: str  # the viewer's member status ("" when not a member)

    @property
    def token(self) -> str:
        return self.group.token

    @property
    def expires_at(self) -> datetime:
        return self.group.expires_at

    @property
    def status(self) -> str:
        return self.group.status

    @property
    def status_label(self) -> str:
        return self.group.get_status_display()

    @property
    def leader_masked(self) -> str:
        return self.group.leader.phone_masked


def _seated_members() -> Prefetch:
    queryset = GroupMember.objects.filter(status__in=_SEATED).select_related("consumer").order_by("joined_at", "pk")
    return Prefetch("members", queryset=queryset, to_attr="seated")


def _view(group: GroupBuy, *, viewer: Consumer | None, now: datetime) -> GroupView:
    viewer_id = viewer.pk if viewer is not None else None
    members = tuple(
        MemberView(
            phone_masked=m.consumer.phone_masked,
            is_leader=m.consumer_id == group.leader_id,
            paid=m.status in (GroupMember.Status.PAID, GroupMember.Status.DELIVERED),
            status_label=m.get_status_display(),
            is_viewer=m.consumer_id == viewer_id,
        )
        for m in group.seated
    )
    viewer_status = next((m.status for m in group.seated if m.consumer_id == viewer_id and viewer_id is not None), "")
    time_left = max(int((group.expires_at - now).total_seconds()), 0) if group.status == GroupBuy.Status.OPEN else 0
    seats_left = max(group.size - group.members_count, 0) if group.status == GroupBuy.Status.OPEN else 0
    joinable = bool(time_left and seats_left and not viewer_status and group.campaign.is_live(now))
    return GroupView(
        group=group, campaign=group.campaign, members=members, seats_left=seats_left, seconds_left=time_left,
        joinable=joinable, viewer_status=viewer_status,
    )  # fmt: skip


def _groups():
    return GroupBuy.objects.select_related("campaign__sku__product", "campaign__storefront", "leader").prefetch_related(_seated_members())


def group_view(*, token: str, viewer: Consumer | None = None, now: datetime | None = None) -> GroupView | None:
    """A group by its share token as anyone with the link sees it, or None for an unknown token."""
    group = _groups().filter(token=token).first()
    return _view(group, viewer=viewer, now=now or timezone.now()) if group is not None else None


def groups_open_for_campaign(
    *, campaign: Campaign, viewer: Consumer | None = None, now: datetime | None = None, limit: int = 10
) -> list[GroupView]:
    """A campaign's groups that can still be joined, the closest to filling first, then the soonest to end."""
    now = now or timezone.now()
    groups = (
        _groups()
        .filter(campaign=campaign, status=GroupBuy.Status.OPEN, expires_at__gt=now, members_count__lt=F("size"))
        .annotate(left=F("size") - F("members_count"))
        .order_by("left", "expires_at", "pk")[:limit]
    )
    return [_view(group, viewer=viewer, now=now) for group in groups]


def consumer_groups(
    *, consumer: Consumer, campaign: Campaign | None = None, now: datetime | None = None, limit: int = 50
) -> list[GroupView]:
    """The groups a consumer opened or joined (and did not leave), the newest first."""
    now = now or timezone.now()
    member_of = GroupMember.objects.filter(consumer=consumer).exclude(status=GroupMember.Status.LEFT).values("group_id")
    groups = _groups().filter(pk__in=member_of)
    if campaign is not None:
        groups = groups.filter(campaign=campaign)
    return [_view(group, viewer=consumer, now=now) for group in groups.order_by("-created_at", "-pk")[:limit]]


def group_campaign_public(campaign_id: int) -> Campaign | None:
    """A group-buy campaign a consumer may see: any but a draft (a paused or ended one says it is not running)."""
    return (
        Campaign.objects.select_related("sku__product", "storefront__distributor")
        .filter(pk=campaign_id, kind=Campaign.Kind.GROUP_BUY)
        .exclude(status=Campaign.Status.DRAFT)
        .first()
    )
