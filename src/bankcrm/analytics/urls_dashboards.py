"""URLs of the dashboards."""

from __future__ import annotations

from django.urls import path

from . import views_dashboards as views

urlpatterns: list = [
    path("dashboards/", views.dashboard_index, name="dashboards"),
    path("dashboards/relationship/", views.dashboard_relationship, name="dashboard_relationship"),
    path("dashboards/branch/", views.dashboard_branch, name="dashboard_branch"),
    path("dashboards/executive/", views.dashboard_executive, name="dashboard_executive"),
    path(
        "dashboards/units/<int:pk>/customers/",
        views.dashboard_unit_customers,
        name="dashboard_unit_customers",
    ),
    path("dashboards/compliance/", views.dashboard_compliance, name="dashboard_compliance"),
]
