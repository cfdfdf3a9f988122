"""The rollups the job refreshes, in order (each fact module adds its ROLLUP here)."""

from analytics.rollups import redemptions, reminders, risk, supplier

ROLLUPS: list = [redemptions.ROLLUP, reminders.ROLLUP, risk.ROLLUP, supplier.ROLLUP]
