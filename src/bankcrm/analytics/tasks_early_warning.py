"""Celery task of the risk early-warning report: the nightly run of its account-based
signals (``analytics.early_warnings_refresh``). Safe to run twice: a run replaces the
earlier runs of its account scope and day."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context


@shared_task(name="analytics.early_warnings_refresh", ignore_result=True)
def early_warnings_refresh(as_of: str | None = None) -> dict[str, Any]:
    """Compute and store the account-based early warnings (``as_of``: YYYY-MM-DD)."""
    import datetime as dt

    from .services_early_warning import early_warnings_refresh as refresh

    with request_context(channel="job"):
        result = refresh(
            actor=SystemActor("analytics.early_warnings_refresh"),
            as_of=dt.date.fromisoformat(as_of) if as_of else None,
        )
    return result.as_dict()
