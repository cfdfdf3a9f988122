"""The rollups the job refreshes, in order (each fact module adds its ROLLUP here)."""

ROLLUPS: list = []
