"""``bankcrm analytics refresh-dashboards [--day D]``: snapshot the dashboards' daily
aggregates (balances per day × branch × portfolio × product category × currency, customers
per day × unit × portfolio × status).

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

ACTION = "refresh-dashboards"


def add_dashboard_actions(actions: Any) -> None:
    """Add ``refresh-dashboards`` to the ``bankcrm analytics`` actions."""
    refresh = actions.add_parser(ACTION, help=_("Snapshot the dashboards' daily aggregates."))
    refresh.add_argument(
        "--day", metavar="DATE", help=_("Take this day again (default: the days due).")
    )


def refresh_dashboards(options: dict[str, Any]) -> dict[str, Any]:
    """Run the refresh as the system; the JSON line's figures."""
    from .services_dashboards import dashboard_aggregates_refresh

    day = None
    if options.get("day"):
        try:
            day = dt.date.fromisoformat(options["day"])
        except ValueError:
            raise CommandError(
                _("%(option)s: enter a date as YYYY-MM-DD, not “%(value)s”.")
                % {"option": "--day", "value": options["day"]}
            ) from None
    started = time.monotonic()
    result = dashboard_aggregates_refresh(
        actor=SystemActor("analytics.refresh_dashboards"), day=day
    )
    return {**result.as_dict(), "seconds": round(time.monotonic() - started, 3)}
