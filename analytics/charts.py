"""What a dashboard hands its template: charts and key figures, as plain data (issue 17, docs/analytics.md).

A selector builds `Chart`s from rollup rows; the chart template component (analytics/templates/analytics/
components/chart.html, `{% chart chart %}`) draws it with the vendored ECharts and prints the same data as a
table for screen readers; `?export=<chart.key>` on the dashboard's URL downloads the same data as XLSX
(analytics/exports.py). Labels are already translated text; values are int, float or Decimal (money is
Decimal and is printed with two places).
"""

from dataclasses import dataclass, field
from decimal import Decimal

Number = int | float | Decimal

KINDS = ("line", "bar", "hbar", "stacked", "pie", "heatmap", "funnel")


@dataclass
class Series:
    name: str
    data: list  # one value per category; a heatmap's series holds [x index, y index, value] triples
    dashed: bool = False  # the previous period drawn beside the current one


@dataclass
class Chart:
    key: str  # unique on its page: the element id and the value of ?export=
    kind: str  # one of KINDS
    title: str
    categories: list[str]  # x-axis labels (line, bar, stacked), y-axis labels (hbar), slice names (pie), stages (funnel), heatmap columns
    series: list[Series]
    y_categories: list[str] = field(default_factory=list)  # heatmap rows
    money: bool = False  # values are money (axis and table show ¥ and two places)
    percent: bool = False  # values are percentages (0-100)
    drill: list[str] = field(default_factory=list)  # per category, the URL a click opens (empty: no drill-down)
    note: str = ""  # one line under the title: what is counted (the metric's definition in docs/analytics.md)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown chart kind {self.kind!r}")

    @property
    def empty(self) -> bool:
        return not any(
            any(value for value in (point[2] if isinstance(point, list | tuple) else point for point in s.data)) for s in self.series
        )

    def table(self) -> tuple[list[str], list[list]]:
        """(header, rows): the data as the table view and the XLSX export show it."""
        if self.kind == "heatmap":
            header = ["", *self.categories]
            grid = [[0] * len(self.categories) for _ in self.y_categories]
            for x, y, value in self.series[0].data if self.series else []:
                grid[y][x] = value
            return header, [[label, *row] for label, row in zip(self.y_categories, grid, strict=True)]
        header = ["", *(s.name for s in self.series)]
        rows = [[category, *(s.data[i] if i < len(s.data) else None for s in self.series)] for i, category in enumerate(self.categories)]
        return header, rows


@dataclass
class Kpi:
    """A key figure with the previous period's value beside it ("+12.5% vs the previous 30 days")."""

    key: str
    label: str
    value: Number
    previous: Number | None = None
    money: bool = False
    percent: bool = False

    @property
    def change(self) -> float | None:
        """The change against the previous period, in percent; None when there is nothing to compare with."""
        if self.previous in (None, 0):
            return None
        return float((Decimal(str(self.value)) - Decimal(str(self.previous))) / abs(Decimal(str(self.previous))) * 100)
