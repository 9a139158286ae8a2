"""URLs of the reports, their exports and the viewer's export jobs."""

from __future__ import annotations

from django.urls import path

from . import views_reports

urlpatterns: list = [
    path("reports/", views_reports.report_index, name="report_index"),
    path("reports/rfm/", views_reports.rfm_report_page, name="report_rfm"),
    path(
        "reports/rfm/customers/",
        views_reports.rfm_customers_page,
        name="report_rfm_customers",
    ),
    path("reports/churn/", views_reports.churn_report_page, name="report_churn"),
    path(
        "reports/<slug:key>/export.<str:fmt>",
        views_reports.report_export,
        name="report_export",
    ),
    path("exports/", views_reports.export_job_list_page, name="export_job_list"),
    path(
        "exports/<int:pk>/download/",
        views_reports.export_job_download,
        name="export_job_download",
    ),
]
