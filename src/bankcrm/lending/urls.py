"""Lending pages, under /lending/."""

from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "lending"
urlpatterns = [
    # The board has its own address, so that the navigation marks only it as the current
    # page (every lending page lies below /lending/).
    path("", RedirectView.as_view(pattern_name="lending:board"), name="index"),
    path("pipeline/", views.board, name="board"),
    path("applications/", views.application_list, name="application_list"),
    path("applications/new/", views.application_create, name="application_create"),
    path("applications/customers/", views.applicant_search, name="applicant_search"),
    path("applications/accounts/", views.applicant_accounts, name="applicant_accounts"),
    path("applications/<uuid:pk>/", views.application_detail, name="application_detail"),
    path(
        "applications/<uuid:pk>/step/",
        views.application_transition,
        name="application_transition",
    ),
    path(
        "applications/<uuid:pk>/underwrite/",
        views.application_underwrite,
        name="application_underwrite",
    ),
    path("applications/<uuid:pk>/notes/", views.application_notes, name="application_notes"),
    path("applications/<uuid:pk>/decide/", views.application_decide, name="application_decide"),
    path("applications/<uuid:pk>/documents/", views.document_add, name="document_add"),
    path(
        "applications/<uuid:pk>/documents/<uuid:document_pk>/upload/",
        views.document_upload,
        name="document_upload",
    ),
    path(
        "applications/<uuid:pk>/documents/<uuid:document_pk>/verify/",
        views.document_verify,
        name="document_verify",
    ),
    path(
        "applications/<uuid:pk>/documents/<uuid:document_pk>/reject/",
        views.document_reject,
        name="document_reject",
    ),
    path(
        "applications/<uuid:pk>/documents/<uuid:document_pk>/file/",
        views.document_download,
        name="document_download",
    ),
    path("applications/<uuid:pk>/parties/", views.party_add, name="party_add"),
    path(
        "applications/<uuid:pk>/parties/<int:party_pk>/remove/",
        views.party_remove,
        name="party_remove",
    ),
    path("applications/<uuid:pk>/collateral/", views.collateral_add, name="collateral_add"),
    path(
        "applications/<uuid:pk>/collateral/<int:item_pk>/",
        views.collateral_edit,
        name="collateral_edit",
    ),
    path(
        "applications/<uuid:pk>/collateral/<int:item_pk>/remove/",
        views.collateral_remove,
        name="collateral_remove",
    ),
    path("loans/", views.loan_list, name="loan_list"),
    path("loans/<uuid:pk>/", views.loan_detail, name="loan_detail"),
    path("loans/<uuid:pk>/prepay/", views.loan_prepay, name="loan_prepay"),
    path("loans/<uuid:pk>/restructure/", views.loan_restructure, name="loan_restructure"),
    path("loans/<uuid:pk>/write-off/", views.loan_write_off, name="loan_write_off"),
    path("delinquency/", views.delinquency, name="delinquency"),
    path("products/", views.product_list, name="product_list"),
    path("products/new/", views.product_edit, name="product_create"),
    path("products/<int:pk>/", views.product_edit, name="product_edit"),
    path("calculator/", views.calculator, name="calculator"),
]
