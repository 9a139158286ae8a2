"""The credit risk pages: the model registry (list, a version's page with its model card and
governance steps, the card as HTML and PDF), monitoring (the latest report of each model in
use, running a report, a report's page and PDF) and the override report.

Every read goes through the risk selectors (a person without ``risk.view_modelversion``
gets 403 on a page and 404 for a version); every governance step through one service of
``bankcrm.risk.services``, which checks who may take it: the page only offers the steps the
viewer may take, and shows the service's refusal when it says no. The step forms post and
redirect back (they work without script); the model list answers HTMX with its table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from bankcrm.access.permissions import actor_has_perm

from . import selectors, selectors_monitoring, services_monitoring
from . import services as registry
from .card import (
    CardRenderError,
    model_card_context,
    model_card_html,
    model_card_pdf,
    monitoring_report_context,
    monitoring_report_html,
    overrides_context,
)
from .forms import ModelFilterForm, MonitoringRunForm, NoteForm, PeriodForm, ReasonForm, ShadowForm
from .models import ModelVersion, MonitoringReport

VIEW_PERMISSION = "risk.view_modelversion"
TRAIN_PERMISSION = "risk.train_modelversion"
VALIDATE_PERMISSION = "risk.validate_modelversion"
APPROVE_PERMISSION = "risk.approve_modelversion"
MONITOR_PERMISSION = "risk.add_monitoringreport"

# The override report's default period, and how many overridden decisions it lists.
OVERRIDE_DAYS = 90
OVERRIDE_LIST_LIMIT = 100
MONITORING_DAYS = 30
RECENT_REPORTS = 20
MODEL_REPORTS = 5

Status = ModelVersion.Status

# The governance trail's steps (audit actions ``risk.model_<step>``), in words.
HISTORY_STEPS = {
    "register": gettext_lazy("Registered"),
    "validate": gettext_lazy("Validated"),
    "approve": gettext_lazy("Approved for use"),
    "promote_request": gettext_lazy("Promotion requested"),
    "promote": gettext_lazy("Put into production"),
    "retire": gettext_lazy("Retired"),
    "shadow": gettext_lazy("Shadow scoring changed"),
    "grade_bands": gettext_lazy("Risk grades changed"),
    "feature_map": gettext_lazy("Feature mapping changed"),
}


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _is_partial(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    if not htmx:
        return False
    return not htmx.boosted and htmx.target == target


def _status_of(exc: Exception) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400


def _errors_to(form: Any, exc: ValidationError | PermissionDenied) -> None:
    """A service's refusal on the form: its fields' errors on the fields, the rest on top."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc) or _("You do not have permission to do this."))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _language() -> str:
    return translation.get_language() or "en"


# --- The model list ---------------------------------------------------------------------------


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    """The model versions by name, newest first, filtered by status, purpose and name; the
    production and shadow versions marked."""
    _require(request, VIEW_PERMISSION)
    form = ModelFilterForm(request.GET or None)
    versions: list[ModelVersion] = []
    if not form.is_bound or form.is_valid():
        filters = form.filters() if form.is_bound else {}
        versions = list(selectors.model_versions(actor=request.user, **filters))
    context = {
        "form": form,
        "versions": versions,
        "in_use": [v for v in versions if v.status == Status.PRODUCTION or v.shadow],
    }
    if _is_partial(request, "model-table"):
        return render(request, "risk/partials/model_table.html", context)
    return render(request, "risk/model_list.html", context)


# --- A model version's page -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A governance step the viewer may take on the version, with its form."""

    code: str
    title: str
    button: str
    url: str
    form: Any
    help: str = ""
    is_danger: bool = False


def _developed_by(actor: Any, version: ModelVersion) -> bool:
    return version.created_by_id is not None and version.created_by_id == getattr(actor, "pk", None)


def _steps(request: HttpRequest, version: ModelVersion, **forms: Any) -> dict[str, Any]:
    """The steps the viewer may take now, and why others are closed to them (the services
    decide; this only offers what they would allow)."""
    actor = request.user
    pending = registry.pending_promotion(version)
    developer = _developed_by(actor, version)
    may = {name: actor_has_perm(actor, perm) for name, perm in (
        ("train", TRAIN_PERMISSION), ("validate", VALIDATE_PERMISSION),
        ("approve", APPROVE_PERMISSION),
    )}  # fmt: skip
    steps: list[Step] = []
    notes: list[str] = []

    def url(name: str) -> str:
        return reverse(f"risk:model_{name}", args=[version.pk])

    if version.status == Status.DRAFT and may["validate"]:
        if developer:
            notes.append(
                _("You developed this version: its validation must be done by someone else.")
            )
        else:
            steps.append(Step(
                "validate", _("Validate"), _("Record the validation"), url("validate"),
                forms.get("validate_form") or NoteForm(auto_id="validate_%s"),
                _("Your independent validation's conclusion: data, method, performance and "
                  "limitations."),
            ))  # fmt: skip
    if version.status == Status.VALIDATED and may["approve"]:
        if developer:
            notes.append(_("You developed this version: a second person must approve it."))
        else:
            steps.append(Step(
                "approve", _("Approve for use"), _("Approve"), url("approve"),
                forms.get("approve_form") or NoteForm(auto_id="approve_%s"),
                _("Why the model may be used: it can then score in shadow or be promoted."),
            ))  # fmt: skip
    if version.status == Status.APPROVED:
        if pending is None and (may["train"] or may["approve"]):
            steps.append(Step(
                "promote", _("Request promotion to production"), _("Request promotion"),
                url("promote"), forms.get("promote_form") or ReasonForm(auto_id="promote_%s"),
                _("A second person with the model risk role approves the request; the "
                  "purpose's production version is then retired."),
            ))  # fmt: skip
        elif pending is not None and may["approve"]:
            if pending.maker_id == actor.pk:
                notes.append(_("You requested this promotion: a second person must approve it."))
            elif developer:
                notes.append(
                    _("You developed this version: a second person must approve its promotion.")
                )
            else:
                steps.append(Step(
                    "promote", _("Approve the promotion"), _("Approve and put into production"),
                    url("promote"), forms.get("promote_form") or ReasonForm(auto_id="promote_%s"),
                    _("The purpose's production version is retired and this one takes its place."),
                ))  # fmt: skip
        if may["approve"]:
            steps.append(Step(
                "shadow",
                _("Stop shadow scoring") if version.shadow else _("Score in shadow"),
                _("Stop") if version.shadow else _("Start shadow scoring"),
                url("shadow"),
                forms.get("shadow_form") or ShadowForm(
                    initial={"on": "0" if version.shadow else "1"}, auto_id="shadow_%s"
                ),
                _("A challenger scores beside the production model; its scores are stored "
                  "for comparison and never decide."),
            ))  # fmt: skip
    may_retire = (
        may["approve"] if version.status == Status.PRODUCTION else (may["approve"] or may["train"])
    )
    if version.status != Status.RETIRED and may_retire:
        steps.append(Step(
            "retire", _("Retire"), _("Retire this version"), url("retire"),
            forms.get("retire_form") or ReasonForm(auto_id="retire_%s"),
            _("Retiring the production version leaves the purpose without a model until "
              "another is promoted.") if version.status == Status.PRODUCTION else "",
            is_danger=True,
        ))  # fmt: skip
    # A step the viewer posted although it is not theirs to take: the service's refusal.
    offered = {id(step.form) for step in steps}
    refusals = [
        str(error)
        for form in forms.values()
        if form is not None and id(form) not in offered
        for errors in form.errors.values()
        for error in errors
    ]
    return {
        "steps": steps,
        "step_notes": notes,
        "step_refusals": refusals,
        "pending_promotion": pending,
    }


def _version(request: HttpRequest, pk: Any) -> ModelVersion:
    _require(request, VIEW_PERMISSION)
    return selectors.model_version_get(actor=request.user, pk=pk)


def _history(request: HttpRequest, version: ModelVersion) -> list[dict[str, Any]]:
    statuses = dict(Status.choices)
    rows = []
    for row in selectors.model_version_history(actor=request.user, version=version):
        rows.append(
            {
                **row,
                "step": HISTORY_STEPS.get(row["action"], row["action"]),
                "status_from": statuses.get(str(row.get("status_from")), row.get("status_from")),
                "status_to": statuses.get(str(row.get("status_to")), row.get("status_to")),
            }
        )
    return rows


def _detail_context(request: HttpRequest, version: ModelVersion, **forms: Any) -> dict[str, Any]:
    card = model_card_context(version)
    return {
        **card,
        "version": version,
        "card": card,
        "history": _history(request, version),
        "reports": list(
            selectors_monitoring.monitoring_report_list(actor=request.user, version=version.pk)[
                :MODEL_REPORTS
            ]
        ),
        **_steps(request, version, **forms),
    }


@login_required
@require_GET
def model_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """A model version: its status and governance trail, the steps open to the viewer and
    its model card."""
    version = _version(request, pk)
    return render(request, "risk/model_detail.html", _detail_context(request, version))


def _back(version: ModelVersion, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("risk:model_detail", args=[version.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


def _governance_step(
    request: HttpRequest,
    pk: Any,
    form_class: type,
    form_name: str,
    action: Callable[[ModelVersion, dict[str, Any]], Any],
    done: Callable[[ModelVersion, Any], str],
) -> HttpResponse:
    """Validate the step's form, call its service, say what happened; or show the form's
    (or the service's) errors on the version's page, changing nothing."""
    version = _version(request, pk)
    form = form_class(request.POST, auto_id=f"{form_name.removesuffix('_form')}_%s")
    status = 400
    if form.is_valid():
        try:
            result = action(version, form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            _errors_to(form, exc)
            status = _status_of(exc)
        else:
            version.refresh_from_db()
            messages.success(request, done(version, result))
            return _back(version)
    version.refresh_from_db()
    return render(
        request,
        "risk/model_detail.html",
        _detail_context(request, version, **{form_name: form}),
        status=status,
    )


@login_required
@require_POST
def model_validate(request: HttpRequest, pk: Any) -> HttpResponse:
    """Record the independent validation of a draft version."""
    return _governance_step(
        request, pk, NoteForm, "validate_form",
        lambda version, data: registry.model_validate(
            actor=request.user, version=version, note=data["note"]
        ),
        lambda version, _result: _("%(label)s is validated.") % {"label": version.label},
    )  # fmt: skip


@login_required
@require_POST
def model_approve(request: HttpRequest, pk: Any) -> HttpResponse:
    """Approve a validated version for use."""
    return _governance_step(
        request, pk, NoteForm, "approve_form",
        lambda version, data: registry.model_approve(
            actor=request.user, version=version, note=data["note"]
        ),
        lambda version, _result: _("%(label)s is approved for use.") % {"label": version.label},
    )  # fmt: skip


def _promoted(version: ModelVersion, approval: Any) -> str:
    if version.status == Status.PRODUCTION:
        return _("%(label)s is now in production.") % {"label": version.label}
    return _("Promotion request %(pk)s waits for a second person with the model risk role.") % {
        "pk": approval.pk
    }


@login_required
@require_POST
def model_promote(request: HttpRequest, pk: Any) -> HttpResponse:
    """Request a version's promotion to production, or approve another person's request."""
    return _governance_step(
        request, pk, ReasonForm, "promote_form",
        lambda version, data: registry.model_promote(
            actor=request.user, version=version, reason=data["reason"]
        ),
        _promoted,
    )  # fmt: skip


@login_required
@require_POST
def model_shadow(request: HttpRequest, pk: Any) -> HttpResponse:
    """Start or stop an approved version's shadow scoring."""
    return _governance_step(
        request, pk, ShadowForm, "shadow_form",
        lambda version, data: registry.model_shadow_set(
            actor=request.user, version=version, on=data["on"], reason=data["reason"]
        ),
        lambda version, _result: (
            _("%(label)s scores in shadow.") if version.shadow
            else _("%(label)s no longer scores in shadow.")
        ) % {"label": version.label},
    )  # fmt: skip


@login_required
@require_POST
def model_retire(request: HttpRequest, pk: Any) -> HttpResponse:
    """Retire a version."""
    return _governance_step(
        request, pk, ReasonForm, "retire_form",
        lambda version, data: registry.model_retire(
            actor=request.user, version=version, reason=data["reason"]
        ),
        lambda version, _result: _("%(label)s is retired.") % {"label": version.label},
    )  # fmt: skip


# --- Documents --------------------------------------------------------------------------------


def _file_name(stem: str, extension: str) -> str:
    return f"{slugify(stem) or 'document'}.{extension}"


def _document(
    content: bytes | str, content_type: str, name: str, *, attachment: bool
) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    disposition = "attachment" if attachment else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _pdf_or_refusal(request: HttpRequest, html: str, name: str, back: str) -> HttpResponse:
    try:
        pdf = model_card_pdf(html)
    except CardRenderError as exc:
        messages.error(request, _("The PDF could not be made: %(reason)s") % {"reason": exc})
        return HttpResponseRedirect(back)
    return _document(pdf, "application/pdf", name, attachment=True)


@login_required
@require_GET
def model_card(request: HttpRequest, pk: Any, kind: str) -> HttpResponse:
    """The model card as a standalone HTML document (to read or print) or as PDF, as the
    version stands now, in the reader's language."""
    version = _version(request, pk)
    html = model_card_html(version, language=_language())
    stem = f"{version.name}-v{version.version}-model-card"
    if kind == "pdf":
        return _pdf_or_refusal(
            request, html, _file_name(stem, "pdf"), reverse("risk:model_detail", args=[pk])
        )
    return _document(html, "text/html; charset=utf-8", _file_name(stem, "html"), attachment=False)


# --- Monitoring -------------------------------------------------------------------------------


def _monitored_versions(request: HttpRequest) -> list[ModelVersion]:
    """The versions in use: in production, and the shadow challengers."""
    in_use = selectors.model_versions(
        actor=request.user, status=[Status.PRODUCTION, Status.APPROVED]
    )
    return [version for version in in_use if version.status == Status.PRODUCTION or version.shadow]


def _reports(request: HttpRequest) -> Any:
    return selectors_monitoring.monitoring_report_list(actor=request.user)


def _report(request: HttpRequest, pk: Any) -> MonitoringReport:
    _require(request, VIEW_PERMISSION)
    return selectors_monitoring.monitoring_report_get(actor=request.user, pk=pk)


def _monitoring_context(
    request: HttpRequest, run_form: MonitoringRunForm | None = None
) -> dict[str, Any]:
    versions = _monitored_versions(request)
    latest: dict[int, MonitoringReport] = {}
    for report in (
        _reports(request)
        .filter(model_version__in=versions)
        .order_by("model_version", "-period_end", "-created_at")
    ):
        latest.setdefault(report.model_version_id, report)
    today = timezone.localdate()
    may_run = actor_has_perm(request.user, MONITOR_PERMISSION)
    choices = [(version.pk, version.label) for version in versions]
    if run_form is None and may_run:
        run_form = MonitoringRunForm(
            initial=MonitoringRunForm.last_days(today, MONITORING_DAYS),
            versions=choices,
            auto_id="run_%s",
        )
    return {
        "rows": [{"version": version, "report": latest.get(version.pk)} for version in versions],
        "recent": list(_reports(request).order_by("-created_at", "-pk")[:RECENT_REPORTS]),
        "run_form": run_form if may_run else None,
    }


@login_required
@require_GET
def monitoring(request: HttpRequest) -> HttpResponse:
    """The latest monitoring report of each model in use, running a new one, recent reports."""
    _require(request, VIEW_PERMISSION)
    return render(request, "risk/monitoring.html", _monitoring_context(request))


@login_required
@require_POST
def monitoring_run(request: HttpRequest) -> HttpResponse:
    """Run a monitoring report of a model version for a period."""
    _require(request, VIEW_PERMISSION)
    _require(request, MONITOR_PERMISSION)
    versions = _monitored_versions(request)
    form = MonitoringRunForm(
        request.POST, versions=[(v.pk, v.label) for v in versions], auto_id="run_%s"
    )
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        version = next(v for v in versions if v.pk == data["version"])
        try:
            report = services_monitoring.monitoring_run(
                actor=request.user,
                version=version,
                period_start=data["period_start"],
                period_end=data["period_end"],
            )
        except (ValidationError, PermissionDenied) as exc:
            _errors_to(form, exc)
            status = _status_of(exc)
        else:
            messages.success(
                request,
                _("Monitoring report of %(label)s for %(start)s to %(end)s: %(level)s.")
                % {
                    "label": version.label,
                    "start": report.period_start.isoformat(),
                    "end": report.period_end.isoformat(),
                    "level": report.get_level_display(),
                },
            )
            return HttpResponseRedirect(reverse("risk:monitoring_report", args=[report.pk]))
    return render(
        request, "risk/monitoring.html", _monitoring_context(request, form), status=status
    )


@login_required
@require_GET
def monitoring_report(request: HttpRequest, pk: Any) -> HttpResponse:
    """One monitoring report: stability of the score and per feature, back-testing, overrides."""
    report = _report(request, pk)
    return render(
        request,
        "risk/monitoring_report_page.html",
        {**monitoring_report_context(report), "report": report},
    )


@login_required
@require_GET
def monitoring_report_pdf(request: HttpRequest, pk: Any) -> HttpResponse:
    """The monitoring report as PDF (in the reader's language)."""
    report = _report(request, pk)
    html = monitoring_report_html(report, language=_language())
    stem = (
        f"{report.model_version.name}-v{report.model_version.version}-monitoring-"
        f"{report.period_start.isoformat()}-{report.period_end.isoformat()}"
    )
    return _pdf_or_refusal(
        request, html, _file_name(stem, "pdf"), reverse("risk:monitoring_report", args=[pk])
    )


# --- Overrides --------------------------------------------------------------------------------


@login_required
@require_GET
def override_report(request: HttpRequest) -> HttpResponse:
    """How often decisions went against the credit model, by officer and by branch, with the
    overridden decisions and their reasons."""
    _require(request, VIEW_PERMISSION)
    from bankcrm.lending.selectors_model import model_override_list, model_override_rates

    today = timezone.localdate()
    form = PeriodForm(request.GET or None, initial=PeriodForm.last_days(today, OVERRIDE_DAYS))
    period: dict[str, dt.date] = PeriodForm.last_days(today, OVERRIDE_DAYS)
    rates: dict[str, Any] | None = None
    overridden: list[Any] = []
    if not form.is_bound or form.is_valid():
        if form.is_bound:
            period = {key: form.cleaned_data[key] for key in ("period_start", "period_end")}
        rates = model_override_rates(actor=request.user, **period)
        overridden = list(model_override_list(actor=request.user, **period)[:OVERRIDE_LIST_LIMIT])
    return render(
        request,
        "risk/overrides.html",
        {
            "form": form,
            "period": period,
            "overrides": overrides_context(rates),
            "overridden": overridden,
            "list_limit": OVERRIDE_LIST_LIMIT,
            "may_view_applications": actor_has_perm(request.user, "lending.view_loanapplication"),
        },
        status=400 if form.is_bound and form.errors else 200,
    )
