"""Marketing pages about offers: the catalogue, the next best offer report and the customer
360 panel's actions."""

from __future__ import annotations

from django.urls import URLPattern, path

from . import views_offers

urlpatterns: list[URLPattern] = [
    path("offers/", views_offers.offer_list, name="offer_list"),
    path("offers/new/", views_offers.offer_create, name="offer_create"),
    path("offers/<int:pk>/edit/", views_offers.offer_edit, name="offer_edit"),
    path("offers/report/", views_offers.offer_report, name="offer_report"),
    path(
        "offers/customers/<uuid:party_pk>/",
        views_offers.offer_panel,
        name="offer_panel",
    ),
    path(
        "offers/customers/<uuid:party_pk>/<int:offer_pk>/decide/",
        views_offers.offer_decide,
        name="offer_decide",
    ),
    path(
        "offers/customers/<uuid:party_pk>/banners/<int:message_pk>/offered/",
        views_offers.banner_offered,
        name="banner_offered",
    ),
]
