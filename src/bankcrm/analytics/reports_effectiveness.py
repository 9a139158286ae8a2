"""Registers the campaign effectiveness and SLA performance reports in the report catalogue.

Each is listed for those who may read the records it counts (campaign reports, service
cases); the index and the pages also need ``analytics.view_report``, the exports
``analytics.export_report``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from .catalogue import CatalogueReport, register_report

DOCUMENTS = "bankcrm.analytics.documents_effectiveness"

register_report(
    CatalogueReport(
        key="campaign_effectiveness",
        title=gettext_lazy("Campaign effectiveness"),
        description=gettext_lazy(
            "Every campaign launched in a period: its audience, messages, conversions in "
            "treatment and control, uplift with its 95 per cent interval, cost, CPA and ROI; "
            "totals by channel, objective and product."
        ),
        url_name="analytics:report_campaign_effectiveness",
        permission="marketing.view_campaign",
    ),
    document_builder=f"{DOCUMENTS}:campaign_effectiveness_document",
)

register_report(
    CatalogueReport(
        key="service_levels",
        title=gettext_lazy("SLA performance"),
        description=gettext_lazy(
            "Service cases opened and closed, first-response and resolution times (median "
            "and 90th percentile), the share within SLA, breaches, open cases past SLA and "
            "complaints' statutory deadlines, per month or week and per queue, priority, "
            "channel or case type."
        ),
        url_name="analytics:report_service_levels",
        permission="support.view_servicecase",
    ),
    document_builder=f"{DOCUMENTS}:service_levels_document",
)
