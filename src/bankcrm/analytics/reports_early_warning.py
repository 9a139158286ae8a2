"""Registers the risk early-warning report in the report catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .catalogue import CatalogueReport, register_report

register_report(
    CatalogueReport(
        key="early_warning",
        title=_("Risk early warnings"),
        description=_(
            "Warning signals on your customers: balance drops, salary stopped, large outflows, "
            "dormant accounts reactivated, loans moving to a worse bucket, KYC reviews and "
            "identity documents falling due."
        ),
        url_name="analytics:report_early_warning",
        permission="analytics.view_report",
    ),
    document_builder="bankcrm.analytics.documents_early_warning:early_warning_document",
)
