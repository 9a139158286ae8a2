"""Registers the portfolio quality report in the report catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from .catalogue import CatalogueReport, register_report

register_report(
    CatalogueReport(
        key="portfolio",
        title=gettext_lazy("Portfolio quality"),
        description=gettext_lazy(
            "NPL ratio and portfolio at risk by product and branch, bucket roll rates month "
            "by month, and vintage curves of loans reaching 30 and 90 days past due."
        ),
        url_name="analytics:report_portfolio",
        # The report reads loans: it is listed for those who may see them (the page also
        # needs analytics.view_report, as the index itself does).
        permission="lending.view_loan",
    ),
    document_builder="bankcrm.analytics.documents_portfolio:portfolio_document",
    exports={
        "portfolio_loans": "bankcrm.analytics.documents_portfolio:portfolio_loans_document",
    },
)
