"""URLs of the customer acquisition and attrition report: the page and the customers behind
each of its figures (exports: ``analytics:report_export`` with the keys ``acquisition`` and
``acquisition_customers``)."""

from __future__ import annotations

from django.urls import path

from . import views_acquisition

urlpatterns = [
    path("reports/acquisition/", views_acquisition.page, name="report_acquisition"),
    path(
        "reports/acquisition/customers/",
        views_acquisition.customers_page,
        name="report_acquisition_customers",
    ),
]
