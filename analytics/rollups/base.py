"""The rollup runner: each fact module offers a `Rollup`; the incremental job and `rebuild_rollups` both call its
`recompute` for whole local days, so an incremental result equals a rebuilt one by construction.

A `Rollup` answers two questions:
- `changed_days(since)`: the local days whose facts changed at or after `since` (an aware datetime), read from
  the source tables' own time columns (an order's `status_changed_at`, a redemption's `created_at` and
  `reversed_at` ...). `since=None` means "everything": the first run of a new rollup rebuilds it in full.
- `recompute(first, last)`: delete the rollup's rows of the local days first..last (inclusive) and insert them
  again from the source tables; returns the rows written. It runs inside the runner's transaction.

The watermark is the start time of the last finished run minus OVERLAP: a transaction that committed a little
after the run began, with a time column older than the run, is still seen by the next run (recomputing a day
twice is harmless).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from time import monotonic

from django.db import transaction
from django.utils import timezone

from analytics.models import RollupState

OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class Rollup:
    name: str
    changed_days: Callable[[datetime | None], set[date]]
    recompute: Callable[[date, date], int]


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges: {1, 2, 3, 7} -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def local_day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The aware datetimes [start of `first`, start of the day after `last`) in the current time zone."""
    tz = timezone.get_current_timezone()
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start, end


def rollup_refresh(rollup: Rollup) -> int:
    """Recompute the days that changed since the rollup's watermark; returns the days recomputed.

    The state row is locked for the run, so two job clusters never refresh the same rollup at once."""
    started = timezone.now()
    clock = monotonic()
    with transaction.atomic():
        state, _created = RollupState.objects.select_for_update().get_or_create(name=rollup.name)
        since = state.watermark - OVERLAP if state.watermark else None
        ranges = day_ranges(rollup.changed_days(since))
        for first, last in ranges:
            rollup.recompute(first, last)
        days = sum((last - first).days + 1 for first, last in ranges)
        state.watermark = started
        state.last_run_at = timezone.now()
        state.last_duration_ms = int((monotonic() - clock) * 1000)
        state.last_buckets = days
        state.save()
    return days


def rollup_rebuild(rollup: Rollup, since: date, until: date | None = None) -> int:
    """Recompute every day from `since` to `until` (today by default), one transaction per day; returns the days.

    A rollup that has no watermark yet gets the rebuild's start as its watermark when the rebuild reaches today,
    so the job's first run after it recomputes only what changed since (not every day again)."""
    started = timezone.now()
    until = until or timezone.localdate()
    day = since
    while day <= until:
        with transaction.atomic():
            rollup.recompute(day, day)
        day += timedelta(days=1)
    if until >= timezone.localdate(started):  # the days after `until` were not recomputed: leave them to the job
        RollupState.objects.filter(name=rollup.name, watermark__isnull=True).update(watermark=started)
        RollupState.objects.get_or_create(name=rollup.name, defaults={"watermark": started})
    return (until - since).days + 1 if until >= since else 0
