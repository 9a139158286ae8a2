"""Registers the product holding and channel usage report in the report catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from .catalogue import CatalogueReport, register_report

register_report(
    CatalogueReport(
        key="product_holding",
        title=gettext_lazy("Product holding and channel usage"),
        description=gettext_lazy(
            "Which product categories the customers hold (per category and currency, products "
            "per customer, categories held together) and which channels they book through."
        ),
        url_name="analytics:report_product_holding",
        permission="analytics.view_report",
    ),
    document_builder="bankcrm.analytics.documents_product_holding:product_holding_document",
    exports={
        "product_holding_customers": (
            "bankcrm.analytics.documents_product_holding:product_holding_customers_document"
        ),
    },
)
