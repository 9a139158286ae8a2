"""``bankcrm analytics refresh-dashboards [--day D]``: snapshot the dashboards' daily
aggregates (balances per day × branch × portfolio × product category × currency, customers
per day × unit × portfolio × status). ``bankcrm analytics refresh-early-warnings [--as-of D]``:
store the early-warning report's account-based signals (one JSON line ``{"as_of", "runs",
"seconds"}``; see :mod:`bankcrm.analytics.services_early_warning`). ``bankcrm analytics
refresh-transaction-summary [--through D]``: summarise the bookings up to that day (default
yesterday) for the transaction reports (one JSON line ``{"through", "rows", "transactions",
"seconds"}``; see :mod:`bankcrm.analytics.services_transaction_summary`). ``bankcrm analytics
refresh-rfm [--as-of D]``: store every customer's RFM scores for the bank and each unit read
whole (one JSON line ``{"as_of", "runs", "seconds"}``; see
:mod:`bankcrm.analytics.services_rfm`).

Without ``--day`` the refresh is incremental: the days after the last snapshot, up to today.
With ``--day`` that day alone is taken again. Prints one JSON line ``{"days", "balance_rows",
"customer_rows", "seconds"}``.

An action group of ``bankcrm analytics`` (see
:mod:`bankcrm.analytics.management.commands.analytics`).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today

ACTION = "refresh-dashboards"
EARLY_WARNINGS_ACTION = "refresh-early-warnings"
SUMMARY_ACTION = "refresh-transaction-summary"
RFM_ACTION = "refresh-rfm"


def add_dashboard_actions(actions: Any) -> None:
    """Add ``refresh-dashboards`` to the ``bankcrm analytics`` actions."""
    refresh = actions.add_parser(ACTION, help=_("Snapshot the dashboards' daily aggregates."))
    refresh.add_argument(
        "--day", metavar="DATE", help=_("Take this day again (default: the days due).")
    )
    warnings = actions.add_parser(
        EARLY_WARNINGS_ACTION, help=_("Store the early-warning report's account signals.")
    )
    warnings.add_argument("--as-of", metavar="DATE", help=_("The day (default: today)."))
    rfm = actions.add_parser(RFM_ACTION, help=_("Store every customer's RFM scores."))
    rfm.add_argument("--as-of", metavar="DATE", help=_("The day (default: today)."))
    summary = actions.add_parser(
        SUMMARY_ACTION, help=_("Summarise the bookings for the transaction reports.")
    )
    summary.add_argument(
        "--through", metavar="DATE", help=_("The last day summarised (default: yesterday).")
    )


def _day(options: dict[str, Any], name: str) -> dt.date | None:
    value = options.get(name.lstrip("-").replace("-", "_"))
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("%(option)s: enter a date as YYYY-MM-DD, not “%(value)s”.")
            % {"option": name, "value": value}
        ) from None


def refresh_dashboards(options: dict[str, Any]) -> dict[str, Any]:
    """Run the refresh as the system; the JSON line's figures."""
    from .services_dashboards import dashboard_aggregates_refresh

    day = _day(options, "--day")
    started = time.monotonic()
    result = dashboard_aggregates_refresh(
        actor=SystemActor("analytics.refresh_dashboards"), day=day
    )
    return {**result.as_dict(), "seconds": round(time.monotonic() - started, 3)}


def refresh_early_warnings(options: dict[str, Any]) -> dict[str, Any]:
    """Run the early-warning refresh as the system; the JSON line's figures."""
    from .services_early_warning import early_warnings_refresh

    as_of = _day(options, "--as-of")
    started = time.monotonic()
    result = early_warnings_refresh(
        actor=SystemActor("analytics.refresh_early_warnings"), as_of=as_of
    )
    return {**result.as_dict(), "seconds": round(time.monotonic() - started, 3)}


def refresh_transaction_summary(options: dict[str, Any]) -> dict[str, Any]:
    """Run the transaction summary as the system; the JSON line's figures."""
    from .services_transaction_summary import transaction_summary_refresh

    through = _day(options, "--through")
    started = time.monotonic()
    run = transaction_summary_refresh(
        actor=SystemActor("analytics.refresh_transaction_summary"), through=through
    )
    return {
        "through": run.through.isoformat(),
        "rows": run.row_count,
        "transactions": run.transaction_count,
        "seconds": round(time.monotonic() - started, 3),
    }


def refresh_rfm(options: dict[str, Any]) -> dict[str, Any]:
    """Run the RFM scoring as the system; the JSON line's figures."""
    from .services_rfm import rfm_refresh

    as_of = _day(options, "--as-of")
    started = time.monotonic()
    runs = rfm_refresh(actor=SystemActor("analytics.refresh_rfm"), as_of=as_of)
    return {
        "as_of": (as_of or bank_today()).isoformat(),
        "runs": runs,
        "seconds": round(time.monotonic() - started, 3),
    }


# The refresh actions of ``bankcrm analytics``: action → handler of the parsed options.
REFRESH_ACTIONS = {
    ACTION: refresh_dashboards,
    EARLY_WARNINGS_ACTION: refresh_early_warnings,
    SUMMARY_ACTION: refresh_transaction_summary,
    RFM_ACTION: refresh_rfm,
}
