"""Navigation entries of the reports: the report index and one's own export jobs (to those
who may view reports; anyone whose large list export became a job is taken to the job list
page, which shows each person their own jobs)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bankcrm.web.navigation import register_nav

SECTION = _("Analytics")

register_nav(
    "analytics.reports",
    _("Reports"),
    "analytics:report_index",
    permission="analytics.view_report",
    order=95,
    icon="chart",
    section=SECTION,
)
register_nav(
    "analytics.export_jobs",
    _("My exports"),
    "analytics:export_job_list",
    permission="analytics.view_report",
    order=96,
    icon="file",
    section=SECTION,
)
