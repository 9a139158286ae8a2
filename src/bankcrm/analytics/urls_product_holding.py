"""URLs of the product holding and channel usage report: the page and the customers behind
each of its figures (exports: ``analytics:report_export`` with the keys ``product_holding``
and ``product_holding_customers``)."""

from __future__ import annotations

from django.urls import path

from . import views_product_holding

urlpatterns = [
    path(
        "reports/product-holding/",
        views_product_holding.page,
        name="report_product_holding",
    ),
    path(
        "reports/product-holding/customers/",
        views_product_holding.customers_page,
        name="report_product_holding_customers",
    ),
]
