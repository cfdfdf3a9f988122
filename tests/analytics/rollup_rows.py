"""Rollup rows written straight into the rollup tables, for the dashboards' tests (issue 17).

A dashboard reads rollups only, so its tests need no orders or redemptions: `sales(...)` adds one sale to every
sales table (hour, day, per SKU, per distributor) the way the rollup job would, `redemptions(...)` the same for
redemptions; the others write one row. Calling a function twice for the same keys adds to the row's measures.
Days are local dates (settings.TIME_ZONE), hours the UTC start of a local hour, as in analytics/models.py."""

from datetime import date, datetime, time
from decimal import Decimal

from django.utils import timezone

from analytics.models import (
    CampaignDay,
    CommissionDay,
    CommissionEarnerDay,
    CommissionLevelDay,
    DistributorDay,
    DistributorSalesDay,
    PlatformHeat,
    RedemptionDay,
    RedemptionHeat,
    RedemptionHour,
    ReminderDay,
    RiskDay,
    SalesChannel,
    SalesDay,
    SalesHour,
    SkuRedemptionDay,
    SkuSalesDay,
    SupplierDay,
    TeamMemberDay,
    TeamSalesDay,
    TeamSkuDay,
    VisitDay,
)
from channels.models import Distributor

ZERO = Decimal("0")


def add(model, keys: dict, measures: dict):
    """The row of `model` with these keys, its measures increased by `measures` (created at zero first)."""
    row, _created = model.objects.get_or_create(**keys)
    for name, value in measures.items():
        setattr(row, name, getattr(row, name) + value)
    row.save()
    return row


def local_hour(day: date, hour: int) -> datetime:
    """The start of local hour `hour` of `day`, as a UTC-aware datetime."""
    return timezone.make_aware(datetime.combine(day, time(hour)), timezone.get_default_timezone())


def sales(
    *,
    day: date,
    sku_id: int,
    distributor_id: int,
    channel: str = SalesChannel.PORTAL,
    orders: int = 1,
    quantity: int = 1,
    revenue: Decimal = ZERO,
    platform_revenue: Decimal | None = None,
    cost: Decimal = ZERO,
    discount: Decimal = ZERO,
    refunded: Decimal = ZERO,
    hour: int = 12,
) -> None:
    """Paid orders of one SKU, distributor and channel on `day` (paid in local hour `hour`), in every sales table."""
    platform = revenue if platform_revenue is None else platform_revenue
    measures = {
        "orders": orders,
        "quantity": quantity,
        "revenue": revenue,
        "platform_revenue": platform,
        "cost": cost,
        "discount": discount,
        "refunded": refunded,
    }
    add(SalesHour, {"hour": local_hour(day, hour), "sku_id": sku_id, "channel": channel, "distributor_id": distributor_id}, measures)
    add(SalesDay, {"day": day, "sku_id": sku_id, "channel": channel, "distributor_id": distributor_id}, measures)
    add(SkuSalesDay, {"day": day, "sku_id": sku_id, "channel": channel}, measures)
    add(DistributorSalesDay, {"day": day, "distributor_id": distributor_id, "channel": channel}, measures)
    add(DistributorDay, {"day": day, "distributor_id": distributor_id}, measures)
    team(day=day, distributor_id=distributor_id, sku_id=sku_id, orders=orders, quantity=quantity, revenue=revenue)


def team(*, day: date, distributor_id: int, sku_id: int, orders: int = 1, quantity: int = 1, revenue: Decimal = ZERO) -> None:
    """The team rows of a sale by `distributor_id`: one per upline of the seller (its chain, nearest first), as
    the sales rollup fans an order out over `Order.chain`. A seller that is no Distributor row has no upline."""
    seller = Distributor.objects.filter(pk=distributor_id).only("path").first()
    chain = list(reversed(seller.ancestor_ids)) if seller else []
    measures = {"orders": orders, "quantity": quantity, "revenue": revenue}
    for depth, ancestor in enumerate(chain, start=1):
        add(TeamSalesDay, {"day": day, "ancestor_id": ancestor, "depth": depth}, measures)
        add(TeamMemberDay, {"day": day, "ancestor_id": ancestor, "member_id": distributor_id}, measures)
        add(TeamSkuDay, {"day": day, "ancestor_id": ancestor, "sku_id": sku_id}, measures)


def redemptions(
    *,
    day: date,
    sku_id: int,
    merchant_id: int,
    store_id: int,
    hour: int = 10,
    redemptions: int = 1,
    reversed: int = 0,
    amount: Decimal = ZERO,
    owed: Decimal = ZERO,
    after_reminder: int = 0,
    known_holders: int = 0,
    new_holders: int = 0,
) -> None:
    """Redemptions of one SKU at one store in local hour `hour` of `day`, in every redemption table."""
    measures = {
        "redemptions": redemptions,
        "reversed": reversed,
        "amount": amount,
        "owed": owed,
        "after_reminder": after_reminder,
        "known_holders": known_holders,
        "new_holders": new_holders,
    }
    weekday = day.weekday()
    hour_keys = {"hour": local_hour(day, hour), "sku_id": sku_id, "merchant_id": merchant_id, "store_id": store_id}
    add(RedemptionHour, {**hour_keys, "weekday": weekday, "local_hour": hour}, measures)
    add(RedemptionDay, {"day": day, "sku_id": sku_id, "merchant_id": merchant_id, "store_id": store_id}, measures)
    add(SkuRedemptionDay, {"day": day, "sku_id": sku_id}, measures)
    add(RedemptionHeat, {"day": day, "merchant_id": merchant_id, "local_hour": hour, "weekday": weekday}, measures)
    add(PlatformHeat, {"day": day, "local_hour": hour, "weekday": weekday}, measures)


def reminders(*, day: date, sku_id: int, sent: int, redeemed_after: int = 0) -> ReminderDay:
    return add(ReminderDay, {"day": day, "sku_id": sku_id}, {"sent": sent, "redeemed_after": redeemed_after})


def risk(*, day: date, channel: str, outcome: str, events: int = 1) -> RiskDay:
    return add(RiskDay, {"day": day, "channel": channel, "outcome": outcome}, {"events": events})


def commission(*, day: date, distributor_id: int, depth: int = 1, **measures) -> CommissionDay:
    """measures: accrued, released, clawed_back, frozen (Decimal); also in the per-level and per-earner tables
    (the latter only when something was accrued or released, as the rollup writes it)."""
    add(CommissionLevelDay, {"day": day, "depth": depth}, measures)
    moved = {key: value for key, value in measures.items() if key in ("accrued", "released")}
    if any(moved.values()):
        add(CommissionEarnerDay, {"day": day, "distributor_id": distributor_id}, moved)
    return add(CommissionDay, {"day": day, "distributor_id": distributor_id, "depth": depth}, measures)


def campaign(*, day: date, campaign_id: int, channel: str = SalesChannel.CAMPAIGN, **measures) -> CampaignDay:
    """measures: issued, claimed, used, orders, new_customers (int); revenue, cost, discount, expense (Decimal)."""
    return add(CampaignDay, {"day": day, "campaign_id": campaign_id, "channel": channel}, measures)


def supplier(*, day: date, upstream_id: int, sku_id: int, **measures) -> SupplierDay:
    """measures: succeeded, failed, partial (int); face_value, cost (Decimal); seconds_total (float)."""
    return add(SupplierDay, {"day": day, "upstream_id": upstream_id, "sku_id": sku_id}, measures)


def visits(*, day: date, storefront_id: int, visitors: int, views: int) -> VisitDay:
    return add(VisitDay, {"day": day, "storefront_id": storefront_id}, {"visitors": visitors, "views": views})
