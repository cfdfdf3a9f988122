"""Marketing campaigns' results per local day and channel (CampaignDay), read from marketing's coupons and
campaign uses and from settlement's orders priced by a campaign (docs/analytics.md, "Campaigns").

Each figure counts on the local day (settings.TIME_ZONE) of its own event, and its totals over a period equal
the campaign's results page (marketing/selectors_results.py, docs/marketing.md "The results page") for the
events of that period:
- issued: coupons handed out (Coupon.issued_at); claimed: coupons a consumer holds, on the day they claimed
  them (claimed_at, else issued_at for a coupon issued straight to a consumer). For campaigns without coupons
  (group buy, new-user price, bundle) both count the orders placed with the campaign (CampaignUse.created_at),
  as the results page does; a flash sale's places on offer are stock, not events, and are not counted here.
  Coupons carry no order: their channel is "campaign". Everything else is under the order's channel.
- used: orders paid with the campaign and not refunded in full (CampaignUse "paid"), on the day they were paid.
- orders, revenue, cost, discount, expense, new_customers: settlement's paid orders with `promotion` set
  (status paid, delivered or partially refunded: a fully refunded order leaves the campaign's results, as its
  use becomes "refunded"), on the day of `paid_at`. revenue: what the buyers paid (Order.total); cost: the cost
  of goods (unit_cost × quantity); discount: the discount off the list total, whoever funds it (the results
  page's "cost", the ROI's divisor: ROI = (revenue − cost) ÷ discount); expense: the platform's marketing
  expense, discount_platform, which is what settlement books to MARKETING_EXPENSE — a free code of a giveaway
  (total 0) carries its whole list price there, so free codes are in it; a distributor-funded discount is not.
  new_customers: those orders that marketing recorded as the buyer's first paid order (CampaignUse.new_customer,
  decided at checkout from settlement's paid orders under the buyer's phone or contact).
"""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, ExpressionWrapper, F, OuterRef, Q, Sum
from django.db.models.functions import Coalesce

from analytics.models import CampaignDay, SalesChannel
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.replace import local_date, rows_replace
from marketing.models import Campaign, CampaignUse, Coupon
from settlement.models import Order

COUPON_KINDS = [Campaign.Kind.COUPON, Campaign.Kind.REFERRAL, Campaign.Kind.TARGETED]
# Orders of the other kinds stand for issued and claimed (results page); a flash sale's are its slots' stock.
ORDER_KINDS = [kind for kind in Campaign.Kind.values if kind not in COUPON_KINDS and kind != Campaign.Kind.FLASH_SALE]
PAID = [Order.Status.PAID, Order.Status.DELIVERED, Order.Status.PARTIALLY_REFUNDED]
COUNTS = ("issued", "claimed", "used", "orders", "new_customers")
AMOUNTS = ("revenue", "cost", "discount", "expense")


def _counted(queryset, time_field: str, start, end, measures: dict, channel: str | None = None) -> list[dict]:
    """One aggregate query: `queryset`'s rows of [start, end) by `time_field`, per local day, campaign and channel
    (its own `channel` column, or the fixed `channel`)."""
    keys = ["bucket", "campaign_id"] if channel else ["bucket", "campaign_id", "channel"]
    rows = (
        queryset.filter(**{f"{time_field}__gte": start, f"{time_field}__lt": end})
        .annotate(bucket=local_date(time_field))
        .values(*keys)
        .annotate(**measures)
        .order_by()
    )
    return [{**row, "channel": channel} if channel else row for row in rows]


def _coupon_rows(start, end) -> list[dict]:
    campaign = SalesChannel.CAMPAIGN
    issued = _counted(Coupon.objects.all(), "issued_at", start, end, {"issued": Count("pk")}, channel=campaign)
    held = Coupon.objects.filter(consumer__isnull=False).annotate(claimed_on=Coalesce("claimed_at", "issued_at"))
    claimed = _counted(held, "claimed_on", start, end, {"claimed": Count("pk")}, channel=campaign)
    return issued + claimed


def _use_rows(start, end) -> list[dict]:
    placed = CampaignUse.objects.filter(campaign__kind__in=ORDER_KINDS)
    placed_rows = _counted(placed, "created_at", start, end, {"issued": Count("pk"), "claimed": Count("pk")})
    paid = CampaignUse.objects.filter(status=CampaignUse.Status.PAID)
    return placed_rows + _counted(paid, "paid_at", start, end, {"used": Count("pk")})


def _order_rows(start, end) -> list[dict]:
    new = CampaignUse.objects.filter(order_ref=OuterRef("number"), campaign_id=OuterRef("promotion_id"), new_customer=True)
    orders = Order.objects.filter(promotion__isnull=False, status__in=PAID).annotate(
        campaign_id=F("promotion_id"),
        first=Exists(new),
        goods=ExpressionWrapper(F("unit_cost") * F("quantity"), output_field=DecimalField(max_digits=14, decimal_places=2)),
    )
    measures = {
        "orders": Count("pk"),
        "new_customers": Count("pk", filter=Q(first=True)),
        "revenue": Sum("total"),
        "cost": Sum("goods"),
        "discount": Sum("discount"),
        "expense": Sum("discount_platform"),
    }
    return _counted(orders, "paid_at", start, end, measures)


def _merged(rows: list[dict]) -> list[dict]:
    """Rows of the three sources added up per (day, campaign, channel), every measure present."""
    merged: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(COUNTS, 0) | dict.fromkeys(AMOUNTS, Decimal("0.00")))
    for row in rows:
        target = merged[(row["bucket"], row["campaign_id"], row["channel"])]
        for name in COUNTS + AMOUNTS:
            target[name] += row.get(name) or 0
    return [
        {"day": day, "campaign_id": campaign_id, "channel": channel, **values} for (day, campaign_id, channel), values in merged.items()
    ]


def recompute(first: date, last: date) -> int:
    """Rewrite CampaignDay's rows of the local days first..last (one aggregate query per source); returns the
    rows written."""
    start, end = local_day_bounds(first, last)
    rows = _coupon_rows(start, end) + _use_rows(start, end) + _order_rows(start, end)
    return rows_replace(CampaignDay, first=first, last=last, rows=_merged(rows))


def _days(queryset, time_field: str) -> set[date]:
    return set(queryset.annotate(bucket=local_date(time_field)).values_list("bucket", flat=True).distinct().order_by())


def changed_days(since: datetime | None) -> set[date]:
    """Local days of coupons issued or claimed, uses placed or paid, and campaign orders whose status changed
    (paid, refunded) at or after `since` (every day when None)."""
    coupons, uses = Coupon.objects.all(), CampaignUse.objects.all()
    orders = Order.objects.filter(promotion__isnull=False, paid_at__isnull=False)
    if since is None:
        claimed, paid_uses = coupons.filter(claimed_at__isnull=False), uses.filter(paid_at__isnull=False)
        return (
            _days(coupons, "issued_at")
            | _days(claimed, "claimed_at")
            | _days(uses, "created_at")
            | _days(paid_uses, "paid_at")
            | _days(orders, "paid_at")
        )
    return (
        _days(coupons.filter(issued_at__gte=since), "issued_at")
        | _days(coupons.filter(claimed_at__gte=since), "claimed_at")
        | _days(uses.filter(created_at__gte=since), "created_at")
        | _days(uses.filter(paid_at__gte=since), "paid_at")
        | _days(orders.filter(status_changed_at__gte=since), "paid_at")
    )


ROLLUP = Rollup(name="campaigns", changed_days=changed_days, recompute=recompute)
