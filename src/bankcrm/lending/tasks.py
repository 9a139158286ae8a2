"""Celery tasks of loan servicing. Each takes plain values, calls one service and is safe to
run twice (a re-run of a delinquency chunk for the same day records nothing again)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import group, shared_task
from django.conf import settings

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.timefmt import bank_today

FIGURES = ("updated", "changes", "deteriorations", "improvements")


@shared_task(name="lending.delinquency_chunk")
def delinquency_chunk(
    as_of: str, low: str | None, high: str | None, actor_name: str
) -> dict[str, int]:
    """Recalculate the open loans with keys in [low, high) as of ``as_of`` (ISO date)."""
    from .services_loans import delinquency_recalculate

    with request_context(channel="job"):
        return delinquency_recalculate(
            actor=SystemActor(actor_name),
            as_of=dt.date.fromisoformat(as_of),
            pk_range=(low, high),
        )


@shared_task(name="lending.repayments_match", ignore_result=True)
def repayments_match(actor_name: str = "lending.repayments-match") -> int:
    """The nightly matching of repayment debits to loans (every open loan)."""
    from .services_loans import loan_repayments_match

    with request_context(channel="job"):
        return loan_repayments_match(actor=SystemActor(actor_name))


@shared_task(name="lending.nightly", ignore_result=True)
def servicing_nightly(chunk_size: int = 50_000) -> None:
    """The night's servicing, in order: match the day's repayments (and apply credit to
    instalments now due), recalculate delinquency as of today, then cancel the offers that
    lapsed."""
    from .services_applications import loan_application_offers_expire
    from .services_loans import delinquency_run, loan_repayments_match

    today = bank_today()
    with request_context(channel="job"):
        loan_repayments_match(actor=SystemActor("lending.nightly"), as_of=today)
        delinquency_run(actor=SystemActor("lending.nightly"), as_of=today, chunk_size=chunk_size)
        loan_application_offers_expire(actor=SystemActor("lending.nightly"), as_of=today)


def delinquency_chunks_run(
    *, as_of: dt.date, ranges: list[tuple[str | None, str | None]], actor_name: str
) -> dict[str, Any]:
    """Run one ``delinquency_chunk`` task per key range as a Celery group.

    With a broker the chunks are queued for the workers (which may run them in parallel)
    and the figures come back with each task's result, not here. Without one (the embedded
    default and the tests) they run in this process, one after the other, and their figures
    are added up.
    """
    job = group(
        delinquency_chunk.s(as_of.isoformat(), low, high, actor_name) for low, high in ranges
    )
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        results = [item.get() for item in job.apply().results]
        return {name: sum(result[name] for result in results) for name in FIGURES}
    job.apply_async()
    return {"queued": len(ranges)}
