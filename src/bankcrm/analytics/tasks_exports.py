"""Celery tasks of the exports. Each takes plain values and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from bankcrm.core.context import request_context


@shared_task(name="analytics.export_job_run")
def export_job_run_task(job_id: int) -> str:
    """Write the file of one export job (see services_exports.export_job_run)."""
    from .services_exports import export_job_run

    with request_context(channel="job"):
        return export_job_run(job_pk=job_id).status


@shared_task(name="analytics.export_jobs_purge")
def export_jobs_purge_task() -> int:
    """Delete the export files past their retention period."""
    from .services_exports import export_jobs_purge

    with request_context(channel="job"):
        return export_jobs_purge()
