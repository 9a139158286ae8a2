"""The report pages (index, RFM, an RFM segment's customers, churn), their exports, and
the viewer's export jobs.

Pages need ``analytics.view_report``, exports ``analytics.export_report`` (403 without).
Every figure is read with the viewer's scope. An export is recorded in the audit trail
before it is sent; one larger than ``settings.ANALYTICS_EXPORT_JOB_ROWS`` rows becomes a
background job and the viewer is taken to their export jobs, which refresh themselves
(HTMX polling) until done. A job's file is the requester's alone (404 for anyone else).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from bankcrm.access.permissions import actor_has_perm

from . import exports
from .catalogue import EXPORTS as CATALOGUE_EXPORTS
from .catalogue import REPORTS as CATALOGUE_REPORTS
from .exports import SOURCES
from .models import ExportJob
from .rfm import RFM_SEGMENTS
from .selectors_churn_report import churn_report
from .selectors_exports import export_job_get, export_job_list
from .selectors_rfm import DEFAULT_LIST_LIMIT, rfm_customer_list, rfm_report
from .services_exports import export_job_download_record
from .standard_reports import STANDARD_REPORTS
from .views_reports_documents import RfmFilterForm

VIEW_PERMISSION = "analytics.view_report"
EXPORT_PERMISSION = "analytics.export_report"
JOBS_SHOWN = 50

# The reports of the index: key, title, description, URL name, permission.
REPORTS = (
    (
        "rfm",
        gettext_lazy("RFM segmentation"),
        gettext_lazy(
            "Customers scored on recency, frequency and monetary value of their bookings, "
            "grouped into named segments."
        ),
        "analytics:report_rfm",
        VIEW_PERMISSION,
    ),
    (
        "churn",
        gettext_lazy("Churn report"),
        gettext_lazy(
            "The churn model's cross-validated AUC and how the customers' stored churn "
            "scores are distributed."
        ),
        "analytics:report_churn",
        VIEW_PERMISSION,
    ),
)

# Export key in the URL → source key (exports.SOURCES).
EXPORTABLE = {
    "rfm": "analytics.rfm",
    "rfm_customers": "analytics.rfm_customers",
    "churn": "analytics.churn",
}


def require_permission(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def is_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


def _bad_filters(error: ValidationError) -> HttpResponse:
    if hasattr(error, "error_dict"):
        text = "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items()
        )
    else:
        text = " ".join(error.messages)
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


def report_export_links(request: HttpRequest, key: str) -> list[dict[str, str]]:
    if not actor_has_perm(request.user, EXPORT_PERMISSION):
        return []
    query = request.GET.urlencode()
    links = []
    for fmt in exports.FORMATS:
        url = reverse("analytics:report_export", args=[key, fmt])
        links.append({"format": fmt.upper(), "url": f"{url}?{query}" if query else url})
    return links


@login_required
@require_GET
def report_index(request: HttpRequest) -> HttpResponse:
    """The reports the viewer may open."""
    require_permission(request, VIEW_PERMISSION)
    reports = [
        {"key": key, "title": title, "description": description, "url": reverse(url_name)}
        for key, title, description, url_name, permission in REPORTS
        if actor_has_perm(request.user, permission)
    ]
    # The reports registered from their own modules (catalogue.register_report).
    reports += [
        {
            "key": report.key,
            "title": report.title,
            "description": report.description,
            "url": reverse(report.url_name),
        }
        for report in CATALOGUE_REPORTS.values()
        if actor_has_perm(request.user, report.permission)
    ]
    # The standard summaries written as report-builder definitions.
    reports += [
        {
            "key": report.key,
            "title": report.title,
            "description": report.description,
            "url": reverse("analytics:standard_run", args=[report.key]),
        }
        for report in STANDARD_REPORTS
        if actor_has_perm(request.user, report.permission)
    ]
    return render(
        request,
        "analytics/reports/index.html",
        {"reports": reports, "may_export": actor_has_perm(request.user, EXPORT_PERMISSION)},
    )


@login_required
@require_GET
def rfm_report_page(request: HttpRequest) -> HttpResponse:
    """The RFM segmentation: definitions, counts and averages per segment, each segment
    linked to its customers."""
    require_permission(request, VIEW_PERMISSION)
    form = RfmFilterForm(request.GET)
    report = None
    if form.is_valid():
        as_of, months = form.window()
        try:
            report = rfm_report(actor=request.user, as_of=as_of, months=months)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
    rows: list[dict[str, Any]] = []
    if report is not None:
        definitions = {row["code"]: row for row in report.definitions}
        base = {key: value for key, value in form.parameters().items() if key != "segment"}
        for summary in report.segments:
            query = "&".join(f"{key}={value}" for key, value in {**base}.items())
            url = reverse("analytics:report_rfm_customers")
            rows.append(
                {
                    "summary": summary,
                    "definition": definitions.get(summary.code, {}),
                    "share_percent": f"{summary.share * 100:.1f}",
                    "url": f"{url}?segment={summary.code}" + (f"&{query}" if query else ""),
                }
            )
    context = {
        "form": form,
        "report": report,
        "rows": rows,
        "export_links": report_export_links(request, "rfm"),
    }
    template = "analytics/reports/partials/rfm_body.html" if is_partial(request) else None
    return render(request, template or "analytics/reports/rfm.html", context)


@login_required
@require_GET
def rfm_customers_page(request: HttpRequest) -> HttpResponse:
    """The customers behind the RFM report (of one segment), the largest spending first;
    the first rows on the page, all of them in the exports."""
    require_permission(request, VIEW_PERMISSION)
    form = RfmFilterForm(request.GET)
    customers: list[Any] = []
    segment = None
    if form.is_valid():
        as_of, months = form.window()
        code = form.cleaned_data.get("segment") or None
        segment = next((item for item in RFM_SEGMENTS if item.code == code), None)
        customers = rfm_customer_list(
            actor=request.user,
            as_of=as_of,
            months=months,
            segment=code,
            limit=DEFAULT_LIST_LIMIT + 1,
        )
    context = {
        "form": form,
        "segment": segment,
        "customers": customers[:DEFAULT_LIST_LIMIT],
        "is_cut": len(customers) > DEFAULT_LIST_LIMIT,
        "limit": DEFAULT_LIST_LIMIT,
        "export_links": report_export_links(request, "rfm_customers"),
    }
    return render(request, "analytics/reports/rfm_customers.html", context)


@login_required
@require_GET
def churn_report_page(request: HttpRequest) -> HttpResponse:
    """The churn model's AUC and the distribution of the viewer's customers' churn scores."""
    require_permission(request, VIEW_PERMISSION)
    report = churn_report(actor=request.user)
    widest = max((band.customers for band in report.bands), default=0)
    bands = [
        {
            "band": band,
            "share_percent": f"{band.share * 100:.1f}",
            "bar": f"{band.customers / widest * 100:.1f}" if widest else "0",
        }
        for band in report.bands
    ]
    context = {
        "report": report,
        "bands": bands,
        "export_links": report_export_links(request, "churn"),
    }
    return render(request, "analytics/reports/churn.html", context)


def _parameters(request: HttpRequest) -> dict[str, Any]:
    return {key: request.GET.get(key) for key in request.GET if request.GET.get(key)}


@login_required
@require_GET
def report_export(request: HttpRequest, key: str, fmt: str) -> HttpResponse:
    """A report as CSV, XLSX or PDF with the page's filters."""
    source = EXPORTABLE.get(key) or CATALOGUE_EXPORTS.get(key)
    if source is None or fmt not in exports.FORMATS:
        raise Http404(_("No such export."))
    require_permission(request, EXPORT_PERMISSION)
    parameters = _parameters(request)
    try:
        document = SOURCES[source].build(request.user, parameters)
    except ValidationError as error:
        return _bad_filters(error)
    return exports.export_or_queue(
        actor=request.user, source=source, document=document, parameters=parameters, fmt=fmt
    )


@login_required
@require_GET
def export_job_list_page(request: HttpRequest) -> HttpResponse:
    """The viewer's export jobs with their progress; the rows refresh every two seconds
    while a job runs."""
    jobs = list(export_job_list(actor=request.user).select_related(None)[:JOBS_SHOWN])
    context = {
        "jobs": jobs,
        "is_running": any(not job.is_finished for job in jobs),
    }
    if is_partial(request):
        return render(request, "analytics/exports/partials/job_rows.html", context)
    return render(request, "analytics/exports/job_list.html", context)


@login_required
@require_GET
def export_job_download(request: HttpRequest, pk: int) -> FileResponse:
    """The file of one of the viewer's finished export jobs (recorded)."""
    try:
        job = export_job_get(actor=request.user, pk=pk)
        path = export_job_download_record(actor=request.user, job=job)
    except (ExportJob.DoesNotExist, FileNotFoundError) as exc:
        raise Http404(_("No such export file.")) from exc
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=job.file_name or path.name,
        content_type=exports.CONTENT_TYPES.get(job.format, "application/octet-stream"),
    )
    response["Cache-Control"] = "no-store"
    return response
