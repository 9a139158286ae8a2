"""Marketing pages about campaign results: the effectiveness report and its CSV file."""

from __future__ import annotations

from django.urls import path

from . import views_reports as views

urlpatterns = [
    path("campaigns/<int:pk>/report/", views.campaign_report, name="campaign_report"),
    path("campaigns/<int:pk>/report.csv", views.campaign_report_csv, name="campaign_report_csv"),
]
