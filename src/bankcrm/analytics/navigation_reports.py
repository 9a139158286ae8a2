"""Navigation entries of the reports: the report index (to those who may view reports) and
one's own export jobs (to anyone signed in: each sees their own)."""

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
    permission=None,
    order=96,
    icon="file",
    section=SECTION,
)
