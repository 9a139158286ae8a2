"""Charts of the dashboards, drawn on the server as SVG (no script, no asset from outside).

Each chart is also a table: the partial ``analytics/partials/chart.html`` draws the SVG and
then the same figures as a table, and every bar, point and cell links to the list of the
records behind it. Geometry is computed here, in SVG user units; values stay ``Decimal`` or
``int`` and are shown formatted for the viewer's language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.formats import number_format

# Horizontal bar charts.
BAR_HEIGHT = 20
BAR_GAP = 8
BAR_CHART_WIDTH = 480
BAR_LABEL_WIDTH = 170
BAR_VALUE_ROOM = 90
# Line charts.
LINE_WIDTH = 480
LINE_HEIGHT = 180
LINE_PAD_LEFT = 8
LINE_PAD_RIGHT = 8
LINE_PAD_TOP = 16
LINE_PAD_BOTTOM = 24


@dataclass(frozen=True)
class ChartRow:
    """One figure of a chart: its label, value, the value as shown, and its list's URL."""

    label: str
    value: Decimal | int
    url: str = ""
    display: str = ""
    tone: str = ""


@dataclass(frozen=True)
class ChartMark:
    """A row placed on the chart: a bar (x, y, width, height) or a point (cx, cy)."""

    row: ChartRow
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0
    cx: float = 0
    cy: float = 0
    text_y: float = 0


@dataclass(frozen=True)
class Chart:
    """A bar or line chart with the table that repeats its figures."""

    kind: str
    title: str
    category_label: str
    value_label: str
    marks: list[ChartMark]
    width: int
    height: int
    label_width: int = 0
    polyline: str = ""
    baseline_y: float = 0
    first_label: str = ""
    last_label: str = ""
    # A line's scale: the values at the top of the plot and at its bottom edge.
    top_y: float = 0
    high_label: str = ""
    low_label: str = ""

    @property
    def rows(self) -> list[ChartRow]:
        return [mark.row for mark in self.marks]

    @property
    def is_empty(self) -> bool:
        return not self.marks or all(not mark.row.value for mark in self.marks)


def figure(value: Decimal | int | None, decimals: int = 0) -> str:
    """A figure as the viewer reads it: grouped thousands in their language's format."""
    if value is None:
        return "—"
    return str(number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True))


def _rows(rows: Iterable[ChartRow | tuple[Any, ...]]) -> list[ChartRow]:
    result = []
    for row in rows:
        item = row if isinstance(row, ChartRow) else ChartRow(*row)
        if not item.display:
            item = ChartRow(
                label=str(item.label),
                value=item.value,
                url=item.url,
                display=figure(item.value),
                tone=item.tone,
            )
        result.append(item)
    return result


def bar_chart(
    *,
    title: Any,
    category_label: Any,
    value_label: Any,
    rows: Iterable[ChartRow | tuple[Any, ...]],
) -> Chart:
    """Horizontal bars scaled to the largest absolute value, one per row, in row order."""
    items = _rows(rows)
    largest = max((abs(Decimal(row.value)) for row in items), default=Decimal(0))
    span = BAR_CHART_WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_ROOM
    marks = []
    for index, row in enumerate(items):
        size = abs(Decimal(row.value))
        width = float(round(span * size / largest, 1)) if largest else 0.0
        y = index * (BAR_HEIGHT + BAR_GAP)
        marks.append(
            ChartMark(
                row=row,
                x=BAR_LABEL_WIDTH,
                y=y,
                width=max(width, 2.0) if size else 0.0,
                height=BAR_HEIGHT,
                text_y=y + BAR_HEIGHT - 6,
            )
        )
    height = max(len(marks) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP, BAR_HEIGHT)
    return Chart(
        kind="bar",
        title=str(title),
        category_label=str(category_label),
        value_label=str(value_label),
        marks=marks,
        width=BAR_CHART_WIDTH,
        height=height,
        label_width=BAR_LABEL_WIDTH,
    )


def line_chart(
    *,
    title: Any,
    category_label: Any,
    value_label: Any,
    rows: Iterable[ChartRow | tuple[Any, ...]],
) -> Chart:
    """A line through the rows in order (oldest first), scaled between the smallest and the
    largest value, zero always within (the baseline), with those two values written at the
    top and bottom of the scale; the first and last labels under it."""
    items = _rows(rows)
    values = [Decimal(row.value) for row in items]
    low = min([*values, Decimal(0)]) if values else Decimal(0)
    high = max([*values, Decimal(0)])
    if high == low:
        high = low + 1
    plot_width = LINE_WIDTH - LINE_PAD_LEFT - LINE_PAD_RIGHT
    plot_height = LINE_HEIGHT - LINE_PAD_TOP - LINE_PAD_BOTTOM
    step = plot_width / (len(items) - 1) if len(items) > 1 else 0
    marks = []
    for index, (row, value) in enumerate(zip(items, values, strict=True)):
        cx = round(LINE_PAD_LEFT + (index * step if len(items) > 1 else plot_width / 2), 1)
        cy = round(LINE_PAD_TOP + plot_height * float((high - value) / (high - low)), 1)
        marks.append(ChartMark(row=row, cx=cx, cy=cy))
    baseline = round(LINE_PAD_TOP + plot_height * float(high / (high - low)), 1)
    return Chart(
        kind="line",
        title=str(title),
        category_label=str(category_label),
        value_label=str(value_label),
        marks=marks,
        width=LINE_WIDTH,
        height=LINE_HEIGHT,
        polyline=" ".join(f"{mark.cx},{mark.cy}" for mark in marks),
        baseline_y=baseline,
        first_label=items[0].label if items else "",
        last_label=items[-1].label if items else "",
        top_y=LINE_PAD_TOP,
        high_label=figure(high),
        low_label=figure(low),
    )


__all__ = ["Chart", "ChartMark", "ChartRow", "bar_chart", "figure", "line_chart"]
