"""Storefront visits per local day (VisitDay) from the daily visitors the middleware counts (StorefrontVisit):
visitors = distinct daily visitor hashes, views = the pages they saw. Definitions: docs/analytics.md.

`changed_days` reads each visit row's `last_seen_at` (the time of its latest page view), among the days from
the local day of `since` on (a day's visits change only on that day)."""

from datetime import date, datetime, timedelta

from django.db import router
from django.db.models import Count, Sum
from django.utils import timezone

from analytics.models import StorefrontVisit, VisitDay
from analytics.rollups.base import Rollup


def visits_recompute(first: date, last: date) -> int:
    """Delete VisitDay rows of the local days first..last and write them again (one GROUP BY)."""
    VisitDay.objects.filter(day__gte=first, day__lte=last).delete()
    grouped = (
        StorefrontVisit.objects.using(router.db_for_write(VisitDay))
        .filter(day__gte=first, day__lte=last)
        .values("day", "storefront_id")
        .annotate(n_visitors=Count("pk"), n_views=Sum("views"))
        .order_by()
    )
    rows = [
        VisitDay(day=row["day"], storefront_id=row["storefront_id"], visitors=row["n_visitors"], views=row["n_views"]) for row in grouped
    ]
    VisitDay.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def visits_changed_days(since: datetime | None) -> set[date]:
    """The days with a page view at or after `since` (every day with visits if None)."""
    visits = StorefrontVisit.objects.using(router.db_for_write(VisitDay))  # the primary: a replica may lag
    if since is not None:
        visits = visits.filter(day__gte=timezone.localdate(since) - timedelta(days=1), last_seen_at__gte=since)
    return set(visits.values_list("day", flat=True).order_by().distinct())


ROLLUP = Rollup(name="visits", changed_days=visits_changed_days, recompute=visits_recompute)
