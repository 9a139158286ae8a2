"""Marketing pages about segments (included in marketing/urls.py, namespace "marketing")."""

from __future__ import annotations

from django.urls import path

from . import views_segments as views

urlpatterns = [
    path("segments/", views.segment_list, name="segment_list"),
    path("segments/new/", views.segment_create, name="segment_create"),
    path("segments/count/", views.segment_count, name="segment_count"),
    path("segments/rule-row/", views.segment_rule_row, name="segment_rule_row"),
    path("segments/<int:pk>/", views.segment_detail, name="segment_detail"),
    path("segments/<int:pk>/edit/", views.segment_edit, name="segment_edit"),
    path("segments/<int:pk>/evaluate/", views.segment_evaluate, name="segment_evaluate"),
    path("segments/<int:pk>/archive/", views.segment_archive, name="segment_archive"),
]
