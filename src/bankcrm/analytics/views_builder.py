"""The report builder's pages (namespace "analytics", under /analytics/):

* ``analytics:builder`` — a new report put together in the form; "Preview" runs it (first
  rows, chart), "Save" keeps it as a report of one's own;
* ``analytics:saved_list`` — the reports one owns or that are shared with one's roles;
* ``analytics:saved_run`` (pk) — a saved report run with its parameters, with its chart,
  rows and exports (CSV, XLSX, PDF);
* ``analytics:saved_edit`` (pk) — the builder on a saved report (a change is a new version);
* ``analytics:saved_json`` (pk) — the definition as a JSON file;
  ``analytics:saved_import`` (POST) — a JSON file made by ``saved_json`` saved as a report.

A report out of the viewer's reach is 404; a missing permission is 403. Rows are always those
the viewer may see.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.access.permissions import actor_has_perm

from . import exports
from . import selectors_report_definitions as selectors
from . import services_report_definitions as services
from .builder import MONEY, NUMBER, ReportResult, run_report, validate_definition
from .charts import ChartRow, bar_chart, figure, line_chart
from .documents_builder import saved_report_document, standard_report_document
from .forms_builder import ReportBuilderForm, initial_from_definition
from .models_report_definitions import ReportDefinition
from .standard_reports import StandardReport, default_parameters, standard_report
from .views_reports import require_permission

VIEW = "analytics.view_report"
ADD = "analytics.add_reportdefinition"
EXPORT = "analytics.export_report"
PREVIEW_ROWS = 50
MAX_IMPORT_BYTES = 256 * 1024


def _report_or_404(request: HttpRequest, pk: int) -> ReportDefinition:
    try:
        return selectors.report_definition_get(actor=request.user, pk=pk)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


def _chart(result: ReportResult) -> Any:
    """The report's chart (bar or line; a pie is drawn as bars, with its table) or None."""
    chart = result.chart
    if not chart or not result.rows:
        return None
    keys = [c.key for c in result.columns]
    x, y = keys.index(chart["x"]), keys.index(chart["y"])
    rows = []
    for row in result.rows[:PREVIEW_ROWS]:
        value = row[y]
        if value is None or isinstance(value, str):
            continue
        label = "" if row[x] is None else str(row[x])
        rows.append(ChartRow(label=label, value=value, display=figure(value, 2), url=""))
    labels = {
        "title": f"{result.columns[y].label} — {result.columns[x].label}",
        "category_label": result.columns[x].label,
        "value_label": result.columns[y].label,
    }
    if chart["type"] == "line":
        return line_chart(rows=rows, **labels)
    return bar_chart(rows=rows, **labels)


def _table(result: ReportResult | None) -> dict[str, Any] | None:
    """The result's columns and cells, numbers marked for right alignment."""
    if result is None:
        return None
    numeric = [c.kind in (NUMBER, MONEY) for c in result.columns]
    return {
        "columns": [
            {"label": c.label, "numeric": n} for c, n in zip(result.columns, numeric, strict=True)
        ],
        "rows": [
            [{"value": _shown(v, n), "numeric": n} for v, n in zip(row, numeric, strict=True)]
            for row in result.rows
        ],
    }


def _shown(value: Any, numeric: bool) -> Any:
    """A figure as people read it: thousands grouped, amounts and averages to two places
    (the exports keep the typed values)."""
    if not numeric or value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    return f"{Decimal(value):,.2f}"


def _builder_page(
    request: HttpRequest,
    form: ReportBuilderForm,
    *,
    report: ReportDefinition | None = None,
    result: ReportResult | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "analytics/builder/form.html",
        {
            "form": form,
            "report": report,
            "result": result,
            "table": _table(result),
            "chart": _chart(result) if result else None,
            "preview_rows": PREVIEW_ROWS,
        },
        status=status,
    )


def _validated(form: ReportBuilderForm) -> dict[str, Any] | None:
    """The form's definition, validated; None with the errors put on the form."""
    if not form.is_valid():
        return None
    try:
        return validate_definition(form.definition())
    except ValidationError as exc:
        form.add_definition_errors(exc.message_dict)
        return None


def _preview(request: HttpRequest, form: ReportBuilderForm, definition: dict[str, Any]) -> Any:
    """The first rows of the definition, with the parameters' defaults."""
    try:
        return run_report({**definition, "limit": min(definition["limit"], PREVIEW_ROWS)},
                          request.user, {})  # fmt: skip
    except ValidationError as exc:
        for name, texts in exc.message_dict.items():
            for text in texts:
                form.add_error(None, f"{name}: {text}")
        return None


@login_required
@require_http_methods(["GET", "POST"])
def builder(request: HttpRequest) -> HttpResponse:
    """A new report: the form, its preview, and "Save"."""
    require_permission(request, ADD)
    if request.method != "POST":
        standard = standard_report(request.GET.get("standard", ""))
        if standard is not None:
            initial = initial_from_definition(validate_definition(standard.definition))
            initial["name"] = str(standard.title)
            form = ReportBuilderForm(initial=initial)
        else:
            form = ReportBuilderForm(entity_key=request.GET.get("entity"))
        return _builder_page(request, form)
    form = ReportBuilderForm(request.POST)
    if request.POST.get("action") == "change_entity":
        form = ReportBuilderForm(initial={"entity": request.POST.get("entity")})
        return _builder_page(request, form)
    definition = _validated(form)
    if definition is None:
        return _builder_page(request, form, status=422)
    if request.POST.get("action") == "save":
        try:
            report = services.report_definition_create(
                actor=request.user, definition=definition, **form.settings()
            )
        except ValidationError as exc:
            for texts in exc.message_dict.values():
                for text in texts:
                    form.add_error(None, text)
            return _builder_page(request, form, status=422)
        messages.success(request, _("The report was saved."))
        return HttpResponseRedirect(reverse("analytics:saved_run", args=[report.pk]))
    return _builder_page(request, form, result=_preview(request, form, definition))


@login_required
@require_GET
def saved_list(request: HttpRequest) -> HttpResponse:
    require_permission(request, VIEW)
    reports = selectors.report_definition_list(actor=request.user)
    return render(
        request,
        "analytics/builder/list.html",
        {"reports": list(reports), "may_add": actor_has_perm(request.user, ADD)},
    )


@login_required
@require_GET
def saved_run(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved report run with the parameters in the query string (defaults otherwise)."""
    require_permission(request, VIEW)
    report = _report_or_404(request, pk)
    version = selectors.report_definition_version(report)
    given = _given(request, version.definition)
    result, errors = None, {}
    try:
        result = run_report(version.definition, request.user, given)
    except ValidationError as exc:
        errors = exc.message_dict
    parameters = [
        {
            **p,
            "value": given.get(p["name"]) or p.get("default", ""),
            "errors": errors.get(p["name"]),
        }
        for p in version.definition["parameters"]
    ]
    return render(
        request,
        "analytics/builder/run.html",
        {
            "report": report,
            "version": version,
            "parameters": parameters,
            "result": result,
            "table": _table(result),
            "chart": _chart(result) if result else None,
            "exports": _export_links("analytics:saved_export", report.pk, given),
            "schedule_url": _schedule_url(
                "analytics.saved_report", {"report": report.pk, **given}, report.name
            ),
            "may_export": actor_has_perm(request.user, EXPORT),
            "may_change": services.may_change(request.user, report),
        },
        status=200 if result is not None else 422,
    )


def _export_links(url_name: str, key: Any, given: dict[str, str]) -> list[dict[str, str]]:
    """The report's CSV, XLSX and PDF links with its parameters."""
    query = urlencode(given)
    return [
        {
            "format": fmt,
            "label": fmt.upper(),
            "url": reverse(url_name, args=[key, fmt]) + (f"?{query}" if query else ""),
        }
        for fmt in exports.FORMATS
    ]


def _schedule_url(source: str, parameters: dict[str, Any], name: str) -> str:
    """The new-schedule page for this report and its parameters."""
    query = {"source": source, "parameters": json.dumps(parameters), "name": name}
    return reverse("analytics:schedule_create") + "?" + urlencode(query)


def _flash(request: HttpRequest, exc: ValidationError) -> None:
    for name, texts in exc.message_dict.items():
        for text in texts:
            messages.error(request, f"{name}: {text}")


def _export(
    request: HttpRequest,
    *,
    source: str,
    parameters: dict[str, Any],
    build: Any,
    back: str,
    fmt: str,
) -> HttpResponse:
    """Every row of a builder report as ``fmt`` (audited; a job above the threshold); a bad
    parameter sends the person back to the report with the message."""
    if fmt not in exports.FORMATS:
        raise Http404(_("Nothing was found at this address."))
    try:
        document = build(request.user, parameters)
    except ValidationError as exc:
        _flash(request, exc)
        return HttpResponseRedirect(back)
    return exports.export_or_queue(
        actor=request.user, source=source, document=document, parameters=parameters, fmt=fmt
    )


@login_required
@require_http_methods(["GET", "POST"])
def saved_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The builder on a saved report: a changed definition is saved as a new version."""
    require_permission(request, VIEW)
    report = _report_or_404(request, pk)
    if not services.may_change(request.user, report):
        raise PermissionDenied(_("You do not have permission to do this."))
    if request.method != "POST":
        version = selectors.report_definition_version(report)
        initial = initial_from_definition(version.definition)
        initial.update(
            name=report.name,
            description=report.description,
            shared_with_roles=report.shared_with_roles,
        )
        form = ReportBuilderForm(initial=initial)
        return _builder_page(request, form, report=report)
    form = ReportBuilderForm(request.POST)
    definition = _validated(form)
    if definition is None:
        return _builder_page(request, form, report=report, status=422)
    if request.POST.get("action") != "save":
        return _builder_page(
            request, form, report=report, result=_preview(request, form, definition)
        )
    try:
        services.report_definition_update(
            actor=request.user, report=report, definition=definition, **form.settings()
        )
    except ValidationError as exc:
        for texts in exc.message_dict.values():
            for text in texts:
                form.add_error(None, text)
        return _builder_page(request, form, report=report, status=422)
    messages.success(request, _("The report was saved."))
    return HttpResponseRedirect(reverse("analytics:saved_run", args=[report.pk]))


@login_required
@require_GET
def saved_json(request: HttpRequest, pk: int) -> HttpResponse:
    """The report's definition as a JSON file another bankcrm can import."""
    require_permission(request, VIEW)
    report = _report_or_404(request, pk)
    document = services.report_definition_export(report)
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=2, default=str),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="report-{report.pk}.json"'
    return response


@login_required
@require_POST
def saved_import(request: HttpRequest) -> HttpResponse:
    """A report from an uploaded JSON file (a new report, or a new version of one's own
    report of the same name)."""
    require_permission(request, ADD)
    upload = request.FILES.get("file")
    try:
        if upload is None or upload.size > MAX_IMPORT_BYTES:
            raise ValidationError({"file": [_("Choose a JSON file of a report (at most 256 KB).")]})
        try:
            document = json.loads(upload.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValidationError({"file": [_("The file is not JSON.")]}) from None
        report = services.report_definition_import(actor=request.user, document=document)
    except ValidationError as exc:
        _flash(request, exc)
        return HttpResponseRedirect(reverse("analytics:saved_list"))
    messages.success(request, _("The report was imported."))
    return HttpResponseRedirect(reverse("analytics:saved_run", args=[report.pk]))


@login_required
@require_GET
def saved_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """Every row of a saved report as CSV, XLSX or PDF (audited; a job above the threshold)."""
    require_permission(request, EXPORT)
    report = _report_or_404(request, pk)
    return _export(
        request,
        source="analytics.saved_report",
        parameters={
            "report": report.pk,
            **_given(request, selectors.report_definition_version(report).definition),
        },
        build=saved_report_document,
        back=reverse("analytics:saved_run", args=[report.pk]),
        fmt=fmt,
    )


def _given(request: HttpRequest, definition: dict[str, Any]) -> dict[str, str]:
    """The definition's parameters given (non-empty) in the query string."""
    return {
        p["name"]: request.GET[p["name"]]
        for p in definition["parameters"]
        if request.GET.get(p["name"], "")
    }


# --- Standard reports (builder definitions shipped with bankcrm) ------------------------------


def _standard_or_404(request: HttpRequest, key: str) -> StandardReport:
    report = standard_report(key)
    if report is None or not actor_has_perm(request.user, report.permission):
        raise Http404(_("Nothing was found at this address."))
    return report


def _standard_given(request: HttpRequest, report: StandardReport) -> dict[str, str]:
    given = default_parameters(report)
    for parameter in report.definition.get("parameters", []):
        if request.GET.get(parameter["name"]):
            given[parameter["name"]] = request.GET[parameter["name"]]
    return given


@login_required
@require_GET
def standard_run(request: HttpRequest, key: str) -> HttpResponse:
    """A standard report run with its parameters (the last twelve months by default)."""
    require_permission(request, VIEW)
    report = _standard_or_404(request, key)
    given = _standard_given(request, report)
    result, errors = None, {}
    try:
        result = run_report(report.definition, request.user, given)
    except ValidationError as exc:
        errors = exc.message_dict
    parameters = [
        {**p, "label": _(p["label"]), "value": given.get(p["name"], ""),
         "errors": errors.get(p["name"])}
        for p in report.definition.get("parameters", [])
    ]  # fmt: skip
    return render(
        request,
        "analytics/builder/standard.html",
        {
            "report": report,
            "parameters": parameters,
            "result": result,
            "table": _table(result),
            "chart": _chart(result) if result else None,
            "exports": _export_links("analytics:standard_export", report.key, given),
            "schedule_url": _schedule_url(
                "analytics.standard_report", {"key": report.key, **given}, str(report.title)
            ),
            "copy_url": reverse("analytics:builder") + "?" + urlencode({"standard": report.key}),
            "may_export": actor_has_perm(request.user, EXPORT),
            "may_copy": actor_has_perm(request.user, ADD),
        },
        status=200 if result is not None else 422,
    )


@login_required
@require_GET
def standard_export(request: HttpRequest, key: str, fmt: str) -> HttpResponse:
    """Every row of a standard report as CSV, XLSX or PDF (audited; a job when large)."""
    require_permission(request, EXPORT)
    report = _standard_or_404(request, key)
    return _export(
        request,
        source="analytics.standard_report",
        parameters={"key": report.key, **_standard_given(request, report)},
        build=standard_report_document,
        back=reverse("analytics:standard_run", args=[report.key]),
        fmt=fmt,
    )
