"""Celery tasks of credit risk. Each takes plain values, calls the services and is safe to
run twice (a second nightly run on the same day adds a second run of scores, it changes
none; outcomes already marked stay as they are)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from celery import shared_task

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.timefmt import bank_today

logger = logging.getLogger(__name__)


def nightly(*, as_of: dt.date | None = None) -> dict[str, Any]:
    """The night's credit risk work, after lending's servicing: mark the outcomes of scored
    applications whose loans' fate is now known, then score every customer with the
    production behaviour model (skipped, and said so, when none is in production)."""
    from .models import Purpose
    from .selectors import production_model
    from .services_monitoring import score_outcomes_update
    from .services_scoring import behaviour_scores_nightly

    as_of = as_of or bank_today()
    figures: dict[str, Any] = {"as_of": as_of.isoformat()}
    with request_context(channel="job"):
        figures["outcomes_changed"] = score_outcomes_update(
            as_of=as_of, actor=SystemActor("risk.nightly")
        )
        if production_model(Purpose.BEHAVIOUR) is None:
            logger.info("risk nightly: no behaviour model in production, no customer scored")
            figures["behaviour_run"] = None
            figures["behaviour_rows"] = 0
            return figures
        run = behaviour_scores_nightly(as_of=as_of, actor=SystemActor("risk.nightly"))
    figures["behaviour_run"] = run.pk
    figures["behaviour_rows"] = run.rows
    figures["seconds"] = run.seconds
    return figures


@shared_task(name="risk.nightly")
def risk_nightly(as_of: str | None = None) -> dict[str, Any]:
    """The nightly credit risk job (``as_of``: ISO date, default today)."""
    return nightly(as_of=dt.date.fromisoformat(as_of) if as_of else None)


@shared_task(name="risk.monitoring_run")
def monitoring_run_task(
    version_pk: int, period_start: str, period_end: str, actor_name: str = "risk.monitoring"
) -> int:
    """Monitor a model version over a period (ISO dates); returns the report's key."""
    from .models import ModelVersion
    from .services_monitoring import monitoring_run

    version = ModelVersion.objects.get(pk=version_pk)
    with request_context(channel="job"):
        report = monitoring_run(
            actor=SystemActor(actor_name),
            version=version,
            period_start=dt.date.fromisoformat(period_start),
            period_end=dt.date.fromisoformat(period_end),
        )
    return report.pk
