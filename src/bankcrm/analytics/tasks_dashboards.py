"""Celery tasks of the dashboards and reports' nightly aggregates.

``analytics.dashboards_refresh`` is safe to run twice: a day's snapshot is rebuilt whole, and
without a day only the days after the last snapshot (and today) are taken.
``analytics.transaction_summary_refresh`` is too: a run replaces the earlier summary; and
``analytics.rfm_refresh``: a run replaces the earlier runs of its scope and day.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context


@shared_task(name="analytics.dashboards_refresh", ignore_result=True)
def dashboards_refresh(day: str | None = None) -> dict[str, Any]:
    """Snapshot the dashboards' balances and customer counts (``day``: YYYY-MM-DD)."""
    import datetime as dt

    from .services_dashboards import dashboard_aggregates_refresh

    with request_context(channel="job"):
        result = dashboard_aggregates_refresh(
            actor=SystemActor("analytics.dashboards_refresh"),
            day=dt.date.fromisoformat(day) if day else None,
        )
    return result.as_dict()


@shared_task(name="analytics.transaction_summary_refresh", ignore_result=True)
def transaction_summary_refresh(through: str | None = None) -> dict[str, Any]:
    """Summarise the bookings up to ``through`` (YYYY-MM-DD; default yesterday)."""
    import datetime as dt

    from .services_transaction_summary import transaction_summary_refresh as refresh

    with request_context(channel="job"):
        run = refresh(
            actor=SystemActor("analytics.transaction_summary_refresh"),
            through=dt.date.fromisoformat(through) if through else None,
        )
    return {"through": run.through.isoformat(), "rows": run.row_count}


@shared_task(name="analytics.rfm_refresh", ignore_result=True)
def rfm_refresh(as_of: str | None = None) -> dict[str, Any]:
    """Store every customer's RFM scores (``as_of``: YYYY-MM-DD; default today)."""
    import datetime as dt

    from .services_rfm import rfm_refresh as refresh

    with request_context(channel="job"):
        return refresh(
            actor=SystemActor("analytics.rfm_refresh"),
            as_of=dt.date.fromisoformat(as_of) if as_of else None,
        )
