"""Standard reports written as report-builder definitions (:mod:`bankcrm.analytics.builder`):
the transaction summaries (by month, type, channel, branch and counterparty country, inflow
and outflow apart), the loan book by delinquency bucket and the customers by segment and
status.

They are data like any saved report: each runs as one query on the rows the viewer may see,
with its period as parameters, and exports through the export engine (source
``analytics.standard_report``). An analyst who wants a variant opens one in the builder
("Copy to my reports") and saves it as their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from bankcrm.core.timefmt import bank_today

from .builder import validate_definition


@dataclass(frozen=True)
class StandardReport:
    key: str
    title: Any
    description: Any
    # The entity's view permission decides who sees rows; this one who sees the report.
    permission: str
    definition: dict[str, Any]


def _period(by: list[Any], aggregates: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A transaction summary over a booking period asked for when it runs."""
    return {
        "entity": "transactions",
        "parameters": [
            {"name": "since", "type": "date", "label": gettext_noop("Booked from")},
            {"name": "until", "type": "date", "label": gettext_noop("Booked until")},
        ],
        "filters": [
            {"field": "booking_date", "op": "gte", "param": "since"},
            {"field": "booking_date", "op": "lte", "param": "until"},
        ],
        "group_by": by,
        "aggregates": aggregates,
        **extra,
    }


_COUNT_AND_SUM = [{"fn": "count"}, {"fn": "sum", "field": "amount"}]


def _summary(key: str, title: Any, description: Any, field: str) -> StandardReport:
    """Bookings of the period grouped by ``field``, inflow and outflow apart, per currency:
    the most frequent first, charted as bars."""
    return StandardReport(
        key,
        title,
        description,
        "banking.view_transaction",
        _period(
            [field, "direction", "currency"],
            _COUNT_AND_SUM,
            sort=[{"key": "count", "desc": True}, {"key": field}],
            chart={"type": "bar", "x": field, "y": "count"},
        ),
    )


STANDARD_REPORTS: tuple[StandardReport, ...] = (
    StandardReport(
        "transactions-by-month",
        _("Transactions by month"),
        _("Bookings per month, inflow and outflow apart, per currency: count and amount."),
        "banking.view_transaction",
        _period(
            [{"field": "booking_date", "by": "month"}, "direction", "currency"],
            _COUNT_AND_SUM,
            sort=[{"key": "booking_date__month"}],
            chart={"type": "line", "x": "booking_date__month", "y": "sum_amount"},
        ),
    ),
    _summary(
        "transactions-by-type",
        _("Transactions by type"),
        _("Bookings per type (salary, card payment, transfer …) and direction, per currency."),
        "kind",
    ),
    _summary(
        "transactions-by-channel",
        _("Transactions by channel"),
        _("Bookings per channel (branch, ATM, online, card …) and direction, per currency."),
        "channel",
    ),
    _summary(
        "transactions-by-branch",
        _("Transactions by branch"),
        _("Bookings per branch of the account and direction, per currency."),
        "account.branch",
    ),
    _summary(
        "transactions-by-country",
        _("Transactions by counterparty country"),
        _("Bookings per counterparty country and direction, per currency (cross-border flows)."),
        "counterparty_country",
    ),
    StandardReport(
        "loans-by-bucket",
        _("Loan book by delinquency bucket"),
        _("Loans per delinquency bucket and currency: count, outstanding principal, arrears."),
        "lending.view_loan",
        {
            "entity": "loans",
            "filters": [{"field": "status", "op": "not_in", "value": ["closed", "written_off"]}],
            "group_by": ["bucket", "currency"],
            "aggregates": [
                {"fn": "count"},
                {"fn": "sum", "field": "outstanding_principal"},
                {"fn": "sum", "field": "arrears"},
            ],
            "sort": [{"key": "bucket"}],
            "chart": {"type": "bar", "x": "bucket", "y": "sum_outstanding_principal"},
        },
    ),
    StandardReport(
        "customers-by-segment",
        _("Customers by segment and status"),
        _("How many customers each segment holds, by status."),
        "customers.view_party",
        {
            "entity": "customers",
            "group_by": ["segment", "status"],
            "aggregates": [{"fn": "count"}],
            "sort": [{"key": "segment"}, {"key": "status"}],
            "chart": {"type": "bar", "x": "segment", "y": "count"},
        },
    ),
)


def standard_report(key: str) -> StandardReport | None:
    return next((report for report in STANDARD_REPORTS if report.key == key), None)


def default_parameters(report: StandardReport, today: dt.date | None = None) -> dict[str, str]:
    """The period a summary shows when none is given: the last twelve full months and this
    month so far."""
    names = {p["name"] for p in report.definition.get("parameters", [])}
    if not names:
        return {}
    day = today or bank_today()
    start = dt.date(day.year - 1, day.month, 1)
    return {"since": start.isoformat(), "until": day.isoformat()}


def check_standard_reports() -> None:
    """Every standard definition is valid (called by the tests; raises ValidationError)."""
    for report in STANDARD_REPORTS:
        validate_definition(report.definition)
