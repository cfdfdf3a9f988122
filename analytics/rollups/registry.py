"""The rollups the job refreshes, in order (each fact module adds its ROLLUP here)."""

from analytics.rollups import campaigns, commission, redemptions, reminders, risk, sales, supplier, visits

ROLLUPS: list = [
    sales.ROLLUP,
    commission.ROLLUP,
    visits.ROLLUP,
    redemptions.ROLLUP,
    reminders.ROLLUP,
    risk.ROLLUP,
    supplier.ROLLUP,
    campaigns.ROLLUP,
]
