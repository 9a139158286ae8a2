"""Celery task of the dashboards: the nightly snapshot of their daily aggregates.

``analytics.dashboards_refresh`` is safe to run twice: a day's snapshot is rebuilt whole, and
without a day only the days after the last snapshot (and today) are taken.
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
