"""REST API of scoring and monitoring (``/api/v1/risk/score``, ``/api/v1/risk/monitoring``,
``/api/v1/risk/overrides``).

``POST /score`` scores one subject with a purpose's production model or a named model
version: feature ``values`` (needs ``risk.score_modelversion``), a loan ``application`` or a
customer (``party``) the caller may see — one the caller cannot see answers 404, exactly as
if it did not exist. Every score is stored with its challenger's shadow score.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.schemas import InSchema

from . import selectors_monitoring
from . import services_monitoring as monitoring
from . import services_scoring as scoring
from .models import ModelVersion, MonitoringReport, Purpose

router = Router(tags=["risk"])

PurposeName = Literal["application", "behaviour", "propensity", "churn", "other"]


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


# --- Scoring ---------------------------------------------------------------------------------


class ScoreIn(InSchema):
    """What to score and with which model: ``purpose`` (its production model) or ``model``
    (a name, with ``version``: default the one in production, else the newest); and exactly
    one of ``values`` (feature name → value), ``application`` (key) or ``party`` (key).
    Without a model, an application is scored by the application model and a customer by
    the behaviour model."""

    purpose: PurposeName | None = None
    model: str | None = Field(default=None, max_length=64)
    version: int | None = Field(default=None, ge=1)
    values: dict[str, Any] | None = None
    application: uuid.UUID | None = None
    party: uuid.UUID | None = None


class ReasonOut(Schema):
    code: str
    feature: str
    text: str
    points_lost: float


class ShadowScoreOut(Schema):
    score: int
    probability_of_default: float
    grade: str
    recommendation: str
    reasons: list[ReasonOut]
    model: str
    version: int


class ScoreOut(ShadowScoreOut):
    """The score, its probability of default, risk grade and the model's recommendation,
    the reasons (largest point losses first), the model, and the shadow challenger's score
    when one scores beside it."""

    purpose: str
    subject_kind: str
    subject_id: str
    score_id: int | None
    shadow: ShadowScoreOut | None


def _version_for(actor: Any, payload: ScoreIn, default_purpose: str | None) -> ModelVersion:
    if payload.model and payload.purpose:
        raise _error("model", _("Give a model or a purpose, not both."))
    if payload.version is not None and not payload.model:
        raise _error("model", _("Name the model the version belongs to."), "required")
    if payload.model:
        return scoring.model_version_named(actor=actor, name=payload.model, version=payload.version)
    purpose = payload.purpose or default_purpose
    if not purpose:
        raise _error(
            "purpose", _("Give the purpose (its production model scores) or a model."), "required"
        )
    from .selectors import production_model

    version = production_model(purpose)
    if version is None:
        raise _error(
            "purpose",
            _("No %(purpose)s model is in production.") % {"purpose": Purpose(purpose).label},
            "not_found",
        )
    return version


@router.post("/score", response=ScoreOut)
def score(request: HttpRequest, payload: ScoreIn) -> Any:
    """Score feature values, a loan application or a customer (see the module text)."""
    actor = _actor(request)
    given = [
        name for name in ("values", "application", "party") if getattr(payload, name) is not None
    ]
    if len(given) != 1:
        raise _error(
            "values" if not given else given[1],
            _("Give exactly one of values, application or party."),
            "required" if not given else "invalid",
        )
    if payload.values is not None:
        if not actor_has_perm(actor, "risk.score_modelversion"):
            raise PermissionDenied(_("You do not have the permission to score with models."))
        version = _version_for(actor, payload, None)
        scored = scoring.score_values(
            actor=actor, version=version, values=payload.values, strict=True
        )
        return {**scored, "subject_kind": "record", "subject_id": ""}
    result: dict[str, Any] | None
    if payload.application is not None:
        from bankcrm.lending.selectors import loan_application_get

        application = loan_application_get(actor=actor, pk=payload.application)
        version = _version_for(actor, payload, Purpose.APPLICATION)
        result = scoring.application_score(actor=actor, application=application, version=version)
        subject = ("application", str(application.pk))
    else:
        from bankcrm.customers.selectors import party_get

        party = party_get(actor=actor, pk=payload.party)
        version = _version_for(actor, payload, Purpose.BEHAVIOUR)
        result = scoring.score_party(actor=actor, party=party, version=version)
        subject = ("party", str(party.pk))
    if result is None:  # the version was found above: only a vanished model lands here
        raise Http404
    return {**result, "subject_kind": subject[0], "subject_id": subject[1]}


# --- Monitoring ------------------------------------------------------------------------------


class MonitoringFilter(Schema):
    model: str | None = None
    version: int | None = None
    level: Literal["ok", "watch", "act"] | None = None


class MonitoringIn(InSchema):
    """Monitor a model over a period: ``model`` (name) with ``version`` (default the one in
    production, else the newest), and the period's first and last day."""

    model: str = Field(max_length=64)
    version: int | None = Field(default=None, ge=1)
    period_start: dt.date
    period_end: dt.date


class MonitoringReportOut(Schema):
    id: int
    model: str
    version: int
    model_version: int
    purpose: str
    period_start: dt.date
    period_end: dt.date
    scored: int
    psi: float | None
    level: str
    details: dict[str, Any]
    has_pdf: bool
    created_by: str | None
    created_at: dt.datetime


def report_out(report: MonitoringReport, *, has_pdf: bool | None = None) -> dict[str, Any]:
    creator = report.created_by
    return {
        "id": report.pk,
        "model": report.model_version.name,
        "version": report.model_version.version,
        "model_version": report.model_version_id,
        "purpose": report.model_version.purpose,
        "period_start": report.period_start,
        "period_end": report.period_end,
        "scored": report.scored,
        "psi": report.psi,
        "level": report.level,
        "details": report.details,
        "has_pdf": bool(report.pdf) if has_pdf is None else has_pdf,
        "created_by": creator.username if creator is not None else None,
        "created_at": report.created_at,
    }


@router.get("/monitoring", response=list[MonitoringReportOut])
def monitoring_list(request: HttpRequest, filters: Query[MonitoringFilter]) -> Any:
    """Monitoring reports, latest period first (needs ``risk.view_monitoringreport``)."""
    actor = _actor(request)
    if not actor_has_perm(actor, "risk.view_monitoringreport"):
        raise PermissionDenied(_("You do not have the permission to read monitoring reports."))
    reports = selectors_monitoring.monitoring_report_list(
        actor=actor, name=filters.model, level=filters.level
    )
    if filters.version is not None:
        reports = reports.filter(model_version__version=filters.version)
    pdf_ids = set(reports.exclude(pdf=b"").values_list("pk", flat=True))
    return [report_out(report, has_pdf=report.pk in pdf_ids) for report in reports[:200]]


@router.post("/monitoring", response={201: MonitoringReportOut})
def monitoring_create(request: HttpRequest, payload: MonitoringIn) -> Any:
    """Run the monitoring of a model over a period (needs ``risk.add_monitoringreport``)."""
    actor = _actor(request)
    if not actor_has_perm(actor, "risk.add_monitoringreport"):
        raise PermissionDenied(_("You do not have the permission to run model monitoring."))
    version = scoring.model_version_named(actor=actor, name=payload.model, version=payload.version)
    report = monitoring.monitoring_run(
        actor=actor,
        version=version,
        period_start=payload.period_start,
        period_end=payload.period_end,
    )
    return Status(201, report_out(report))


@router.get("/monitoring/{int:pk}", response=MonitoringReportOut)
def monitoring_get(request: HttpRequest, pk: int) -> Any:
    """One monitoring report."""
    report = selectors_monitoring.monitoring_report_get(actor=_actor(request), pk=pk)
    return report_out(report)


@router.get("/monitoring/{int:pk}/pdf", response={200: None})
def monitoring_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The monitoring report as PDF (404 when it has none)."""
    report = selectors_monitoring.monitoring_report_get(actor=_actor(request), pk=pk)
    if not report.pdf:
        raise Http404
    response = HttpResponse(bytes(report.pdf), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="monitoring-{report.model_version.name}-'
        f'{report.period_start}-{report.period_end}.pdf"'
    )
    return response


# --- Overrides -------------------------------------------------------------------------------


class OverrideFilter(Schema):
    period_start: dt.date = Field(alias="from")
    period_end: dt.date = Field(alias="until")


class OverrideLineOut(Schema):
    decisions: int
    overrides: int
    override_rate: float | None
    approved_against_decline: int
    declined_against_approve: int


class OfficerOverridesOut(OverrideLineOut):
    officer: int | None
    officer_name: str
    unit: int | None
    unit_name: str


class BranchOverridesOut(OverrideLineOut):
    branch: int
    branch_name: str


class OverridesOut(Schema):
    """How often decisions in the period went against the credit model's recommendation."""

    period_start: dt.date
    period_end: dt.date
    decisions: int
    overrides: int
    override_rate: float | None
    by_officer: list[OfficerOverridesOut]
    by_branch: list[BranchOverridesOut]


@router.get("/overrides", response=OverridesOut)
def overrides(request: HttpRequest, filters: Query[OverrideFilter]) -> Any:
    """Override rates by officer and by branch, ``?from=YYYY-MM-DD&until=YYYY-MM-DD``, over
    the applications the caller may see (needs lending view)."""
    actor = _actor(request)
    if not actor_has_perm(actor, "lending.view_loanapplication"):
        raise PermissionDenied(_("You do not have the permission to read loan decisions."))
    if filters.period_end < filters.period_start:
        raise _error("query.until", _("The end of the period cannot be before its start."))
    return monitoring.override_rates(
        actor=actor, period_start=filters.period_start, period_end=filters.period_end
    )
