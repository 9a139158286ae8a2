"""Analytics pages for staff, under /analytics/: the role dashboards, the reports, the
report builder with its saved reports, and the report schedules."""

from __future__ import annotations

from . import (
    urls_acquisition,
    urls_builder,
    urls_dashboards,
    urls_early_warning,
    urls_effectiveness,
    urls_oversight,
    urls_portfolio,
    urls_product_holding,
    urls_reports,
)

app_name = "analytics"
urlpatterns = [
    *urls_dashboards.urlpatterns,
    *urls_reports.urlpatterns,
    *urls_builder.urlpatterns,
    *urls_early_warning.urlpatterns,
    *urls_portfolio.urlpatterns,
    *urls_acquisition.urlpatterns,
    *urls_oversight.urlpatterns,
    *urls_effectiveness.urlpatterns,
    *urls_product_holding.urlpatterns,
]
