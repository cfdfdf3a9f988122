"""The rollups the job refreshes, in order (each fact module adds its ROLLUP here)."""

from analytics.rollups import campaigns, redemptions, reminders, risk, supplier

ROLLUPS: list = [redemptions.ROLLUP, reminders.ROLLUP, risk.ROLLUP, supplier.ROLLUP, campaigns.ROLLUP]
