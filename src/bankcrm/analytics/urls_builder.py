"""URLs of the report builder, the saved reports and the report schedules."""

from __future__ import annotations

from django.urls import path

from . import views_builder, views_schedules

urlpatterns = [
    path("builder/", views_builder.builder, name="builder"),
    path("my-reports/", views_builder.saved_list, name="saved_list"),
    path("my-reports/import/", views_builder.saved_import, name="saved_import"),
    path("my-reports/<int:pk>/", views_builder.saved_run, name="saved_run"),
    path("my-reports/<int:pk>/edit/", views_builder.saved_edit, name="saved_edit"),
    path("my-reports/<int:pk>/definition.json", views_builder.saved_json, name="saved_json"),
    path("my-reports/<int:pk>/export.<str:fmt>", views_builder.saved_export, name="saved_export"),
    path("standard/<slug:key>/", views_builder.standard_run, name="standard_run"),
    path(
        "standard/<slug:key>/export.<str:fmt>",
        views_builder.standard_export,
        name="standard_export",
    ),
    path("schedules/", views_schedules.schedule_list, name="schedule_list"),
    path("schedules/new/", views_schedules.schedule_create, name="schedule_create"),
    path("schedules/<int:pk>/delete/", views_schedules.schedule_delete, name="schedule_delete"),
]
