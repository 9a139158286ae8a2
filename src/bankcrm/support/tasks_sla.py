"""Celery tasks of the case SLAs. Both are safe to run twice, and at the same time: the sweep
fires each warning and breach once (conditional updates), the recomputation writes the
same dues again.

``support.sla_sweep`` runs every ``BANKCRM_SUPPORT_SLA_SWEEP_SECONDS`` seconds (Celery beat,
``bankcrm.config.celery``); ``support.sla_recompute`` is run after a business calendar or
its holidays change.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from bankcrm.core.context import request_context


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("give the moment with its offset, e.g. 2026-10-09T09:00:00+08:00")
    return moment


@shared_task(name="support.sla_sweep", ignore_result=True)
def sla_sweep(now: str | None = None) -> dict[str, int]:
    """Raise the SLA warnings and breaches that fell due (``now``: ISO instant, default
    this moment)."""
    from .services_sla import sla_sweep as sweep

    with request_context(channel="job"):
        return sweep(now=_moment(now))


@shared_task(name="support.sla_recompute")
def sla_recompute(now: str | None = None, batch_size: int = 5000) -> int:
    """Recompute the dues of every open case; returns the cases whose dues moved."""
    from .services_sla import sla_recompute_open

    with request_context(channel="job"):
        return sla_recompute_open(now=_moment(now), batch_size=batch_size)
