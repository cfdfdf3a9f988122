"""Writing a rollup's rows for whole local days: delete the days' rows, insert the new ones in one batch.

Used by the fact modules of redemptions, reminders, risk, suppliers and campaigns; each passes the rows one
aggregate query (GROUP BY in the database) returned, already shaped as the model's fields.
"""

from collections.abc import Iterable
from datetime import date

from django.db import models
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.rollups.base import local_day_bounds

BATCH = 2000


def rows_replace(model: type[models.Model], *, first: date, last: date, rows: Iterable[dict], bucket: str = "day") -> int:
    """Delete `model`'s rows of the local days first..last and insert `rows`; returns the rows written.

    `bucket` is the model's time field: "day" (a local date) or "hour" (an aware hour start)."""
    if bucket == "hour":
        start, end = local_day_bounds(first, last)
        model.objects.filter(hour__gte=start, hour__lt=end).delete()
    else:
        model.objects.filter(**{f"{bucket}__gte": first, f"{bucket}__lte": last}).delete()
    objects = [model(**row) for row in rows]
    model.objects.bulk_create(objects, batch_size=BATCH)
    return len(objects)


def local_date(field: str) -> TruncDate:
    """The local date (settings.TIME_ZONE) of an aware datetime column, computed by the database."""
    return TruncDate(field, tzinfo=timezone.get_current_timezone())


def sums(fields: Iterable[str], prefix: str = "sum_") -> dict:
    """{"sum_<field>": Sum(field)}: the measures of a finer rollup summed into a coarser one (the prefix keeps
    the annotation's name apart from the model's field of the same name)."""
    return {f"{prefix}{name}": models.Sum(name) for name in fields}


def unprefixed(row: dict, prefix: str = "sum_") -> dict:
    """A values() row with the `sums` prefix taken off and empty sums as 0."""
    return {key.removeprefix(prefix): (0 if value is None and key.startswith(prefix) else value) for key, value in row.items()}
