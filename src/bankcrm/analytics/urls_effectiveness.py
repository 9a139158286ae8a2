"""URLs of the campaign effectiveness and SLA performance reports (their exports are served
by the catalogue: ``reports/<key>/export.<fmt>``)."""

from __future__ import annotations

from django.urls import path

from . import views_effectiveness

urlpatterns: list = [
    path(
        "reports/campaign-effectiveness/",
        views_effectiveness.campaign_effectiveness_page,
        name="report_campaign_effectiveness",
    ),
    path(
        "reports/service-levels/",
        views_effectiveness.service_levels_page,
        name="report_service_levels",
    ),
]
