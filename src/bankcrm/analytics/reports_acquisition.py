"""Registers the acquisition report in the report catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from .catalogue import CatalogueReport, register_report

register_report(
    CatalogueReport(
        key="acquisition",
        title=gettext_lazy("Customer acquisition and attrition"),
        description=gettext_lazy(
            "Customers gained and lost per month, unit and segment, the attrition rate, and "
            "the current customers in the churn model's high bands."
        ),
        url_name="analytics:report_acquisition",
        permission="analytics.view_report",
    ),
    document_builder="bankcrm.analytics.views_acquisition:acquisition_document",
    exports={
        "acquisition_customers": (
            "bankcrm.analytics.views_acquisition:acquisition_customers_document"
        ),
    },
)
