"""The product holding and channel usage report: its page and the customers behind each
figure (exports: ``analytics:report_export`` with the keys ``product_holding`` and
``product_holding_customers``, built by :mod:`bankcrm.analytics.documents_product_holding`).

The page, the customer lists and the exports read the same selectors
(:mod:`bankcrm.analytics.selectors_product_holding`) with the viewer's scope and the same
filters: the as-of day, the channel-usage period, a unit within the viewer's reach and a
segment. Pages need ``analytics.view_report``; exports ``analytics.export_report``.
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

from bankcrm.core.money import Money, format_money

from .charts import ChartRow, bar_chart, figure
from .documents_product_holding import (
    FILTER_NAMES,
    ProductHoldingFilterForm,
    apply_errors,
    channel_rows,
    digital_definition,
    list_title,
)
from .selectors_product_holding import (
    CATEGORIES,
    HOLDING_KINDS,
    LIST_LIMIT,
    MAX_PERIOD_DAYS,
    ProductHoldingReport,
    category_label,
    product_holding_customer_list,
    product_holding_report,
)
from .views_reports import VIEW_PERMISSION, is_partial, report_export_links, require_permission

REPORT_KEY = "product_holding"
CUSTOMERS_KEY = "product_holding_customers"


def money_text(amount: Decimal | None, currency: str) -> str:
    """An amount as people read it in the active language (``CNY 1,234.50``, ``¥1,234.50``)."""
    if amount is None:
        return "—"
    try:
        return format_money(Money(amount, currency))
    except (TypeError, ValueError):
        return f"{amount} {currency}".strip()


def customers_url(report: ProductHoldingReport, kind: str, **extra: Any) -> str:
    """The list of the customers behind a figure, with the report's filters."""
    query = {**report.parameters(), "kind": kind, **extra}
    query = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{reverse('analytics:report_product_holding_customers')}?{urlencode(query)}"


def _holding_context(report: ProductHoldingReport) -> dict[str, Any]:
    holdings = report.holdings
    if holdings is None:
        return {}
    lines = [
        {
            "line": line,
            "url": (
                customers_url(report, "holding", category=line.category, currency=line.currency)
                if line.is_known_category
                else ""
            ),
            "balance": money_text(line.balance, line.currency),
            "average": money_text(line.average_balance, line.currency),
        }
        for line in holdings.lines
    ]
    buckets = [
        {"bucket": bucket, "url": customers_url(report, "products", number=bucket.number)}
        for bucket in holdings.buckets
    ]
    matrix = [
        {
            "row": row,
            "cells": [
                {
                    "cell": cell,
                    "url": customers_url(report, "cross", category=cell.category, other=cell.other),
                }
                for cell in row.cells
            ],
        }
        for row in holdings.matrix
    ]
    chart = _bucket_chart(
        _("Customers by number of product categories held"), _("Product categories held"), buckets
    )
    return {
        "holding_lines": lines,
        "product_buckets": buckets,
        "cross_rows": matrix,
        "cross_headings": [category_label(code) for code in CATEGORIES],
        "products_chart": chart,
    }


def _bucket_chart(title: str, category_label: str, buckets: list[dict[str, Any]]) -> Any:
    """Customers per bucket (products held, channels used) as bars, each opening its list."""
    return bar_chart(
        title=title,
        category_label=category_label,
        value_label=_("Customers"),
        rows=[
            ChartRow(item["bucket"].label, item["bucket"].customers, item["url"])
            for item in buckets
        ],
    )


def _channel_context(report: ProductHoldingReport) -> dict[str, Any]:
    channels = report.channels
    if channels is None:
        return {}
    rows = []
    for row in channel_rows(channels):
        line = row["channel"]
        rows.append(
            {
                **row,
                "url": customers_url(report, "channel", channel=line.channel),
                "currency_url": (
                    customers_url(report, "channel", channel=line.channel, currency=row["currency"])
                    if row["currency"]
                    else ""
                ),
                "money_in_text": money_text(row["money_in"], row["currency"])
                if row["currency"]
                else "—",
                "money_out_text": money_text(row["money_out"], row["currency"])
                if row["currency"]
                else "—",
                "is_first": not rows or rows[-1]["channel"] is not line,
            }
        )
    buckets = [
        {"bucket": bucket, "url": customers_url(report, "channels", number=bucket.number)}
        for bucket in channels.buckets
    ]
    chart = bar_chart(
        title=_("Customers who used each channel"),
        category_label=_("Channel"),
        value_label=_("Customers"),
        rows=[
            ChartRow(
                line.label,
                line.customers,
                customers_url(report, "channel", channel=line.channel),
                tone="low" if line.is_digital else "",
            )
            for line in channels.lines
        ],
    )
    bucket_chart = _bucket_chart(
        _("Customers by number of channels used"), _("Channels used"), buckets
    )
    return {
        "channel_rows": rows,
        "channel_buckets": buckets,
        "channel_chart": chart,
        "channel_bucket_chart": bucket_chart,
        "digital_only_url": customers_url(report, "digital_only"),
        "branch_only_url": customers_url(report, "branch_only"),
        "all_channel_customers_url": customers_url(report, "channels"),
        "digital_definition": digital_definition(),
    }


@login_required
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """Which product categories the customers hold, and which channels they use."""
    require_permission(request, VIEW_PERMISSION)
    form = ProductHoldingFilterForm(request.GET, actor=request.user)
    report = None
    if form.is_valid():
        try:
            report = product_holding_report(actor=request.user, **form.selection())
        except ValidationError as error:
            apply_errors(form, error)
    context: dict[str, Any] = {
        "form": form,
        "report": report,
        "max_period_days": MAX_PERIOD_DAYS,
        "export_links": report_export_links(request, REPORT_KEY),
    }
    if report is not None:
        context.update(
            {
                "customers_display": figure(report.customers),
                "all_customers_url": customers_url(report, "products"),
                **_holding_context(report),
                **_channel_context(report),
            }
        )
    template = (
        "analytics/reports/product_holding_body.html"
        if is_partial(request)
        else "analytics/reports/product_holding.html"
    )
    return render(request, template, context)


@login_required
@require_GET
def customers_page(request: HttpRequest) -> HttpResponse:
    """The customers behind one figure of the report (the first ones on the page, all of
    them in the exports). 403 when the figure's part is out of the viewer's reach."""
    require_permission(request, VIEW_PERMISSION)
    form = ProductHoldingFilterForm(request.GET, actor=request.user)
    customers: list[Any] = []
    title = _("Customers")
    kind = "products"
    if form.is_valid():
        figure_arguments = form.figure()
        kind = figure_arguments["kind"]
        try:
            customers = product_holding_customer_list(
                actor=request.user,
                limit=LIST_LIMIT + 1,
                **form.selection(),
                **figure_arguments,
            )
            title = list_title(figure_arguments)
        except ValidationError as error:
            apply_errors(form, error)
    back = {
        key: value
        for key, value in (form.parameters() if form.is_valid() else {}).items()
        if key in FILTER_NAMES
    }
    context = {
        "form": form,
        "title": title,
        "is_holding": kind in HOLDING_KINDS,
        "customers": customers[:LIST_LIMIT],
        "is_cut": len(customers) > LIST_LIMIT,
        "limit": LIST_LIMIT,
        "back_url": f"{reverse('analytics:report_product_holding')}?{urlencode(back)}",
        "export_links": report_export_links(request, CUSTOMERS_KEY) if form.is_valid() else [],
    }
    return render(request, "analytics/reports/product_holding_customers.html", context)


__all__ = ["customers_page", "customers_url", "money_text", "page"]
