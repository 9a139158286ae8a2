"""The portfolio quality report's pages: the report (NPL ratio and portfolio at risk, roll
rates, vintage curves) and the loans behind each of its figures.

Both need ``analytics.view_report`` and ``lending.view_loan`` (403 without); every figure is
read with the viewer's scope through :mod:`bankcrm.analytics.selectors_portfolio`, the same
selectors the exports read (:mod:`bankcrm.analytics.documents_portfolio`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from bankcrm.lending.models import Bucket

from .charts import figure
from .documents_portfolio import (
    PortfolioFilterForm,
    PortfolioLoanFilterForm,
    require_loan_permission,
    state_label,
)
from .selectors_portfolio import (
    DEFAULT_LIST_LIMIT,
    END_STATES,
    PortfolioReport,
    QualityFigures,
    Vintages,
    portfolio_loan_list,
    portfolio_report,
)
from .views_reports import VIEW_PERMISSION, is_partial, report_export_links, require_permission

# Vintage chart geometry (SVG user units) and the lines' colours and dash patterns: a
# cohort is told apart by both, and named in the legend and the table under the chart.
CHART_WIDTH = 480
CHART_HEIGHT = 220
CHART_LEFT = 44
CHART_RIGHT = 12
CHART_TOP = 12
CHART_BOTTOM = 28
PALETTE = ("#3b6ea8", "#b3361f", "#1b7a4b", "#8a5a00", "#6b3fa0", "#0f7c8c", "#a0306b", "#33414e")
DASHES = ("", "6 3", "2 3")


class Links:
    """URLs of the loan lists behind the figures: the report's filters plus the figure's."""

    def __init__(self, base: dict[str, Any]) -> None:
        self.base = base
        self.url = reverse("analytics:report_portfolio_loans")

    def __call__(self, **overrides: Any) -> str:
        query = {**self.base, **{key: value for key, value in overrides.items() if value}}
        return f"{self.url}?{urlencode(query)}" if query else self.url


def _short(code: str) -> str:
    """A bucket by its range of days (narrow headers), other states by their name."""
    return code if code[0].isdigit() else state_label(code)


def _share(value: Decimal | None) -> str:
    return "—" if value is None else f"{figure(value, 2)} %"


def _quality_line(figures: QualityFigures, links_to: Links, **group: Any) -> dict[str, Any]:
    """One group's figures in one currency, each count linked to its loans."""
    links = {
        measure: links_to(**group, currency=figures.currency, measure=measure)
        for measure in ("book", "npl", "par30", "par90", "written_off")
    }
    return {
        "figures": figures,
        "links": links,
        "npl_ratio": _share(figures.npl_ratio),
        "par30": _share(figures.par30),
        "par90": _share(figures.par90),
    }


def quality_view(report: PortfolioReport, links_to: Links, language: str) -> dict[str, Any]:
    quality = report.quality
    return {
        "totals": [_quality_line(item, links_to) for item in quality.totals],
        "products": [
            {
                "name": f"{group.name_for(language)} ({group.code})",
                "lines": [
                    _quality_line(item, links_to, product=group.pk) for item in group.figures
                ],
            }
            for group in quality.by_product
        ],
        "branches": [
            {
                "name": group.name,
                "lines": [_quality_line(item, links_to, branch=group.pk) for item in group.figures],
            }
            for group in quality.by_branch
        ],
    }


def roll_view(report: PortfolioReport, links_to: Links) -> list[dict[str, Any]]:
    """Each month's matrix, per currency: rows are the buckets at the start, columns the
    states at the end; each count linked to its loans."""
    matrices = []
    months = report.roll_rates.months
    latest = months[-1][1] if months else None
    for matrix in report.roll_rates.matrices:
        rows = []
        for row in matrix.rows:
            common = {"month": matrix.month, "currency": matrix.currency}
            rows.append(
                {
                    "bucket": row.bucket,
                    "label": state_label(row.bucket),
                    "short": _short(row.bucket),
                    "loans": row.loans,
                    "outstanding": row.outstanding,
                    "url": links_to(**common, from_bucket=row.bucket),
                    "cells": [
                        {
                            "cell": cell,
                            "loan_share": _share(cell.loan_share),
                            "outstanding_share": _share(cell.outstanding_share),
                            "url": links_to(**common, from_bucket=row.bucket, to_state=cell.state),
                        }
                        for cell in row.cells
                    ],
                }
            )
        matrices.append({"matrix": matrix, "rows": rows, "is_latest": matrix.end == latest})
    return matrices


def vintage_view(report: PortfolioReport, links_to: Links) -> list[dict[str, Any]]:
    """Cohort rows × months on book; each cell's counts linked to their loans."""
    cohorts = []
    for cohort in report.vintages.cohorts:
        common = {"cohort": cohort.label, "currency": cohort.currency}
        cells = [
            {
                "cell": cell,
                "share_30": _share(cell.share_30),
                "share_90": _share(cell.share_90),
                "amount_share_30": _share(cell.amount_share_30),
                "amount_share_90": _share(cell.amount_share_90),
                "url_30": links_to(**common, mob=cell.mob, threshold=30),
                "url_90": links_to(**common, mob=cell.mob, threshold=90),
            }
            for cell in cohort.cells
        ]
        cohorts.append({"cohort": cohort, "url": links_to(**common), "cells": cells})
    return cohorts


def _ceiling(value: Decimal) -> Decimal:
    """A round top for the vertical axis: 5, 10, 20, 25, 50 or 100 %."""
    for top in (5, 10, 20, 25, 50, 100):
        if value <= top:
            return Decimal(top)
    return Decimal(100)


def vintage_chart(vintages: Vintages, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The vintage curves as SVG geometry: one line per cohort (and currency) through the
    cumulative share of its loans more than 30 days past due, month on book by month on book,
    on one scale; each point linked to its loans."""
    mobs = vintages.mobs
    plot_width = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    shares = [
        cell.share_30
        for cohort in vintages.cohorts
        for cell in cohort.cells
        if cell.observed and cell.share_30 is not None
    ]
    top = _ceiling(max(shares, default=Decimal(0)))
    step = plot_width / (len(mobs) - 1) if len(mobs) > 1 else 0

    def x_of(mob: int) -> float:
        if len(mobs) == 1:
            return round(CHART_LEFT + plot_width / 2, 1)
        return round(CHART_LEFT + (mob - mobs[0]) * step, 1)

    def y_of(share: Decimal) -> float:
        return round(CHART_TOP + plot_height * float((top - share) / top), 1)

    several_currencies = len({cohort.currency for cohort in vintages.cohorts}) > 1
    series = []
    for index, row in enumerate(rows):
        cohort = row["cohort"]
        label = f"{cohort.label} {cohort.currency}" if several_currencies else cohort.label
        points = [
            {
                "cx": x_of(item["cell"].mob),
                "cy": y_of(item["cell"].share_30),
                "url": item["url_30"],
                "title": _("%(cohort)s, month on book %(mob)s: %(share)s")
                % {"cohort": label, "mob": item["cell"].mob, "share": item["share_30"]},
            }
            for item in row["cells"]
            if item["cell"].observed and item["cell"].share_30 is not None
        ]
        if not points:
            continue
        series.append(
            {
                "label": label,
                "color": PALETTE[index % len(PALETTE)],
                "dash": DASHES[(index // len(PALETTE)) % len(DASHES)],
                "polyline": " ".join(f"{point['cx']},{point['cy']}" for point in points),
                "points": points,
            }
        )
    ticks = [
        {"y": y_of(value), "label": f"{figure(value)} %"} for value in (Decimal(0), top / 2, top)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_WIDTH - CHART_RIGHT,
        "bottom": CHART_HEIGHT - CHART_BOTTOM,
        "label_y": CHART_HEIGHT - 8,
        "ticks": ticks,
        "mobs": [{"x": x_of(mob), "label": mob} for mob in mobs],
        "series": series,
        "is_empty": not series,
    }


@login_required
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """The portfolio quality report of the loans the viewer may see."""
    require_permission(request, VIEW_PERMISSION)
    require_loan_permission(request.user)
    form = PortfolioFilterForm(request.GET, actor=request.user)
    report = None
    context: dict[str, Any] = {"form": form}
    if form.is_valid():
        try:
            report = portfolio_report(actor=request.user, filters=form.filters())
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
    if report is not None:
        links_to = Links(form.parameters())
        language = request.LANGUAGE_CODE
        vintages = vintage_view(report, links_to)
        context.update(
            {
                "quality": quality_view(report, links_to, language),
                "rolls": roll_view(report, links_to),
                "vintages": vintages,
                "chart": vintage_chart(report.vintages, vintages),
                "end_states": [
                    {
                        "code": code,
                        "label": state_label(code),
                        "short": _short(code),
                        "is_bucket": code in Bucket.values,
                    }
                    for code in END_STATES
                ],
            }
        )
    context.update(
        {
            "report": report,
            "several_branches": form.has_several_branches,
            "export_links": report_export_links(request, "portfolio"),
        }
    )
    if is_partial(request):
        return render(request, "analytics/reports/portfolio_body.html", context)
    return render(request, "analytics/reports/portfolio.html", context)


@login_required
@require_GET
def loans(request: HttpRequest) -> HttpResponse:
    """The loans behind one figure of the report (the first ones; all in the exports)."""
    require_permission(request, VIEW_PERMISSION)
    require_loan_permission(request.user)
    form = PortfolioLoanFilterForm(request.GET, actor=request.user)
    rows: list[Any] = []
    title = _("Loans")
    drill = None
    if form.is_valid():
        drill = form.drill()
        title = form.title()
        queryset = portfolio_loan_list(actor=request.user, filters=form.filters(), drill=drill)
        rows = list(queryset[: DEFAULT_LIST_LIMIT + 1])
        for loan in rows:
            loan.day_bucket_label = state_label(loan.day_bucket)
            loan.end_state_label = state_label(getattr(loan, "end_state", "") or "")
    context = {
        "form": form,
        "title": title,
        "kind": drill.kind if drill else "",
        "loans": rows[:DEFAULT_LIST_LIMIT],
        "is_cut": len(rows) > DEFAULT_LIST_LIMIT,
        "limit": DEFAULT_LIST_LIMIT,
        "report_url": _report_url(form),
        "export_links": report_export_links(request, "portfolio_loans") if form.is_valid() else [],
    }
    return render(request, "analytics/reports/portfolio_loans.html", context)


def _report_url(form: PortfolioFilterForm) -> str:
    url = reverse("analytics:report_portfolio")
    if not form.is_valid():
        return url
    base = {
        key: value
        for key, value in form.parameters().items()
        if key in PortfolioFilterForm.FILTER_NAMES
    }
    return f"{url}?{urlencode(base)}" if base else url
