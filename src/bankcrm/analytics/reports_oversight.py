"""Registers the oversight report in the report catalogue."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from .catalogue import CatalogueReport, register_report
from .selectors_oversight import VIEW_PERMISSION

register_report(
    CatalogueReport(
        key="oversight",
        title=gettext_lazy("Audit and personal data access"),
        description=gettext_lazy(
            "For auditors: events by action, object, member of staff and channel; who "
            "revealed, searched or exported personal data and of how many customers; every "
            "export."
        ),
        url_name="analytics:report_oversight",
        # The audit trail's own permission (auditors, compliance officers, administrators).
        permission=VIEW_PERMISSION,
    ),
    document_builder="bankcrm.analytics.views_oversight:oversight_document",
)
