"""The campaign effectiveness and SLA performance report pages.

Both need ``analytics.view_report`` and the permission of the records they count:
``marketing.view_campaign`` (as the campaign's own report) and ``support.view_servicecase``
(as the case list); 403 without either. Figures come from the selectors through the forms of
:mod:`.documents_effectiveness` (the exports read the same); the views only format them
(per cent, charts) and build the links to the records' lists. An HTMX request gets the
report's body alone.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from bankcrm.access.permissions import actor_has_perm
from bankcrm.marketing.models.campaigns import Channel as CampaignChannel

from .charts import ChartRow, bar_chart, figure, line_chart
from .documents_effectiveness import (
    CampaignEffectivenessForm,
    ServiceLevelForm,
    group_label,
)
from .selectors_campaign_effectiveness import campaign_effectiveness
from .selectors_service_levels import service_level_report
from .views_reports import (
    EXPORT_PERMISSION,
    VIEW_PERMISSION,
    is_partial,
    report_export_links,
    require_permission,
)

VIEW_CAMPAIGNS = "marketing.view_campaign"
VIEW_CASES = "support.view_servicecase"
EXPORT_COMPLAINTS = "support.export_complaints"
# The chart shows the uplift of this many campaigns, those with the most treated customers.
CHART_CAMPAIGNS = 30


def percent(value: float | Decimal | None, places: int = 1) -> str:
    """A fraction of 1 as per cent text (``0.1234`` → ``12.3``); empty when unknown."""
    if value is None:
        return ""
    return f"{float(value) * 100:.{places}f}"


def _form_errors(form: Any, error: ValidationError) -> None:
    for name, messages in error.message_dict.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)


def schedule_url(request: HttpRequest, key: str, form: Any, title: str) -> str:
    """The new-schedule page for this report with the page's filters (none for those who
    may not export it). Without dates the schedule sends the default range up to its day."""
    if not actor_has_perm(request.user, EXPORT_PERMISSION):
        return ""
    parameters = form.parameters() if form.is_bound and form.is_valid() else {}
    query = {"source": f"analytics.{key}", "parameters": json.dumps(parameters), "name": title}
    return f"{reverse('analytics:schedule_create')}?{urlencode(query)}"


def _url(name: str, query: dict[str, Any], args: Any = None) -> str:
    base = reverse(name, args=args)
    values = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{base}?{urlencode(values)}" if values else base


# --- Campaign effectiveness --------------------------------------------------------------------


def _effect_view(effect: Any) -> dict[str, Any]:
    u = effect.uplift
    return {
        "rate_treatment": percent(u.rate_treatment),
        "rate_control": percent(u.rate_control),
        "uplift": percent(u.difference, 2),
        "ci_low": percent(u.ci_low, 2),
        "ci_high": percent(u.ci_high, 2),
        "is_significant": u.significant,
        "is_small_sample": u.small_sample,
        "incremental": "" if effect.incremental is None else f"{effect.incremental:.1f}",
        "roi": percent(effect.roi),
    }


def _total_view(total: Any, page_query: dict[str, Any]) -> dict[str, Any]:
    return {
        "total": total,
        "uplift": percent(total.uplift, 2),
        "ci_low": percent(total.ci_low, 2),
        "ci_high": percent(total.ci_high, 2),
        "incremental": f"{total.incremental:.1f}" if total.measured_treatment else "",
        "roi": percent(total.roi),
        "url": _url("analytics:report_campaign_effectiveness", {**page_query, **total.filters}),
    }


def _uplift_chart(rows: list[Any]) -> Any:
    measured = [row for row in rows if row.effect.uplift.measurable]
    largest = sorted(measured, key=lambda row: (-row.treatment, -row.pk))[:CHART_CAMPAIGNS]
    chart_rows = []
    for row in largest:
        points = (Decimal(str(row.effect.uplift.difference)) * 100).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        chart_rows.append(
            ChartRow(
                label=row.campaign.name,
                value=points,
                url=row.url,
                display=figure(points, 2),
                tone="high" if points < 0 else "",
            )
        )
    return bar_chart(
        title=_("Uplift of each campaign (percentage points)"),
        category_label=_("Campaign"),
        value_label=_("Uplift (percentage points)"),
        rows=chart_rows,
    )


@login_required
@require_GET
def campaign_effectiveness_page(request: HttpRequest) -> HttpResponse:
    """The campaigns launched in a period with their effect, and their totals."""
    require_permission(request, VIEW_PERMISSION)
    require_permission(request, VIEW_CAMPAIGNS)
    form = CampaignEffectivenessForm(request.GET or None, actor=request.user)
    report = None
    if not form.is_bound or form.is_valid():
        selection = form.selection() if form.is_bound else {}
        try:
            report = campaign_effectiveness(actor=request.user, **selection)
        except ValidationError as error:
            _form_errors(form, error)
    context: dict[str, Any] = {
        "form": form,
        "report": report,
        "export_links": report_export_links(request, "campaign_effectiveness"),
        "schedule_url": schedule_url(
            request, "campaign_effectiveness", form, _("Campaign effectiveness")
        ),
    }
    if report is not None:
        channel_labels = dict(CampaignChannel.choices)
        page_query = {
            "date_from": report.date_from.isoformat(),
            "date_to": report.date_to.isoformat(),
            **report.filters,
        }
        context.update(
            {
                "rows": [
                    {
                        "row": row,
                        "channels": ", ".join(
                            str(channel_labels.get(code, code))
                            for code in row.campaign.channels or []
                        ),
                        **_effect_view(row.effect),
                    }
                    for row in report.campaigns
                ],
                "channels": [
                    {
                        "total": total,
                        "delivered_rate": percent(total.rate(total.delivered)),
                        "opened_rate": percent(total.rate(total.opened)),
                        "clicked_rate": percent(total.rate(total.clicked)),
                        "url": _url(
                            "analytics:report_campaign_effectiveness",
                            {**page_query, "channel": total.channel},
                        ),
                    }
                    for total in report.by_channel
                ],
                "objectives": [_total_view(total, page_query) for total in report.by_objective],
                "products": [_total_view(total, page_query) for total in report.by_product],
                "totals": [_total_view(total, page_query) for total in report.totals],
                "chart": _uplift_chart(report.campaigns),
                "chart_limit": CHART_CAMPAIGNS,
            }
        )
    template = (
        "analytics/reports/effectiveness_body.html"
        if is_partial(request)
        else "analytics/reports/effectiveness.html"
    )
    return render(request, template, context)


# --- SLA performance ---------------------------------------------------------------------------


def _case_list_url(filters: dict[str, Any], **extra: Any) -> str:
    return _url("support:case_list", {**filters, **extra})


def _service_row_view(row: Any, *, may_list: bool) -> dict[str, Any]:
    return {
        "row": row,
        "first_response_share": percent(row.first_response_share),
        "resolution_share": percent(row.resolution_share),
        # Cases received in the row's period (any status), and those still open past an
        # SLA clock: the case list's own filters.
        "opened_url": _case_list_url(row.filters, status="all") if may_list else "",
        "breached_url": _case_list_url(row.filters, breached="on") if may_list else "",
    }


def _complaint_row_view(row: Any, register_url: str) -> dict[str, Any]:
    return {"row": row, "share": percent(row.share), "url": register_url}


def _register_url(report: Any, row: Any, may_export: bool) -> str:
    # The register lists the complaints received in a period (no case filters).
    if not may_export or report.filters or row.date_from is None:
        return ""
    return _url(
        "support:complaints_register",
        {"date_from": row.date_from.isoformat(), "date_to": row.date_to.isoformat()},
    )


def _sla_charts(report: Any, may_list: bool) -> tuple[Any, Any]:
    shares = [
        ChartRow(
            label=row.label,
            value=Decimal(percent(row.resolution_share)),
            display=f"{percent(row.resolution_share)} %",
        )
        for row in report.periods
        if row.resolution_share is not None
    ]
    trend = line_chart(
        title=_("Cases resolved within SLA (%)"),
        category_label=_("Period"),
        value_label=_("Resolved within SLA (%)"),
        rows=shares,
    )
    past = bar_chart(
        title=_("Open cases past SLA now, per %(group)s")
        % {"group": group_label(report.group).lower()},
        category_label=group_label(report.group),
        value_label=_("Open past SLA now"),
        rows=[
            ChartRow(
                label=row.label,
                value=row.open_past_sla,
                url=_case_list_url(row.filters, breached="on") if may_list else "",
                tone="high" if row.open_past_sla else "",
            )
            for row in report.groups
        ],
    )
    return trend, past


@login_required
@require_GET
def service_levels_page(request: HttpRequest) -> HttpResponse:
    """SLA performance per period and per queue, priority, channel or case type."""
    require_permission(request, VIEW_PERMISSION)
    require_permission(request, VIEW_CASES)
    form = ServiceLevelForm(request.GET or None, actor=request.user)
    report = None
    if not form.is_bound or form.is_valid():
        selection = form.selection() if form.is_bound else {}
        try:
            report = service_level_report(actor=request.user, **selection)
        except ValidationError as error:
            _form_errors(form, error)
    context: dict[str, Any] = {
        "form": form,
        "report": report,
        "export_links": report_export_links(request, "service_levels"),
        "schedule_url": schedule_url(request, "service_levels", form, _("SLA performance")),
    }
    if report is not None:
        may_list = actor_has_perm(request.user, VIEW_CASES)
        may_register = actor_has_perm(request.user, EXPORT_COMPLAINTS)
        trend, past = _sla_charts(report, may_list)
        context.update(
            {
                "group_label": group_label(report.group),
                "group_title": _("Per %(group)s") % {"group": group_label(report.group).lower()},
                "periods": [_service_row_view(row, may_list=may_list) for row in report.periods],
                "groups": [_service_row_view(row, may_list=may_list) for row in report.groups],
                "total": _service_row_view(report.total, may_list=may_list),
                "open_now_url": _case_list_url(report.filters, breached="on"),
                "complaint_periods": [
                    _complaint_row_view(row, _register_url(report, row, may_register))
                    for row in report.complaint_periods
                ],
                "complaint_categories": [
                    _complaint_row_view(row, "") for row in report.complaint_categories
                ],
                "complaint_total": (
                    _complaint_row_view(
                        report.complaint_total,
                        _register_url(report, report.complaint_total, may_register),
                    )
                    if report.complaint_total
                    else None
                ),
                "trend_chart": trend,
                "past_chart": past,
            }
        )
    template = (
        "analytics/reports/service_levels_body.html"
        if is_partial(request)
        else "analytics/reports/service_levels.html"
    )
    return render(request, template, context)
