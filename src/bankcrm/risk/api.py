"""REST API of credit risk (``/api/v1/risk/``): the model registry and its governance.

``GET /models`` lists model versions (filters: status, purpose, name), ``GET /models/{id}``
shows one with its evaluation, card data, risk grades and governance history, ``/card`` and
``/card.pdf`` return its model card. ``POST /models/{id}/validate|approve|promote|retire|
shadow`` take the governance steps, ``PUT /models/{id}/grade-bands`` and ``/feature-map``
change a draft or validated version, and ``POST /models/train`` trains on an uploaded CSV
(synchronously, up to ``RISK_TRAIN_UPLOAD_MAX_BYTES``; larger files are trained with
``bankcrm risk train``). Readers need ``risk.view_modelversion``: anyone else gets 403 on the
list and 404 on a version. Scoring and monitoring routes come from ``api_scoring``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError
from bankcrm.core.models.approvals import PendingApproval

from . import selectors, services
from .api_scoring import router as scoring_router
from .card import CardRenderError, model_card_html, model_card_pdf
from .models import ModelVersion

router = Router(tags=["risk"])
router.add_router("", scoring_router)

# Training runs in the request up to this size; larger files go through the command line.
# A 1,000-row file (80 KB) takes about 30 s with 5×5 cross-validation, and the web server
# stops a request after 60 s.
DEFAULT_TRAIN_UPLOAD_MAX_BYTES = 256 * 1024


def train_upload_limit() -> int:
    """The largest learning file ``POST /models/train`` trains synchronously, in bytes."""
    return int(getattr(settings, "RISK_TRAIN_UPLOAD_MAX_BYTES", DEFAULT_TRAIN_UPLOAD_MAX_BYTES))


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _name(user: Any) -> str | None:
    return (user.get_full_name() or user.username) if user is not None else None


# --- Schemas ----------------------------------------------------------------------------------


class ModelVersionOut(Schema):
    id: int
    name: str
    version: int
    label: str
    purpose: str
    method: str
    status: str
    shadow: bool
    description: str
    dataset_name: str
    auc_cv_mean: float | None = None
    auc_cv_std: float | None = None
    gini: float | None = None
    ks: float | None = None
    rows: int | None = None
    bad_rate: float | None = None
    created_at: dt.datetime
    created_by: str | None = None
    validated_by: str | None = None
    validated_at: dt.datetime | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    promoted_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None
    status_note: str


class HistoryOut(Schema):
    at: dt.datetime
    actor: str
    action: str
    status_from: str | None = None
    status_to: str | None = None
    reason: str


class ModelVersionDetailOut(ModelVersionOut):
    metrics: dict[str, Any]
    card: dict[str, Any]
    grade_bands: list[dict[str, Any]]
    feature_map: dict[str, str]
    features: list[str]
    fingerprint: dict[str, Any]
    training_settings: dict[str, Any]
    history: list[HistoryOut]
    pending_promotion: int | None = None
    card_url: str
    card_pdf_url: str


class ModelFilter(Schema):
    status: list[str] | None = None
    purpose: str | None = None
    name: str | None = None


class NoteIn(Schema):
    note: str = Field(..., max_length=services.MAX_NOTE_LENGTH)


class ReasonIn(Schema):
    reason: str = Field(..., max_length=services.MAX_NOTE_LENGTH)


class ShadowIn(Schema):
    on: bool
    reason: str = Field(..., max_length=services.MAX_NOTE_LENGTH)


class GradeBandsIn(Schema):
    bands: list[dict[str, Any]]


class FeatureMapIn(Schema):
    mapping: dict[str, str | None]


class PromoteOut(Schema):
    result: Literal["pending_approval", "promoted"]
    approval: int
    model: ModelVersionOut


class TrainIn(Schema):
    """The training parameters (multipart form fields beside the ``file``)."""

    target: str = Field(..., min_length=1, max_length=200)
    bad: list[str] = Field(..., min_length=1)
    exclude: list[str] = []
    dates: list[str] = []
    categorical: list[str] = []
    numeric: list[str] = []
    name: str = ""
    method: Literal["scorecard", "gbm", "both"] = "scorecard"
    purpose: str = "application"
    description: str = ""
    pdo: float = 20
    base_score: float = 600
    base_odds: float = 50
    folds: int = 5
    repeats: int = 5
    monotone: list[str] = Field(default=[], description="COLUMN=ascending|descending")


# --- Rendering --------------------------------------------------------------------------------


def model_version_out(version: ModelVersion) -> dict[str, Any]:
    metrics = version.metrics or {}

    def metric(key: str) -> Any:
        value = metrics.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None

    rows = metric("rows")
    return {
        "id": version.pk,
        "name": version.name,
        "version": version.version,
        "label": version.label,
        "purpose": version.purpose,
        "method": version.method,
        "status": version.status,
        "shadow": version.shadow,
        "description": version.description,
        "dataset_name": version.dataset_name,
        "auc_cv_mean": metric("auc_cv_mean"),
        "auc_cv_std": metric("auc_cv_std"),
        "gini": metric("gini"),
        "ks": metric("ks"),
        "rows": int(rows) if rows is not None else None,
        "bad_rate": metric("bad_rate"),
        "created_at": version.created_at,
        "created_by": _name(version.created_by),
        "validated_by": _name(version.validated_by),
        "validated_at": version.validated_at,
        "approved_by": _name(version.approved_by),
        "approved_at": version.approved_at,
        "promoted_at": version.promoted_at,
        "retired_at": version.retired_at,
        "status_note": version.status_note,
    }


def model_version_detail_out(actor: Any, version: ModelVersion) -> dict[str, Any]:
    pending = services.pending_promotion(version)
    base = f"/api/v1/risk/models/{version.pk}"
    return {
        **model_version_out(version),
        "metrics": version.metrics or {},
        "card": version.card or {},
        "grade_bands": version.grade_bands or [],
        "feature_map": version.feature_map or {},
        "features": [
            str(item.get("name"))
            for item in (version.spec or {}).get("features", [])
            if isinstance(item, dict)
        ],
        "fingerprint": version.fingerprint or {},
        "training_settings": version.training_settings or {},
        "history": selectors.model_version_history(actor=actor, version=version),
        "pending_promotion": pending.pk if pending is not None else None,
        "card_url": f"{base}/card",
        "card_pdf_url": f"{base}/card.pdf",
    }


def _version(request: HttpRequest, pk: int) -> ModelVersion:
    return selectors.model_version_get(actor=_actor(request), pk=pk)


def _detail(request: HttpRequest, pk: int) -> dict[str, Any]:
    actor = _actor(request)
    return model_version_detail_out(actor, selectors.model_version_get(actor=actor, pk=pk))


# --- Reading ----------------------------------------------------------------------------------


@router.get("/models", response=list[ModelVersionOut])
def model_list(request: HttpRequest, filters: Query[ModelFilter]) -> Any:
    """Model versions by name, newest version first; filter by status (repeatable), purpose
    and name."""
    actor = _actor(request)
    if not actor_has_perm(actor, selectors.VIEW_PERMISSION):
        raise PermissionDenied(_("You do not have permission to do this."))
    versions = selectors.model_versions(
        actor=actor, status=filters.status, purpose=filters.purpose, name=filters.name
    ).defer("spec", "card", "baseline")
    return [model_version_out(version) for version in versions[:1000]]


@router.get("/models/{int:pk}", response=ModelVersionDetailOut)
def model_get(request: HttpRequest, pk: int) -> Any:
    """One model version: evaluation (cross-validated AUC, Gini, KS, Brier and their spread,
    calibration), card data, risk grades, feature mapping, learning data fingerprint and the
    governance history."""
    return _detail(request, pk)


def _no_card() -> ProblemError:
    return ProblemError.of(error_codes.NOT_FOUND, detail=_("This model version has no model card."))


@router.get("/models/{int:pk}/card")
def model_card(request: HttpRequest, pk: int) -> Any:
    """The model card as a standalone HTML document."""
    version = _version(request, pk)
    html = version.card_html or model_card_html(version)
    if not html:
        raise _no_card()
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/models/{int:pk}/card.pdf")
def model_card_pdf_get(request: HttpRequest, pk: int) -> Any:
    """The model card as PDF."""
    version = _version(request, pk)
    pdf = bytes(version.card_pdf or b"")
    if not pdf:
        html = version.card_html or model_card_html(version)
        try:
            pdf = model_card_pdf(html) if html else b""
        except CardRenderError as exc:
            raise ProblemError(
                503, "pdf_unavailable", _("PDF output is not available on this server."), str(exc)
            ) from None
    if not pdf:
        raise _no_card()
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{version.name}-v{version.version}.pdf"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Governance -------------------------------------------------------------------------------


@router.post("/models/{int:pk}/validate", response=ModelVersionDetailOut)
def model_validate(request: HttpRequest, pk: int, payload: NoteIn) -> Any:
    """Record the independent validation of a draft (never by its developer)."""
    services.model_validate(actor=_actor(request), version=_version(request, pk), note=payload.note)
    return _detail(request, pk)


@router.post("/models/{int:pk}/approve", response=ModelVersionDetailOut)
def model_approve(request: HttpRequest, pk: int, payload: NoteIn) -> Any:
    """Approve a validated version for use (never by its developer)."""
    services.model_approve(actor=_actor(request), version=_version(request, pk), note=payload.note)
    return _detail(request, pk)


@router.post("/models/{int:pk}/promote", response=PromoteOut)
def model_promote(request: HttpRequest, pk: int, payload: ReasonIn) -> Any:
    """Ask for an approved version to go into production (``pending_approval``), or, as the
    second person with the model risk role, approve the pending request (``promoted``)."""
    version = _version(request, pk)
    approval = services.model_promote(actor=_actor(request), version=version, reason=payload.reason)
    version = _version(request, pk)
    promoted = approval.status == PendingApproval.Status.APPROVED
    return {
        "result": "promoted" if promoted else "pending_approval",
        "approval": approval.pk,
        "model": model_version_out(version),
    }


@router.post("/models/{int:pk}/retire", response=ModelVersionDetailOut)
def model_retire(request: HttpRequest, pk: int, payload: ReasonIn) -> Any:
    """Take a version out of use, saying why."""
    services.model_retire(
        actor=_actor(request), version=_version(request, pk), reason=payload.reason
    )
    return _detail(request, pk)


@router.post("/models/{int:pk}/shadow", response=ModelVersionDetailOut)
def model_shadow(request: HttpRequest, pk: int, payload: ShadowIn) -> Any:
    """Let an approved version score in shadow beside production (``on: true``), or stop."""
    services.model_shadow_set(
        actor=_actor(request), version=_version(request, pk), on=payload.on, reason=payload.reason
    )
    return _detail(request, pk)


@router.put("/models/{int:pk}/grade-bands", response=ModelVersionDetailOut)
def model_grade_bands(request: HttpRequest, pk: int, payload: GradeBandsIn) -> Any:
    """Replace the risk grades (highest first; the last band's ``min_score`` is null) of a
    draft or validated version."""
    services.model_grade_bands_update(
        actor=_actor(request), version=_version(request, pk), bands=payload.bands
    )
    return _detail(request, pk)


@router.put("/models/{int:pk}/feature-map", response=ModelVersionDetailOut)
def model_feature_map(request: HttpRequest, pk: int, payload: FeatureMapIn) -> Any:
    """Replace the model feature → CRM feature mapping of a draft or validated version."""
    services.model_feature_map_update(
        actor=_actor(request), version=_version(request, pk), mapping=payload.mapping
    )
    return _detail(request, pk)


# --- Training ---------------------------------------------------------------------------------


def _upload_suffix(name: str) -> str:
    lowered = name.lower()
    return ".csv.gz" if lowered.endswith(".gz") else ".csv"


@router.post("/models/train", response={201: list[ModelVersionOut]})
def model_train(
    request: HttpRequest,
    params: Form[TrainIn],
    file: UploadedFile = File(...),  # noqa: B008  (ninja declares parameters this way)
) -> Any:
    """Train on an uploaded CSV (multipart ``file``, plain or gzipped, any separator) and
    register the result as draft version(s): the scorecard as ``name``, with ``method=both``
    the gradient-boosting challenger as ``name-gbm``. Runs in the request for files up to
    ``RISK_TRAIN_UPLOAD_MAX_BYTES`` (default 256 KB); a larger file answers 413."""
    actor = _actor(request)
    if not actor_has_perm(actor, services.TRAIN_PERMISSION):
        raise PermissionDenied(_("You do not have permission to do this."))
    limit = train_upload_limit()
    if file.size is not None and file.size > limit:
        raise ProblemError.of(
            error_codes.PAYLOAD_TOO_LARGE,
            detail=_(
                "The learning file is larger than %(limit)s bytes, the most trained during a "
                "request; train it on the server with `bankcrm risk train`."
            )
            % {"limit": limit},
        )
    training = services.training_settings_build(
        pdo=params.pdo,
        base_score=params.base_score,
        base_odds=params.base_odds,
        folds=params.folds,
        repeats=params.repeats,
        monotone=params.monotone,
    )
    upload_name = Path(file.name or "upload.csv").name
    with tempfile.TemporaryDirectory(prefix="bankcrm-train-") as folder:
        path = Path(folder) / f"data{_upload_suffix(upload_name)}"
        with path.open("wb") as handle:
            for chunk in file.chunks():
                handle.write(chunk)
        versions = services.model_train(
            actor=actor,
            path=path,
            target=params.target,
            bad=params.bad,
            exclude=params.exclude,
            name=params.name or services.default_model_name(upload_name),
            method=params.method,
            purpose=params.purpose,
            settings=training,
            description=params.description,
            dates=params.dates,
            categorical=params.categorical,
            numeric=params.numeric,
            dataset_name=upload_name,
        )
    return Status(201, [model_version_out(version) for version in versions])
