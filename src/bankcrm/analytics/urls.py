"""Analytics pages for staff, under /analytics/: the role dashboards, the reports, the
report builder with its saved reports, and the report schedules."""

from __future__ import annotations

from . import urls_builder, urls_dashboards, urls_reports

app_name = "analytics"
urlpatterns = [
    *urls_dashboards.urlpatterns,
    *urls_reports.urlpatterns,
    *urls_builder.urlpatterns,
]
