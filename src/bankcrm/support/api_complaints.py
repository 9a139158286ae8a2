"""REST API of complaints (under ``/api/v1/support/``).

* ``GET /complaints`` complaints received in a period (``date_from``, ``date_to``,
  ``overdue``), oldest first;
* ``GET /complaints/register.csv`` and ``/complaints/register.xlsx`` the complaints register
  of a period (``support.export_complaints``; audited);
* ``GET /cases/{id}/complaint`` and ``PATCH`` (category, product, root cause, outcome,
  answer date);
* ``POST /cases/{id}/complaint/extend`` (once, with a reason);
* ``POST /cases/{id}/complaint/redress`` (amount, currency, reason: approved at once up to
  the threshold, else awaiting a second person), ``/redress/decision`` (the second person
  approves or rejects) and ``/redress/paid``.

Reads go through the complaint selectors, changes through one service each. A case or a
complaint outside the caller's reach is 404; a refused change is a problem naming each bad
field (``body.amount`` …) and changes nothing. Customers never appear in clear.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError, field_errors_from_django
from bankcrm.core.schemas import InSchema
from bankcrm.core.timefmt import bank_today

from . import reports_complaints, services_complaints
from .models import Complaint, ComplaintCode, ServiceCase
from .selectors_complaints import case_visible_to, complaint_for_case, complaint_list

router = Router(tags=["support"])

MAX_TEXT = 2000


# --- Schemas ---------------------------------------------------------------------------------


class ComplaintCodeOut(Schema):
    code: str
    name: str
    name_zh: str


class ComplaintOut(Schema):
    id: int
    case: uuid.UUID
    reference: str
    category: ComplaintCodeOut
    product: ComplaintCodeOut
    root_cause: ComplaintCodeOut | None = None
    received_on: dt.date
    deadline_rule: str
    deadline: dt.date
    days_left: int
    is_overdue: bool
    extended: bool
    extended_at: dt.datetime | None = None
    extension_reason: str
    outcome: str
    answered_on: dt.date | None = None
    redress_amount: Decimal | None = None
    redress_currency: str
    redress_status: str
    redress_approval: int | None = None
    escalated_at: dt.datetime | None = None


class ComplaintFilter(Schema):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    overdue: bool | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class RegisterPeriod(Schema):
    date_from: dt.date
    date_to: dt.date


class ComplaintPatchIn(InSchema):
    category: str | None = Field(None, max_length=32)
    product: str | None = Field(None, max_length=32)
    root_cause: str | None = Field(None, max_length=32)
    outcome: Literal["", "upheld", "partly_upheld", "not_upheld", "withdrawn"] | None = None
    answered_on: dt.date | None = None


class ExtendIn(InSchema):
    reason: str = Field(..., max_length=MAX_TEXT)


class RedressIn(InSchema):
    amount: Decimal
    currency: str = Field(..., max_length=8)
    reason: str = Field(..., max_length=MAX_TEXT)


class RedressDecisionIn(InSchema):
    decision: Literal["approve", "reject"]
    comment: str = Field("", max_length=MAX_TEXT)


class RedressPaidIn(InSchema):
    reason: str = Field("", max_length=500)


# --- Helpers ---------------------------------------------------------------------------------


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _not_found() -> ProblemError:
    return ProblemError.of(error_codes.NOT_FOUND)


def _invalid(exc: ValidationError) -> ProblemError:
    errors = field_errors_from_django(exc, prefix="body")
    return ProblemError.of(
        error_codes.VALIDATION_ERROR,
        detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
        errors=errors,
    )


def _code_out(code: ComplaintCode | None) -> dict[str, str] | None:
    if code is None:
        return None
    return {"code": code.code, "name": code.name, "name_zh": code.name_zh}


def complaint_out(complaint: Complaint, today: dt.date | None = None) -> dict[str, Any]:
    """The API representation of a complaint (no personal data)."""
    today = today or bank_today()
    case = complaint.case
    days_left = (complaint.deadline - today).days
    return {
        "id": complaint.pk,
        "case": case.pk,
        "reference": case.reference,
        "category": _code_out(complaint.category),
        "product": _code_out(complaint.product),
        "root_cause": _code_out(complaint.root_cause),
        "received_on": complaint.received_on,
        "deadline_rule": complaint.deadline_rule.code,
        "deadline": complaint.deadline,
        "days_left": days_left,
        "is_overdue": days_left < 0 and complaint.answered_on is None and case.is_open,
        "extended": complaint.extended_at is not None,
        "extended_at": complaint.extended_at,
        "extension_reason": complaint.extension_reason,
        "outcome": complaint.outcome,
        "answered_on": complaint.answered_on,
        "redress_amount": complaint.redress_amount,
        "redress_currency": complaint.redress_currency,
        "redress_status": complaint.redress_status,
        "redress_approval": complaint.redress_approval_id,
        "escalated_at": complaint.escalated_at,
    }


def _case(request: HttpRequest, case_id: uuid.UUID) -> ServiceCase:
    try:
        return case_visible_to(_actor(request), "view").get(pk=case_id)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise _not_found() from exc


def _complaint(request: HttpRequest, case_id: uuid.UUID) -> Complaint:
    complaint = complaint_for_case(actor=_actor(request), case=_case(request, case_id))
    if complaint is None:
        raise _not_found()
    return complaint


def _run(request: HttpRequest, case_id: uuid.UUID, change: Any) -> dict[str, Any]:
    """Apply one service to the case's complaint; the fresh complaint as the answer."""
    complaint = _complaint(request, case_id)
    try:
        change(complaint)
    except ValidationError as exc:
        raise _invalid(exc) from None
    except (ObjectDoesNotExist, Http404) as exc:
        raise _not_found() from exc
    return complaint_out(_complaint(request, case_id))


# --- Endpoints -------------------------------------------------------------------------------


@router.get("/complaints", response=list[ComplaintOut])
def complaint_list_get(request: HttpRequest, filters: Query[ComplaintFilter]) -> Any:
    """Complaints the caller may see received in the period, oldest first."""
    today = bank_today()
    queryset = complaint_list(
        actor=_actor(request),
        date_from=filters.date_from,
        date_to=filters.date_to,
        overdue_on=today if filters.overdue else None,
    )
    if filters.overdue is False:
        queryset = queryset.exclude(pk__in=complaint_list(actor=_actor(request), overdue_on=today))
    rows = queryset[filters.offset : filters.offset + filters.limit]
    return [complaint_out(complaint, today) for complaint in rows]


def _register_file(request: HttpRequest, period: RegisterPeriod, fmt: str) -> HttpResponse:
    actor = _actor(request)
    try:
        if fmt == "csv":
            body = reports_complaints.complaints_register_csv(
                actor=actor, date_from=period.date_from, date_to=period.date_to
            )
            content_type = reports_complaints.CSV_CONTENT_TYPE
        else:
            body = reports_complaints.complaints_register_xlsx(
                actor=actor, date_from=period.date_from, date_to=period.date_to
            )
            content_type = reports_complaints.XLSX_CONTENT_TYPE
    except ValidationError as exc:
        errors = field_errors_from_django(exc, prefix="query")
        raise ProblemError.of(error_codes.VALIDATION_ERROR, errors=errors) from None
    response = HttpResponse(body, content_type=content_type)
    name = reports_complaints.register_file_name(period.date_from, period.date_to, fmt)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@router.get("/complaints/register.csv")
def complaints_register_csv(request: HttpRequest, period: Query[RegisterPeriod]) -> Any:
    """The complaints register of the period as CSV (UTF-8 with a byte-order mark)."""
    return _register_file(request, period, "csv")


@router.get("/complaints/register.xlsx")
def complaints_register_xlsx(request: HttpRequest, period: Query[RegisterPeriod]) -> Any:
    """The complaints register of the period as an XLSX workbook."""
    return _register_file(request, period, "xlsx")


@router.get("/cases/{uuid:case_id}/complaint", response=ComplaintOut)
def case_complaint_get(request: HttpRequest, case_id: uuid.UUID) -> Any:
    """The complaint of a complaint case."""
    return complaint_out(_complaint(request, case_id))


@router.patch("/cases/{uuid:case_id}/complaint", response=ComplaintOut)
def case_complaint_patch(
    request: HttpRequest, case_id: uuid.UUID, payload: ComplaintPatchIn
) -> Any:
    """Change the classification, root cause, outcome or answer date (only the fields sent)."""
    changes = payload.model_dump(exclude_unset=True)
    return _run(
        request,
        case_id,
        lambda complaint: services_complaints.complaint_update(
            actor=_actor(request), complaint=complaint, changes=changes
        ),
    )


@router.post("/cases/{uuid:case_id}/complaint/extend", response=ComplaintOut)
def case_complaint_extend(request: HttpRequest, case_id: uuid.UUID, payload: ExtendIn) -> Any:
    """Extend the deadline once, with a reason (only if the deadline rule allows it)."""
    return _run(
        request,
        case_id,
        lambda complaint: services_complaints.complaint_extend(
            actor=_actor(request), complaint=complaint, reason=payload.reason
        ),
    )


@router.post("/cases/{uuid:case_id}/complaint/redress", response=ComplaintOut)
def case_complaint_redress(request: HttpRequest, case_id: uuid.UUID, payload: RedressIn) -> Any:
    """Set the redress: approved at once up to the threshold, else awaiting approval."""
    return _run(
        request,
        case_id,
        lambda complaint: services_complaints.complaint_redress_set(
            actor=_actor(request),
            complaint=complaint,
            amount=payload.amount,
            currency=payload.currency,
            reason=payload.reason,
        ),
    )


@router.post("/cases/{uuid:case_id}/complaint/redress/decision", response=ComplaintOut)
def case_complaint_redress_decision(
    request: HttpRequest, case_id: uuid.UUID, payload: RedressDecisionIn
) -> Any:
    """Approve or reject the pending redress as the second person."""
    return _run(
        request,
        case_id,
        lambda complaint: services_complaints.complaint_redress_decide(
            actor=_actor(request),
            complaint=complaint,
            approve=payload.decision == "approve",
            comment=payload.comment,
        ),
    )


@router.post("/cases/{uuid:case_id}/complaint/redress/paid", response=ComplaintOut)
def case_complaint_redress_paid(
    request: HttpRequest, case_id: uuid.UUID, payload: RedressPaidIn
) -> Any:
    """Record that the approved redress has been paid."""
    return _run(
        request,
        case_id,
        lambda complaint: services_complaints.complaint_redress_paid(
            actor=_actor(request), complaint=complaint, reason=payload.reason
        ),
    )
