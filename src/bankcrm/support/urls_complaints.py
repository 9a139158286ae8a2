"""Complaint pages under /support/complaints/: the register and its downloads, and the
complaint panel of a case with its forms."""

from __future__ import annotations

from django.urls import path

from . import views_complaints as views

urlpatterns = [
    path("complaints/", views.complaints_register, name="complaints_register"),
    path("complaints/register.csv", views.complaints_register_csv, name="complaints_register_csv"),
    path(
        "complaints/register.xlsx",
        views.complaints_register_xlsx,
        name="complaints_register_xlsx",
    ),
    path("complaints/cases/<uuid:case_pk>/", views.complaint_panel, name="complaint_panel"),
    path(
        "complaints/cases/<uuid:case_pk>/update/",
        views.complaint_update,
        name="complaint_update",
    ),
    path(
        "complaints/cases/<uuid:case_pk>/extend/",
        views.complaint_extend,
        name="complaint_extend",
    ),
    path(
        "complaints/cases/<uuid:case_pk>/redress/",
        views.complaint_redress,
        name="complaint_redress",
    ),
    path(
        "complaints/cases/<uuid:case_pk>/redress/decide/",
        views.complaint_redress_decide,
        name="complaint_redress_decide",
    ),
    path(
        "complaints/cases/<uuid:case_pk>/redress/paid/",
        views.complaint_redress_paid,
        name="complaint_redress_paid",
    ),
]
