"""Sales: settlement's paid orders per UTC hour, SKU, sales channel and distributor (SalesHour), and the daily tables
summed from those hours (SalesDay, SkuSalesDay, DistributorSalesDay). Definitions: docs/analytics.md.

* A paid order is one in status paid, delivered, partially refunded or refunded; it counts in the hour of its
  `paid_at` and the local day (settings.TIME_ZONE) of that hour, also after a refund (its `refunded` grows).
* The channel is the order's own (portal, api, storefront), or "campaign" when a marketing campaign priced it.
* revenue = total (what the buyer paid), platform_revenue = the distributor's unit price × quantity,
  cost = unit cost × quantity, discount = the order's discount, refunded = what was refunded of it so far.

`changed_days` reads `Order.status_changed_at` (indexed, settlement migration 0014): every status move of an
order (paid, delivered, refunded in full or in part) sets it in settlement's OrderChanges, and a refund writes
`refunded_amount` in the same transaction as its status move.

`recompute` is one GROUP BY over the orders paid in the day range, then one GROUP BY per daily table over the
hours just written; the rows are inserted with bulk_create. Hours are UTC hours: the local day of an hour is
well defined for a zone whose offset is whole hours (Asia/Shanghai is UTC+8).
"""

from datetime import UTC, date, datetime

from django.db import connections, router
from django.db.models import Case, CharField, Count, DecimalField, F, Sum, Value, When
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from analytics.models import DistributorSalesDay, SalesChannel, SalesDay, SalesHour, SkuSalesDay
from analytics.rollups.base import Rollup, local_day_bounds
from analytics.rollups.coarse import sales_coarse_recompute
from settlement.models import Order
from voucherhub.core.money import money

S = Order.Status
PAID = (S.PAID, S.DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED)
MONEY = DecimalField(max_digits=14, decimal_places=2)
COUNTS = ("orders", "quantity")
AMOUNTS = ("revenue", "platform_revenue", "cost", "discount", "refunded")
BATCH = 2000

# Each daily table and the keys it keeps of an hour's row (besides its day).
DAY_TABLES = (
    (SalesDay, ("sku_id", "channel", "distributor_id")),
    (SkuSalesDay, ("sku_id", "channel")),
    (DistributorSalesDay, ("distributor_id", "channel")),
)


def _order_measures() -> dict:
    """The measures of a group of paid orders, named m_<measure> (an order field may not share its name)."""
    return {
        "m_orders": Count("pk"),
        "m_quantity": Sum("quantity"),
        "m_revenue": Sum("total"),
        "m_platform_revenue": Sum(F("purchase_unit_price") * F("quantity"), output_field=MONEY),
        "m_cost": Sum(F("unit_cost") * F("quantity"), output_field=MONEY),
        "m_discount": Sum("discount"),
        "m_refunded": Sum("refunded_amount"),
    }


def _measures_of(row: dict) -> dict:
    """A rollup row's measures from an aggregate row: counts as ints, money rounded to the cent."""
    values = {name: int(row[f"m_{name}"] or 0) for name in COUNTS}
    values.update({name: money(row[f"m_{name}"] or 0) for name in AMOUNTS})
    return values


def sales_channel():
    """The order's channel, or "campaign" when a marketing campaign priced it."""
    return Case(When(promotion__isnull=False, then=Value(SalesChannel.CAMPAIGN)), default=F("channel"), output_field=CharField())


def paid_orders_by_hour(start: datetime, end: datetime):
    """One row per (UTC hour, SKU, channel, distributor) of the orders paid in [start, end): one GROUP BY."""
    return (
        Order.objects.filter(status__in=PAID, paid_at__gte=start, paid_at__lt=end)
        .annotate(bucket=TruncHour("paid_at", tzinfo=UTC), sales_channel=sales_channel())
        .values("bucket", "sku_id", "sales_channel", "distributor_id")
        .annotate(**_order_measures())
        .order_by()
    )


def _rows_write(model, grouped, columns: dict[str, str]) -> int:
    """Write the grouped rows into `model`; `columns` maps each target field to the alias in `grouped` that
    fills it. On PostgreSQL one INSERT ... SELECT over the ORM's own query (the rows never leave the server);
    elsewhere (SQLite, `make run`) the rows are read and bulk-created, money rounded to the cent. Both on the
    primary: a replica may lag behind the job's watermark."""
    db = router.db_for_write(model)
    grouped = grouped.using(db)
    connection = connections[db]
    if connection.vendor != "postgresql":
        measures = [field for field in columns if field in COUNTS + AMOUNTS]
        rows = [
            model(**{field: row[alias] for field, alias in columns.items() if field not in measures}, **_measures_of(row))
            for row in grouped
        ]
        model.objects.using(db).bulk_create(rows, batch_size=BATCH)
        return len(rows)
    sql, params = grouped.query.get_compiler(using=db).as_sql()
    quote = connection.ops.quote_name
    targets = ", ".join(quote(model._meta.get_field(field).column) for field in columns)
    sources = ", ".join(f"grouped.{quote(alias)}" for alias in columns.values())
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(model._meta.db_table)} ({targets}) SELECT {sources} FROM ({sql}) AS grouped", params)
        return cursor.rowcount


def _hours_write(start: datetime, end: datetime) -> int:
    keys = {"hour": "bucket", "sku_id": "sku_id", "channel": "sales_channel", "distributor_id": "distributor_id"}
    return _rows_write(SalesHour, paid_orders_by_hour(start, end), keys | {name: f"m_{name}" for name in COUNTS + AMOUNTS})


def _days_write(model, keys: tuple[str, ...], start: datetime, end: datetime) -> int:
    """A daily table's rows of [start, end) summed from the hours already written (one GROUP BY)."""
    grouped = (
        SalesHour.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(local_day=TruncDate("hour", tzinfo=timezone.get_current_timezone()))
        .values("local_day", *keys)
        .annotate(**{f"m_{name}": Sum(name) for name in COUNTS + AMOUNTS})
        .order_by()
    )
    columns = {"day": "local_day", **{key: key for key in keys}, **{name: f"m_{name}" for name in COUNTS + AMOUNTS}}
    return _rows_write(model, grouped, columns)


def sales_recompute(first: date, last: date) -> int:
    """Delete the sales rows of the local days first..last and write them again from the paid orders."""
    start, end = local_day_bounds(first, last)
    SalesHour.objects.filter(hour__gte=start, hour__lt=end).delete()
    for model, _keys in DAY_TABLES:
        model.objects.filter(day__gte=first, day__lte=last).delete()
    written = _hours_write(start, end)
    for model, keys in DAY_TABLES:
        written += _days_write(model, keys, start, end)
    return written + sales_coarse_recompute(first, last)


def sales_changed_days(since: datetime | None) -> set[date]:
    """The local days of `paid_at` of the orders whose status changed at or after `since` (all paid days if None)."""
    orders = Order.objects.using(router.db_for_write(SalesHour)).filter(paid_at__isnull=False)
    if since is not None:
        orders = orders.filter(status_changed_at__gte=since)
    days = orders.annotate(local_day=TruncDate("paid_at", tzinfo=timezone.get_current_timezone()))
    return set(days.values_list("local_day", flat=True).order_by().distinct())


ROLLUP = Rollup(name="sales", changed_days=sales_changed_days, recompute=sales_recompute)
