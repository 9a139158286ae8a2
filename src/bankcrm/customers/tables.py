"""Tables shared by the customer pages and their exports, and the 12-month cash-flow chart.

The chart is drawn on the server as inline SVG from the same monthly figures the page shows
as a table beside it: no script, nothing fetched, readable by a screen reader through the
table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from bankcrm.core.money import Money, format_money

__all__ = ["CashFlowChart", "MonthlyFlow", "cash_flow_chart", "last_twelve_months"]


@dataclass(frozen=True)
class MonthlyFlow:
    """Money in and out of a customer's accounts in one calendar month (base currency)."""

    month: dt.date  # the first day of the month
    inflow: Decimal
    outflow: Decimal  # a positive amount

    @property
    def net(self) -> Decimal:
        return self.inflow - self.outflow


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the amount, for the bar's tooltip


@dataclass(frozen=True)
class ChartMonth:
    flow: MonthlyFlow
    label_x: float
    inflow: ChartBar
    outflow: ChartBar


@dataclass(frozen=True)
class ChartTick:
    y: float
    label: str


@dataclass(frozen=True)
class CashFlowChart:
    """Geometry of the SVG bar chart (a viewBox of ``width`` x ``height`` units)."""

    width: int
    height: int
    plot_left: int
    plot_bottom: int
    months: tuple[ChartMonth, ...]
    ticks: tuple[ChartTick, ...]
    currency: str
    is_empty: bool


def last_twelve_months(today: dt.date) -> list[dt.date]:
    """First days of the twelve calendar months ending with ``today``'s, oldest first."""
    months = []
    year, month = today.year, today.month
    for _ in range(12):
        months.append(dt.date(year, month, 1))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(months))


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (a readable axis top)."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    base = Decimal(10) ** exponent
    for step in (Decimal(1), Decimal("2"), Decimal("2.5"), Decimal(5), Decimal(10)):
        if value <= step * base:
            return (step * base).quantize(Decimal(1), rounding=ROUND_CEILING) or step * base
    return Decimal(10) * base


def _short_amount(value: Decimal) -> str:
    """Axis labels: 1.5k, 20k, 3M, without currency (the axis title says it)."""
    magnitude = abs(value)
    for limit, suffix in ((Decimal(1_000_000_000), "B"), (Decimal(1_000_000), "M")):
        if magnitude >= limit:
            return f"{(value / limit).normalize():f}{suffix}"
    if magnitude >= 1000:
        return f"{(value / 1000).normalize():f}k"
    return f"{value.normalize():f}"


def cash_flow_chart(flows: list[MonthlyFlow], currency: str) -> CashFlowChart:
    """Lay out paired bars (in, out) per month on a shared axis starting at zero."""
    width, height = 720, 260
    plot_left, plot_right, plot_top, plot_bottom = 56, 712, 12, 224
    plot_height = plot_bottom - plot_top
    highest = max([f.inflow for f in flows] + [f.outflow for f in flows] + [Decimal(0)])
    top = _nice_ceiling(highest)
    slot = (plot_right - plot_left) / max(len(flows), 1)
    bar_width = slot * 0.36
    months = []
    for index, flow in enumerate(flows):
        left = plot_left + index * slot + slot * 0.12

        def bar(x: float, amount: Decimal) -> ChartBar:
            h = float(amount / top) * plot_height if top else 0.0
            return ChartBar(
                x=round(x, 2),
                y=round(plot_bottom - h, 2),
                width=round(bar_width, 2),
                height=round(h, 2),
                label=format_money(Money(amount, currency)),
            )

        months.append(
            ChartMonth(
                flow=flow,
                label_x=round(plot_left + index * slot + slot / 2, 2),
                inflow=bar(left, flow.inflow),
                outflow=bar(left + bar_width, flow.outflow),
            )
        )
    ticks = tuple(
        ChartTick(
            y=round(plot_bottom - plot_height * i / 4, 2),
            label=_short_amount(top * i / 4),
        )
        for i in range(5)
    )
    return CashFlowChart(
        width=width,
        height=height,
        plot_left=plot_left,
        plot_bottom=plot_bottom,
        months=tuple(months),
        ticks=ticks,
        currency=currency,
        is_empty=highest == 0,
    )
