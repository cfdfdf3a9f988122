"""The rollups the job refreshes, in order (each fact module adds its ROLLUP here)."""

from analytics.rollups import redemptions

ROLLUPS: list = [redemptions.ROLLUP]
