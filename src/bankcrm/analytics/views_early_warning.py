"""The risk early-warning report page: the number of warnings of each signal (each linked to
its warnings), the filters and thresholds, and one page of warnings on the viewer's
customers. Needs ``analytics.view_report``; the exports (``analytics.export_report``) are
served by the report catalogue from :mod:`bankcrm.analytics.documents_early_warning`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .documents_early_warning import EarlyWarningFilterForm
from .selectors_early_warning import SIGNALS, early_warning_report
from .views_reports import VIEW_PERMISSION, is_partial, report_export_links, require_permission

REPORT_KEY = "early_warning"


def _url(parameters: dict[str, Any], **changes: Any) -> str:
    values = {**parameters, **changes}
    query = urlencode({key: value for key, value in values.items() if value not in (None, "")})
    base = reverse("analytics:report_early_warning")
    return f"{base}?{query}" if query else base


@login_required
@require_GET
def early_warning_page(request: HttpRequest) -> HttpResponse:
    """Warning signals on the viewer's customers: counts per signal, the thresholds in
    force, and the warnings page by page (the exports hold all of them)."""
    require_permission(request, VIEW_PERMISSION)
    form = EarlyWarningFilterForm(request.GET, actor=request.user)
    report = None
    if form.is_valid():
        try:
            report = early_warning_report(
                actor=request.user,
                thresholds=form.thresholds(),
                signal=form.selected_signal(),
                unit=form.selected_unit(),
                page=form.page_number(),
            )
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
    context: dict[str, Any] = {
        "form": form,
        "report": report,
        "export_links": report_export_links(request, REPORT_KEY),
    }
    if report is not None:
        parameters = {key: value for key, value in form.parameters().items() if key != "page"}
        everything = {key: value for key, value in parameters.items() if key != "signal"}
        definitions = {row["code"]: row["definition"] for row in report.definitions}
        context["signals"] = [
            {
                "code": signal.code,
                "name": signal.name,
                "count": report.counts[signal.code],
                "definition": definitions[signal.code],
                "url": _url(everything, signal=signal.code),
                "is_current": report.signal == signal.code,
            }
            for signal in SIGNALS
        ]
        context["all_url"] = _url(everything)
        context["total_all"] = sum(count or 0 for count in report.counts.values())
        context["previous_url"] = _url(parameters, page=report.page - 1) if report.page > 1 else ""
        context["next_url"] = (
            _url(parameters, page=report.page + 1) if report.page < report.pages else ""
        )
    template = (
        "analytics/reports/partials/early_warning_body.html"
        if is_partial(request)
        else "analytics/reports/early_warning.html"
    )
    return render(request, template, context)
