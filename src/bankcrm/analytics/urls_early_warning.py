"""URLs of the risk early-warning report (its exports are the catalogue's)."""

from __future__ import annotations

from django.urls import path

from . import views_early_warning

urlpatterns: list = [
    path(
        "reports/early-warnings/",
        views_early_warning.early_warning_page,
        name="report_early_warning",
    ),
]
