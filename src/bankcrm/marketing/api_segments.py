"""REST API of marketing: segments (under ``/api/v1/marketing/``).

* ``GET /segments`` (``include_archived``), ``GET /segments/{id}``;
* ``POST /segments`` (name, kind, definition, owning unit code, description, refresh hours);
* ``PATCH /segments/{id}``, ``POST /segments/{id}/archive``;
* ``POST /segments/count`` ``{"definition": {...}}`` → ``{"count": n}``: the live count among
  the customers the caller may see;
* ``POST /segments/{id}/evaluate`` (``resnapshot`` for a static segment) → the member count.

The rule tree's JSON form is documented in :mod:`bankcrm.marketing.segments.rules`. A bad
rule is a problem+json whose error names the rule (``body.definition``: "rule 2.1: unknown
field 'x'"); a segment outside the caller's reach is 404; nothing changes on an error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bankcrm.access.models import OrgUnit
from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError, field_error, field_errors_from_django
from bankcrm.core.schemas import InSchema

from . import selectors_segments, services_segments
from .models import Segment

router = Router(tags=["marketing"])


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    definition: dict[str, Any]
    owning_unit: str
    refresh_hours: int
    is_archived: bool
    member_count: int
    last_evaluated_at: dt.datetime | None = None
    evaluation_seconds: float | None = None


class SegmentFilter(Schema):
    include_archived: bool = False


class SegmentIn(InSchema):
    name: str = Field(max_length=200)
    kind: Literal["dynamic", "static"] = "dynamic"
    definition: dict[str, Any]
    owning_unit: str | None = Field(default=None, description="unit code; default: yours")
    description: str = Field(default="", max_length=4000)
    refresh_hours: int = Field(default=24, ge=0, le=services_segments.MAX_REFRESH_HOURS)


class SegmentPatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    kind: Literal["dynamic", "static"] | None = None
    definition: dict[str, Any] | None = None
    owning_unit: str | None = None
    description: str | None = Field(default=None, max_length=4000)
    refresh_hours: int | None = Field(default=None, ge=0, le=services_segments.MAX_REFRESH_HOURS)


class CountIn(InSchema):
    definition: dict[str, Any]


class CountOut(Schema):
    count: int


class EvaluateIn(InSchema):
    resnapshot: bool = False


class EvaluateOut(Schema):
    id: int
    member_count: int
    last_evaluated_at: dt.datetime | None = None
    evaluation_seconds: float | None = None


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def segment_out(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.pk,
        "name": segment.name,
        "description": segment.description,
        "kind": segment.kind,
        "definition": segment.definition,
        "owning_unit": segment.owning_unit.code,
        "refresh_hours": segment.refresh_hours,
        "is_archived": segment.is_archived,
        "member_count": segment.member_count,
        "last_evaluated_at": segment.last_evaluated_at,
        "evaluation_seconds": segment.evaluation_seconds,
    }


def _invalid(exc: ValidationError) -> ProblemError:
    errors = field_errors_from_django(exc, prefix="body")
    return ProblemError.of(
        error_codes.VALIDATION_ERROR,
        detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
        errors=errors,
    )


def _segment(request: HttpRequest, pk: int) -> Segment:
    try:
        return selectors_segments.segment_get(actor=_actor(request), pk=pk)
    except Segment.DoesNotExist as exc:
        raise ProblemError.of(error_codes.NOT_FOUND) from exc


def _unit(code: str | None) -> OrgUnit | None:
    if code is None:
        return None
    unit = OrgUnit.objects.filter(code=code).first()
    if unit is None:
        message = _("No unit has this code.")
        raise ProblemError.of(
            error_codes.VALIDATION_ERROR,
            detail=f"body.owning_unit: {message}",
            errors=[field_error("body.owning_unit", message, error_codes.FIELD_INVALID_CHOICE)],
        )
    return unit


@router.get("/segments", response=list[SegmentOut])
def segment_list(request: HttpRequest, filters: Query[SegmentFilter]) -> Any:
    """Segments within the caller's reach, by name."""
    segments = selectors_segments.segment_list(
        actor=_actor(request), include_archived=filters.include_archived
    )
    return [segment_out(segment) for segment in segments]


@router.post("/segments/count", response=CountOut)
def segment_count(request: HttpRequest, payload: CountIn) -> Any:
    """How many customers the caller may see match the rules now."""
    try:
        count = services_segments.segment_count(
            actor=_actor(request), definition=payload.definition
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return {"count": count}


@router.get("/segments/{pk}", response=SegmentOut)
def segment_get(request: HttpRequest, pk: int) -> Any:
    """One segment."""
    return segment_out(_segment(request, pk))


@router.post("/segments", response={201: SegmentOut})
def segment_create(request: HttpRequest, payload: SegmentIn) -> Any:
    """A new segment (201)."""
    try:
        segment = services_segments.segment_create(
            actor=_actor(request),
            name=payload.name,
            kind=payload.kind,
            definition=payload.definition,
            owning_unit=_unit(payload.owning_unit),
            description=payload.description,
            refresh_hours=payload.refresh_hours,
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return Status(201, segment_out(segment))


@router.patch("/segments/{pk}", response=SegmentOut)
def segment_update(request: HttpRequest, pk: int, payload: SegmentPatch) -> Any:
    """Change the fields given."""
    segment = _segment(request, pk)
    changes = payload.model_dump(exclude_unset=True)
    if "owning_unit" in changes:
        changes["owning_unit"] = _unit(changes["owning_unit"])
    try:
        segment = services_segments.segment_update(
            actor=_actor(request), segment=segment, **changes
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return segment_out(segment)


@router.post("/segments/{pk}/archive", response=SegmentOut)
def segment_archive(request: HttpRequest, pk: int) -> Any:
    """Archive the segment."""
    segment = services_segments.segment_archive(
        actor=_actor(request), segment=_segment(request, pk)
    )
    return segment_out(segment)


@router.post("/segments/{pk}/evaluate", response=EvaluateOut)
def segment_evaluate(request: HttpRequest, pk: int, payload: EvaluateIn | None = None) -> Any:
    """Evaluate the segment now; its member count."""
    segment = _segment(request, pk)
    try:
        services_segments.segment_evaluate(
            actor=_actor(request),
            segment=segment,
            resnapshot=bool(payload and payload.resnapshot),
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    segment.refresh_from_db()
    return {
        "id": segment.pk,
        "member_count": segment.member_count,
        "last_evaluated_at": segment.last_evaluated_at,
        "evaluation_seconds": segment.evaluation_seconds,
    }
