"""The dashboards' SVG charts: geometry from the figures, every mark and table cell a link,
the table repeating the chart, and labels in the viewer's language."""

from __future__ import annotations

from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import translation

from bankcrm.analytics.charts import (
    BAR_CHART_WIDTH,
    BAR_LABEL_WIDTH,
    BAR_VALUE_ROOM,
    LINE_HEIGHT,
    LINE_PAD_BOTTOM,
    LINE_PAD_TOP,
    ChartRow,
    bar_chart,
    figure,
    line_chart,
)


def test_bars_are_scaled_to_the_largest_value():
    chart = bar_chart(
        title="Balances",
        category_label="Product",
        value_label="Balance",
        rows=[
            ChartRow("Current", Decimal("10000"), "/a?category=current"),
            ChartRow("Savings", Decimal("5000"), "/a?category=savings"),
            ChartRow("Loan", Decimal("-2500"), "/a?category=loan"),
            ChartRow("Wealth", 0, "/a?category=wealth"),
        ],
    )
    span = BAR_CHART_WIDTH - BAR_LABEL_WIDTH - BAR_VALUE_ROOM
    assert [mark.width for mark in chart.marks] == [span, span / 2, span / 4, 0.0]
    assert [mark.y for mark in chart.marks] == [0, 28, 56, 84]
    assert chart.height == 4 * 28 - 8
    assert [row.display for row in chart.rows] == ["10,000", "5,000", "-2,500", "0"]
    assert not chart.is_empty


def test_a_chart_of_zeros_is_empty():
    chart = bar_chart(title="T", category_label="C", value_label="V", rows=[("A", 0, "/x")])
    assert chart.is_empty
    # It says its figures are zero (the table of them follows), not that there are none.
    html = render_to_string("analytics/partials/chart.html", {"chart": chart, "chart_id": "z"})
    assert "Every figure is zero." in html and "Nothing to show." not in html
    none = bar_chart(title="T", category_label="C", value_label="V", rows=[])
    html = render_to_string("analytics/partials/chart.html", {"chart": none, "chart_id": "n"})
    assert "Nothing to show." in html


def test_line_points_run_oldest_to_newest_between_zero_and_the_top():
    chart = line_chart(
        title="AUM",
        category_label="Day",
        value_label="AUM",
        rows=[("1 Jun", 100, "/l"), ("2 Jun", 50, "/l"), ("3 Jun", 0, "/l")],
    )
    plot = LINE_HEIGHT - LINE_PAD_TOP - LINE_PAD_BOTTOM
    assert [mark.cy for mark in chart.marks] == [LINE_PAD_TOP, LINE_PAD_TOP + plot / 2, 156]
    assert chart.marks[0].cx == 8
    assert chart.marks[-1].cx == 472
    assert chart.polyline.split()[0] == "8.0,16.0"
    assert chart.baseline_y == LINE_PAD_TOP + plot
    assert (chart.first_label, chart.last_label) == ("1 Jun", "3 Jun")


def test_a_line_writes_its_scale_so_a_flat_line_reads_right():
    chart = line_chart(
        title="AUM",
        category_label="Day",
        value_label="AUM",
        rows=[("1 Jun", 42000, "/l"), ("2 Jun", 42000, "/l")],
    )
    # Flat at the top of the plot: the top is 42,000 and the bottom edge zero.
    assert [mark.cy for mark in chart.marks] == [LINE_PAD_TOP, LINE_PAD_TOP]
    assert (chart.high_label, chart.low_label) == ("42,000", "0")
    html = render_to_string("analytics/partials/chart.html", {"chart": chart, "chart_id": "c"})
    assert 'data-scale="high">42,000</text>' in html
    assert 'data-scale="low">0</text>' in html
    falling = line_chart(
        title="Net flow", category_label="Day", value_label="CNY", rows=[("1 Jun", -500, "")]
    )
    assert (falling.high_label, falling.low_label) == ("0", "-500")


def test_the_partial_draws_links_and_repeats_the_figures_as_a_table():
    chart = bar_chart(
        title="Open loans by delinquency bucket",
        category_label="Bucket",
        value_label="Loans",
        rows=[ChartRow("Current", 7, "/lending/loans/?bucket=current", tone="current")],
    )
    html = render_to_string("analytics/partials/chart.html", {"chart": chart, "chart_id": "c"})
    assert html.count('href="/lending/loans/?bucket=current"') == 2
    assert 'role="img"' in html
    assert '<table class="table table-sm mb-0 mt-2" id="c-table">' in html
    assert '<th scope="col">Bucket</th>' in html
    assert "bc-dash-bar-current" in html


def test_figures_follow_the_language():
    assert figure(Decimal("1234567.4")) == "1,234,567"
    assert figure(None) == "—"
    with translation.override("zh-hans"):
        empty = bar_chart(title="T", category_label="C", value_label="V", rows=[])
        html = render_to_string("analytics/partials/chart.html", {"chart": empty, "chart_id": "e"})
    assert "没有" in html or "无" in html
