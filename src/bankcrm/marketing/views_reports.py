"""The campaign effectiveness report page and its CSV download (through the export engine,
:mod:`bankcrm.analytics.exports`).

Both need ``marketing.view_campaign`` (403 without it); a campaign outside the viewer's reach
is 404. An HTMX request gets the report's body alone
(``marketing/partials/campaign_report_body.html``).
Figures come from :func:`bankcrm.marketing.reports_campaigns.campaign_report`; the view only
formats them (per cent, bar widths).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from bankcrm.analytics.exports import Column, Document, Table, csv_chunks
from bankcrm.customers.services import list_export_record

from . import reports_campaigns
from .models import Campaign, CampaignMessage, CampaignTarget
from .reports_campaigns import CampaignReport, Effect

PAGE_TEMPLATE = "marketing/campaign_report.html"
BODY_TEMPLATE = "marketing/partials/campaign_report_body.html"


def _percent(value: float | Decimal | None, places: int = 1) -> str:
    """A fraction of 1 as per cent text (``0.1234`` → ``12.3``); empty when unknown."""
    if value is None:
        return ""
    return f"{float(value) * 100:.{places}f}"


def _bar(value: float | None, scale: float) -> str:
    if value is None or scale <= 0:
        return "0"
    return f"{min(100.0, max(0.0, value / scale * 100)):.1f}"


def _effect_view(effect: Effect) -> dict[str, Any]:
    u = effect.uplift
    scale = max(u.rate_treatment or 0.0, u.rate_control or 0.0)
    return {
        "effect": effect,
        "uplift": u,
        "rate_treatment": _percent(u.rate_treatment),
        "rate_control": _percent(u.rate_control),
        "difference": _percent(u.difference, 2),
        "ci_low": _percent(u.ci_low, 2),
        "ci_high": _percent(u.ci_high, 2),
        "relative": _percent(u.relative),
        "p_value": "" if u.p_value is None else f"{u.p_value:.4f}",
        "incremental": "" if effect.incremental is None else f"{effect.incremental:.1f}",
        "roi": _percent(effect.roi),
        "bar_treatment": _bar(u.rate_treatment, scale),
        "bar_control": _bar(u.rate_control, scale),
    }


def report_context(report: CampaignReport) -> dict[str, Any]:
    """The template context of the report body."""
    group_labels = dict(CampaignTarget.Group.choices)
    reason_labels = dict(CampaignTarget.Suppression.choices)
    status_labels = dict(CampaignMessage.Status.choices)
    statuses = list(reports_campaigns.MESSAGE_STATUSES)
    return {
        "report": report,
        "campaign": report.campaign,
        "currency": report.currency,
        "groups": [
            {"key": key, "label": group_labels.get(key, key), "size": size}
            for key, size in report.groups.items()
        ],
        "suppressed": [
            {"key": key, "label": reason_labels.get(key, key), "size": size}
            for key, size in sorted(report.suppressed_by_reason.items())
        ],
        "statuses": [{"key": s, "label": status_labels[s]} for s in statuses],
        "funnel": [
            {
                "row": row,
                "counts": [row.by_status[s] for s in statuses],
                "delivered_rate": _percent(row.rate(row.delivered)),
                "opened_rate": _percent(row.rate(row.opened)),
                "clicked_rate": _percent(row.rate(row.clicked)),
            }
            for row in report.funnel
        ],
        "overall": _effect_view(report.overall),
        "variants": [_effect_view(effect) for effect in report.variants],
        "segments": [_effect_view(effect) for effect in report.segments],
    }


def _cell(index: int) -> Any:
    return lambda row: row[index]


def report_document(report: CampaignReport) -> Document:
    """The report as an export document: one table per section of the report."""
    tables = [
        Table(
            title,
            [Column(str(index), heading, _cell(index)) for index, heading in enumerate(headings)],
            rows,
        )
        for title, headings, rows in reports_campaigns.report_sections(report)
    ]
    return Document(
        title=str(report.campaign.name),
        name=f"campaign-{report.campaign.pk}-report",
        tables=tables,
        filters={"campaign": report.campaign.pk},
    )


def _report(request: HttpRequest, pk: int) -> CampaignReport:
    try:
        campaign = reports_campaigns.report_campaign_get(actor=request.user, pk=pk)
        return reports_campaigns.campaign_report(actor=request.user, campaign=campaign)
    except Campaign.DoesNotExist as exc:
        raise Http404 from exc


@login_required
@require_GET
def campaign_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The effectiveness report of one campaign."""
    report = _report(request, pk)
    context = report_context(report)
    template = BODY_TEMPLATE if getattr(request, "htmx", False) else PAGE_TEMPLATE
    return render(request, template, context)


@login_required
@require_GET
def campaign_report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The report as a CSV file (UTF-8 with a byte-order mark), one section per table."""
    report = _report(request, pk)
    # The engine's sectioned CSV: a "# title" line, a heading line and the rows per table.
    content = "".join(csv_chunks(report_document(report))).encode("utf-8")
    # Recorded before it is sent, like every export.
    list_export_record(
        actor=request.user,
        action="campaign.report_export",
        object_type="marketing.campaign",
        filters={"campaign": report.campaign.pk},
        fmt="csv",
        rows=content.count(b"\r\n"),
    )
    response = HttpResponse(content, content_type=reports_campaigns.CSV_CONTENT_TYPE)
    name = reports_campaigns.report_file_name(report.campaign)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
