"""The rollups the job refreshes, in order (each fact module adds its ROLLUP here)."""

from analytics.rollups import commission, redemptions, sales, visits

ROLLUPS: list = [
    sales.ROLLUP,
    commission.ROLLUP,
    visits.ROLLUP,
    redemptions.ROLLUP,
]
