"""The analytics module's Celery tasks, kept by subject in tasks_*.py; Celery's autodiscovery
imports this module, which registers them all."""

from .tasks_dashboards import dashboards_refresh, rfm_refresh, transaction_summary_refresh
from .tasks_early_warning import early_warnings_refresh
from .tasks_exports import export_job_run_task, export_jobs_purge_task
from .tasks_schedules import report_schedules_send

__all__ = [
    "dashboards_refresh",
    "early_warnings_refresh",
    "export_job_run_task",
    "export_jobs_purge_task",
    "report_schedules_send",
    "rfm_refresh",
    "transaction_summary_refresh",
]
