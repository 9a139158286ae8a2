"""URLs of the audit and personal-data access report for auditors (export:
``analytics:report_export`` with the key ``oversight``)."""

from __future__ import annotations

from django.urls import path

from . import views_oversight

urlpatterns = [
    path("reports/oversight/", views_oversight.page, name="report_oversight"),
]
