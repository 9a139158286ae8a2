"""Celery task of the report schedules (on the beat every five minutes)."""

from __future__ import annotations

from celery import shared_task

from bankcrm.core.context import request_context


@shared_task(name="analytics.report_schedules_send")
def report_schedules_send() -> int:
    """Send the report schedules that are due (see services_report_schedules)."""
    from .services_report_schedules import report_schedules_run_due

    with request_context(channel="job"):
        return report_schedules_run_due()
