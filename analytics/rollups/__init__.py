"""Every rollup, in the order the job refreshes them (docs/analytics.md). A fact module defines ROLLUP."""

from analytics.rollups.base import Rollup, rollup_rebuild, rollup_refresh


def all_rollups() -> list[Rollup]:
    from analytics.rollups import registry

    return list(registry.ROLLUPS)


def rollups_refresh() -> dict[str, int]:
    """The incremental job: each rollup's changed days recomputed; returns {rollup name: days recomputed}."""
    return {rollup.name: rollup_refresh(rollup) for rollup in all_rollups()}


def rollups_rebuild(since, until=None, names: list[str] | None = None) -> dict[str, int]:
    """`manage.py rebuild_rollups`: every day since `since` recomputed from the source tables."""
    chosen = [rollup for rollup in all_rollups() if not names or rollup.name in names]
    return {rollup.name: rollup_rebuild(rollup, since, until) for rollup in chosen}


__all__ = ["Rollup", "all_rollups", "rollups_rebuild", "rollups_refresh"]
