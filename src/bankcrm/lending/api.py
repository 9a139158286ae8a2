"""REST API of lending (``/api/v1/lending/``): loan products, reference rates, loan
applications with their workflow steps, underwriting, decisions, parties, collateral and
documents, and the repayment schedule calculator.

Every read goes through the scoped selectors (another branch's application answers 404) and
every change through the audited services. Applicants and parties appear by display name
only; settlement accounts by their last four digits; the analyst's notes masked unless the
caller's role may unmask and the request says ``?unmask=true&reason=…`` (audited).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.masking import mask
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services import pii_unmask
from bankcrm.core.workflow import workflow_available_transitions

from . import selectors
from . import services_applications as services
from .guards import DECISION_ACTION, document_is_valid
from .models import ApplicationDocument, Collateral, Loan, LoanApplication, LoanProduct
from .pricing import loan_product_rate, schedule_periods, upfront_fee
from .schedule import ScheduleTerms, schedule_build, schedule_to_dict
from .schemas import (
    ApplicationDetailOut,
    ApplicationIn,
    ApplicationPageOut,
    ApplicationPatch,
    CollateralIn,
    CollateralOut,
    CollateralPatch,
    DecisionIn,
    DocumentIn,
    DocumentOut,
    DocumentVerifyIn,
    NotesIn,
    PartyOnApplicationIn,
    PartyOnApplicationOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    ReasonIn,
    ReferenceRateIn,
    ReferenceRateOut,
    ScheduleIn,
    ScheduleOut,
    StepResultOut,
    TransitionIn,
)
from .scoring import NO_MODEL_MESSAGE, credit_scorer_registered
from .underwriting import HUNDRED, money_quantum

router = Router(tags=["lending"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _name(user: Any) -> str | None:
    return (user.get_full_name() or user.username) if user is not None else None


# --- Products and reference rates ------------------------------------------------------------


def product_out(product: LoanProduct) -> dict[str, Any]:
    data = {field.name: getattr(product, field.name) for field in product._meta.concrete_fields}
    data["id"] = product.pk
    try:
        data["current_rate"] = loan_product_rate(product, timezone.localdate())
        data["current_rate_problem"] = ""
    except ValidationError as exc:
        data["current_rate"] = None
        data["current_rate_problem"] = " ".join(exc.messages)
    return data


class ProductFilter(Schema):
    type: str | None = None
    include_inactive: bool = False


@router.get("/products", response=list[ProductOut])
def product_list(request: HttpRequest, filters: Query[ProductFilter]) -> Any:
    """The loan products the bank offers (``include_inactive`` for withdrawn ones too)."""
    products = selectors.loan_product_list(
        actor=_actor(request), include_inactive=filters.include_inactive, type=filters.type
    )
    return [product_out(product) for product in products]


@router.get("/products/{pk}", response=ProductOut)
def product_get(request: HttpRequest, pk: str) -> Any:
    """One loan product, by key or code."""
    return product_out(selectors.loan_product_get(actor=_actor(request), pk=pk))


@router.post("/products", response={201: ProductOut})
def product_create(request: HttpRequest, payload: ProductIn) -> Any:
    """Define a loan product (administrators of lending products only)."""
    product = services.loan_product_create(
        actor=_actor(request), data=payload.model_dump(exclude_unset=True)
    )
    return Status(201, product_out(product))


@router.patch("/products/{pk}", response=ProductOut)
def product_update(request: HttpRequest, pk: str, payload: ProductPatch) -> Any:
    """Change a loan product (only the fields sent)."""
    actor = _actor(request)
    product = selectors.loan_product_get(actor=actor, pk=pk)
    services.loan_product_update(
        actor=actor, product=product, changes=payload.model_dump(exclude_unset=True)
    )
    return product_out(product)


@router.get("/reference-rates", response=list[ReferenceRateOut])
def reference_rate_list(request: HttpRequest, code: str | None = None) -> Any:
    """Published reference rates, newest first within each code."""
    actor = _actor(request)
    if not actor_has_perm(actor, "lending.view_referencerate"):
        raise PermissionDenied(_("You do not have permission to do this."))
    rates = selectors.reference_rate_list(actor=actor)
    if code:
        rates = rates.filter(code=code)
    return list(rates[:1000])


@router.post("/reference-rates", response={201: ReferenceRateOut})
def reference_rate_publish(request: HttpRequest, payload: ReferenceRateIn) -> Any:
    """Publish a reference rate from a date on."""
    rate = services.reference_rate_publish(actor=_actor(request), **payload.model_dump())
    return Status(201, rate)


# --- Applications -----------------------------------------------------------------------------


class Unmask(Schema):
    """Show the analyst's notes in clear (needs a role that may unmask, and a reason)."""

    unmask: bool = False
    reason: str = ""


def application_out(application: LoanApplication) -> dict[str, Any]:
    account = application.settlement_account
    return {
        "id": application.pk,
        "reference": application.reference,
        "product": application.product_id,
        "product_code": application.product.code,
        "product_name": application.product.name,
        "applicant": application.applicant_id,
        "applicant_name": application.applicant.display_name,
        "branch": application.branch_id,
        "branch_name": application.branch.name,
        "officer": application.officer_id,
        "officer_name": _name(application.officer),
        "purpose": application.purpose,
        "amount": application.amount,
        "currency": application.currency,
        "term_months": application.term_months,
        "monthly_income": application.monthly_income,
        "monthly_obligations": application.monthly_obligations,
        "monthly_expenses": application.monthly_expenses,
        "settlement_account": account.pk if account else None,
        "settlement_account_number": f"**** {account.number_last4}" if account else None,
        "state": application.state,
        "state_entered_at": application.state_entered_at,
        "state_due_at": application.state_due_at,
        "submitted_by": _name(application.submitted_by),
        "submitted_at": application.submitted_at,
        "decision": application.decision,
        "decision_reason": application.decision_reason,
        "decided_by": _name(application.decided_by),
        "decided_at": application.decided_at,
        "model_recommendation": application.model_recommendation,
        "model_overridden": application.model_overridden,
        "override_reason": application.override_reason,
        "approved_amount": application.approved_amount,
        "approved_term_months": application.approved_term_months,
        "approved_rate": application.approved_rate,
        "offer_apr": application.offer_apr,
        "offer_expires_on": application.offer_expires_on,
        "underwritten_at": application.underwritten_at,
        "custom_fields": application.custom_fields,
        "created_at": application.created_at,
        "updated_at": application.updated_at,
    }


def document_out(document: ApplicationDocument, today: dt.date) -> dict[str, Any]:
    return {
        "id": document.pk,
        "code": document.code,
        "name": document.name,
        "is_required": document.is_required,
        "status": document.status,
        "is_valid": document_is_valid(document, today),
        "file_name": document.file_name,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
        "uploaded_at": document.uploaded_at,
        "uploaded_by": _name(document.uploaded_by),
        "verified_at": document.verified_at,
        "verified_by": _name(document.verified_by),
        "expires_on": document.expires_on,
        "note": document.note,
    }


def collateral_out(item: Collateral) -> dict[str, Any]:
    return {
        "id": item.pk,
        "type": item.type,
        "description": item.description,
        "value": item.value,
        "currency": item.currency,
        "valuation_date": item.valuation_date,
        "valuer": item.valuer,
        "haircut_percent": item.haircut_percent,
        "counted_value": (
            Decimal(item.value) * (HUNDRED - Decimal(item.haircut_percent)) / HUNDRED
        ).quantize(Decimal("0.01")),
    }


def party_out(row: Any) -> dict[str, Any]:
    return {
        "id": row.pk,
        "party": row.party_id,
        "party_name": row.party.display_name,
        "role": row.role,
        "monthly_income": row.monthly_income,
        "guaranteed_amount": row.guaranteed_amount,
    }


def _pending_approval(application: LoanApplication) -> int | None:
    return (
        PendingApproval.objects.filter(
            action=DECISION_ACTION,
            object_type=application._meta.label_lower,
            object_pk=str(application.pk),
            status=PendingApproval.Status.PENDING,
        )
        .values_list("pk", flat=True)
        .first()
    )


def application_detail_out(
    actor: Any, application: LoanApplication, options: Unmask | None = None
) -> dict[str, Any]:
    today = timezone.localdate()
    data = application_out(application)
    notes_masked = not (options and options.unmask)
    if application.analyst_notes and not notes_masked:
        if options is None:
            # Validated above: reaching here otherwise is a programming error.
            raise RuntimeError("invariant broken: options is not None")
        notes = pii_unmask(
            actor=actor, target=application, field="analyst_notes", reason=options.reason
        )
    else:
        notes = mask(application.analyst_notes, "text")
    underwriting = application.underwriting or {}
    data.update(
        {
            "underwriting": underwriting,
            # The decision screen says so rather than showing a number no model produced.
            "credit_score_message": (
                underwriting.get("credit_score_message", "")
                if underwriting
                else _credit_score_message()
            ),
            "analyst_notes": notes,
            "analyst_notes_masked": notes_masked,
            "documents": [
                document_out(document, today)
                for document in application.documents.select_related(
                    "uploaded_by", "verified_by"
                ).defer("content")
            ],
            "parties": [party_out(row) for row in application.parties.select_related("party")],
            "collateral": [collateral_out(item) for item in application.collateral.all()],
            "transitions": [
                {"code": item.code, "name": item.transition.name, "blocked": item.blocked}
                for item in workflow_available_transitions(actor=actor, subject=application)
            ],
            "pending_approval": _pending_approval(application),
        }
    )
    return data


def _credit_score_message() -> str:
    return "" if credit_scorer_registered() else str(NO_MODEL_MESSAGE)


def _detail(request: HttpRequest, pk: Any) -> dict[str, Any]:
    actor = _actor(request)
    return application_detail_out(actor, selectors.loan_application_get(actor=actor, pk=pk))


def _application(request: HttpRequest, pk: uuid.UUID) -> LoanApplication:
    return selectors.loan_application_get(actor=_actor(request), pk=pk)


def _encode(values: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[dt.datetime, str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list) and len(values) == 2:
            return dt.datetime.fromisoformat(str(values[0])), str(uuid.UUID(str(values[1])))
    except (binascii.Error, ValueError):
        pass
    raise ValidationError(
        {"cursor": [ValidationError(_("This page cursor is not valid."), code="invalid")]}
    )


class ApplicationFilter(Schema):
    state: list[str] | None = None
    product: int | None = None
    branch: int | None = None
    officer: int | None = None
    applicant: uuid.UUID | None = None
    q: str | None = None
    cursor: str | None = None
    limit: int = 50


@router.get("/applications", response=ApplicationPageOut)
def application_list(request: HttpRequest, filters: Query[ApplicationFilter]) -> Any:
    """Applications the caller may see, newest first, a page at a time (``next_cursor``);
    filter by state (repeatable), product, branch, officer, applicant, reference."""
    queryset = selectors.loan_application_list(
        actor=_actor(request),
        state=filters.state,
        product=filters.product,
        branch=filters.branch,
        officer=filters.officer,
        applicant=filters.applicant,
        query=filters.q,
    ).select_related("settlement_account", "submitted_by", "decided_by")
    if filters.cursor:
        created, pk = _decode(filters.cursor)
        queryset = queryset.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
    limit = max(1, min(filters.limit, 200))
    items = list(queryset[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _encode([items[-1].created_at.isoformat(), str(items[-1].pk)])
    return {"items": [application_out(a) for a in items], "next_cursor": next_cursor}


@router.post("/applications", response={201: ApplicationDetailOut})
def application_create(request: HttpRequest, payload: ApplicationIn) -> Any:
    """Open an application (draft) with the product's document checklist."""
    actor = _actor(request)
    application = services.loan_application_create(
        actor=actor, data=payload.model_dump(exclude_unset=True)
    )
    return Status(201, _detail(request, application.pk))


@router.get("/applications/{pk}", response=ApplicationDetailOut)
def application_get(request: HttpRequest, pk: str, options: Query[Unmask]) -> Any:
    """One application (by key or reference) with checklist, parties, collateral,
    underwriting and the steps the caller may take."""
    actor = _actor(request)
    if options.unmask and not options.reason.strip():
        raise ValidationError(
            {"reason": [ValidationError(_("Give a reason to unmask."), code="required")]}
        )
    application = selectors.loan_application_get(actor=actor, pk=pk)
    return application_detail_out(actor, application, options)


@router.patch("/applications/{pk}", response=ApplicationDetailOut)
def application_update(request: HttpRequest, pk: str, payload: ApplicationPatch) -> Any:
    """Change an application's terms and figures (draft to underwriting)."""
    actor = _actor(request)
    application = selectors.loan_application_get(actor=actor, pk=pk)
    services.loan_application_update(
        actor=actor, application=application, changes=payload.model_dump(exclude_unset=True)
    )
    return _detail(request, application.pk)


def _step_result(request: HttpRequest, pk: uuid.UUID, result: Any) -> dict[str, Any]:
    application = selectors.loan_application_get(actor=_actor(request), pk=pk)
    out: dict[str, Any] = {"result": "done", "application": application_out(application)}
    if isinstance(result, PendingApproval):
        out.update(result="pending_approval", approval=result.pk)
    elif isinstance(result, Loan):
        out.update(result="disbursed", loan=result.pk, loan_reference=result.reference)
    return out


def _date_option(options: dict[str, Any], name: str) -> None:
    value = options.get(name)
    if isinstance(value, str):
        try:
            options[name] = dt.date.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                {f"options.{name}": [ValidationError(_("Enter a date."), code="invalid")]}
            ) from None


@router.post("/applications/{uuid:pk}/transition", response=StepResultOut)
def application_transition(request: HttpRequest, pk: uuid.UUID, payload: TransitionIn) -> Any:
    """Take a workflow step (submit, complete_documents, start_underwriting, approve, …,
    withdraw, cancel, or any step an administrator added) with its reason and options."""
    application = _application(request, pk)
    options = dict(payload.options)
    for name in ("disbursed_on", "first_due"):
        _date_option(options, name)
    result = services.loan_application_transition(
        actor=_actor(request),
        application=application,
        transition=payload.transition,
        reason=payload.reason,
        **options,
    )
    return _step_result(request, pk, result)


@router.post("/applications/{uuid:pk}/underwrite", response=dict[str, Any])
def application_underwrite(request: HttpRequest, pk: uuid.UUID) -> Any:
    """Compute and store the underwriting figures, rule outcomes and recommendation."""
    application = _application(request, pk)
    return services.loan_application_underwrite(actor=_actor(request), application=application)


@router.post("/applications/{uuid:pk}/decide", response=StepResultOut)
def application_decide(request: HttpRequest, pk: uuid.UUID, payload: DecisionIn) -> Any:
    """Approve, decline or refer, with a reason, under the product's authority limits (an
    approval in a two-approver tier waits for a second person: ``pending_approval``)."""
    application = _application(request, pk)
    result = services.loan_application_decide(
        actor=_actor(request), application=application, **payload.model_dump()
    )
    return _step_result(request, pk, result)


@router.put("/applications/{uuid:pk}/notes", response=ApplicationDetailOut)
def application_notes(request: HttpRequest, pk: uuid.UUID, payload: NotesIn) -> Any:
    """Replace the analyst's notes (stored encrypted)."""
    application = _application(request, pk)
    services.loan_application_notes_update(
        actor=_actor(request), application=application, notes=payload.notes
    )
    return _detail(request, pk)


# --- Parties and collateral -------------------------------------------------------------------


@router.get("/applications/{uuid:pk}/parties", response=list[PartyOnApplicationOut])
def party_list(request: HttpRequest, pk: uuid.UUID) -> Any:
    """Co-applicants and guarantors of the application."""
    application = _application(request, pk)
    return [party_out(row) for row in application.parties.select_related("party")]


@router.post("/applications/{uuid:pk}/parties", response={201: PartyOnApplicationOut})
def party_add(request: HttpRequest, pk: uuid.UUID, payload: PartyOnApplicationIn) -> Any:
    """Add a co-applicant or a guarantor."""
    application = _application(request, pk)
    row = services.application_party_add(
        actor=_actor(request), application=application, **payload.model_dump()
    )
    return Status(201, party_out(row))


@router.delete("/applications/{uuid:pk}/parties/{int:party_pk}", response={204: None})
def party_remove(request: HttpRequest, pk: uuid.UUID, party_pk: int, reason: str = "") -> Any:
    """Take a co-applicant or guarantor off the application."""
    application = _application(request, pk)
    row = application.parties.filter(pk=party_pk).first()
    if row is None:
        raise Http404
    services.application_party_remove(actor=_actor(request), application_party=row, reason=reason)
    return Status(204, None)


@router.get("/applications/{uuid:pk}/collateral", response=list[CollateralOut])
def collateral_list(request: HttpRequest, pk: uuid.UUID) -> Any:
    """The collateral pledged for the application."""
    return [collateral_out(item) for item in _application(request, pk).collateral.all()]


@router.post("/applications/{uuid:pk}/collateral", response={201: CollateralOut})
def collateral_add(request: HttpRequest, pk: uuid.UUID, payload: CollateralIn) -> Any:
    """Pledge a collateral item."""
    application = _application(request, pk)
    data = payload.model_dump(exclude_unset=True)
    item = services.collateral_add(actor=_actor(request), application=application, data=data)
    return Status(201, collateral_out(item))


def _collateral(request: HttpRequest, pk: uuid.UUID, item_pk: int) -> Collateral:
    item = _application(request, pk).collateral.filter(pk=item_pk).first()
    if item is None:
        raise Http404
    return item


@router.patch("/applications/{uuid:pk}/collateral/{int:item_pk}", response=CollateralOut)
def collateral_update(
    request: HttpRequest, pk: uuid.UUID, item_pk: int, payload: CollateralPatch
) -> Any:
    """Change a collateral item (a new valuation, another haircut)."""
    item = _collateral(request, pk, item_pk)
    updated = services.collateral_update(
        actor=_actor(request), collateral=item, changes=payload.model_dump(exclude_unset=True)
    )
    return collateral_out(updated)


@router.delete("/applications/{uuid:pk}/collateral/{int:item_pk}", response={204: None})
def collateral_remove(request: HttpRequest, pk: uuid.UUID, item_pk: int, reason: str = "") -> Any:
    """Release a collateral item."""
    item = _collateral(request, pk, item_pk)
    services.collateral_remove(actor=_actor(request), collateral=item, reason=reason)
    return Status(204, None)


# --- Documents --------------------------------------------------------------------------------


def _document(request: HttpRequest, pk: uuid.UUID, document_pk: uuid.UUID) -> ApplicationDocument:
    document = _application(request, pk).documents.defer("content").filter(pk=document_pk).first()
    if document is None:
        raise Http404
    return document


def _document_response(request: HttpRequest, pk: uuid.UUID, document_pk: uuid.UUID) -> Any:
    document = ApplicationDocument.objects.select_related("uploaded_by", "verified_by").get(
        pk=_document(request, pk, document_pk).pk
    )
    return document_out(document, timezone.localdate())


@router.get("/applications/{uuid:pk}/documents", response=list[DocumentOut])
def document_list(request: HttpRequest, pk: uuid.UUID) -> Any:
    """The application's document checklist and the state of each document."""
    today = timezone.localdate()
    documents = _application(request, pk).documents.select_related("uploaded_by", "verified_by")
    return [document_out(document, today) for document in documents.defer("content")]


@router.post("/applications/{uuid:pk}/documents", response={201: DocumentOut})
def document_add(request: HttpRequest, pk: uuid.UUID, payload: DocumentIn) -> Any:
    """Add a line to the checklist."""
    application = _application(request, pk)
    document = services.application_document_add(
        actor=_actor(request), application=application, **payload.model_dump()
    )
    return Status(201, document_out(document, timezone.localdate()))


@router.post("/applications/{uuid:pk}/documents/{uuid:document_pk}/upload", response=DocumentOut)
def document_upload(
    request: HttpRequest,
    pk: uuid.UUID,
    document_pk: uuid.UUID,
    file: UploadedFile = File(...),  # noqa: B008  (ninja declares parameters this way)
    expires_on: dt.date | None = Form(None),  # noqa: B008
) -> Any:
    """Upload the document's file (multipart ``file``; PDF, JPEG, PNG, TIFF, DOCX or XLSX,
    at most 10 MB, recognised by its content)."""
    document = _document(request, pk, document_pk)
    # Refused before reading: a huge upload must not be loaded into memory.
    if file.size is not None and file.size > services.MAX_DOCUMENT_BYTES:
        raise ValidationError(
            {
                "content": [
                    ValidationError(
                        _("The file is larger than %(limit)s MB.")
                        % {"limit": services.MAX_DOCUMENT_BYTES // 2**20},
                        code="file_too_large",
                    )
                ]
            }
        )
    content = file.read()
    services.application_document_upload(
        actor=_actor(request),
        document=document,
        file_name=file.name or "",
        content=content,
        content_type=file.content_type or "",
        expires_on=expires_on,
    )
    return _document_response(request, pk, document_pk)


@router.post("/applications/{uuid:pk}/documents/{uuid:document_pk}/verify", response=DocumentOut)
def document_verify(
    request: HttpRequest, pk: uuid.UUID, document_pk: uuid.UUID, payload: DocumentVerifyIn
) -> Any:
    """Confirm the document (valid until ``expires_on``, or the product's validity)."""
    document = _document(request, pk, document_pk)
    services.application_document_verify(
        actor=_actor(request), document=document, expires_on=payload.expires_on
    )
    return _document_response(request, pk, document_pk)


@router.post("/applications/{uuid:pk}/documents/{uuid:document_pk}/reject", response=DocumentOut)
def document_reject(
    request: HttpRequest, pk: uuid.UUID, document_pk: uuid.UUID, payload: ReasonIn
) -> Any:
    """Refuse the document, saying why."""
    document = _document(request, pk, document_pk)
    services.application_document_reject(
        actor=_actor(request), document=document, reason=payload.reason
    )
    return _document_response(request, pk, document_pk)


@router.get("/applications/{uuid:pk}/documents/{uuid:document_pk}/content")
def document_download(request: HttpRequest, pk: uuid.UUID, document_pk: uuid.UUID) -> Any:
    """The document's file (the download is recorded in the audit trail)."""
    document = _document(request, pk, document_pk)
    content = services.application_document_content(actor=_actor(request), document=document)
    response = HttpResponse(content, content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{_safe_name(document.file_name)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._- " else "_" for ch in name) or "document"


# --- Schedule calculator ----------------------------------------------------------------------

# The calculator's field names, as the schedule engine calls them.
_ENGINE_NAMES = {"principal": "amount", "annual_rate": "rate"}


@router.post("/schedules", response=ScheduleOut)
def schedule_calculate(request: HttpRequest, payload: ScheduleIn) -> Any:
    """Compute a repayment schedule with its totals, APR and effective rate (nothing is
    stored). With ``product`` the product's terms fill whatever is not given."""
    actor = _actor(request)
    if not actor_has_perm(actor, "lending.view_loanproduct"):
        raise PermissionDenied(_("You do not have permission to do this."))
    product = None
    if payload.product is not None:
        try:
            product = selectors.loan_product_get(actor=actor, pk=payload.product)
        except Http404:
            raise ValidationError(
                {"product": [ValidationError(_("No such loan product."), code="invalid")]}
            ) from None
    start = payload.start or timezone.localdate()
    frequency = payload.frequency or (product.frequency if product else "monthly")
    if (payload.months is None) == (payload.periods is None):
        raise ValidationError(
            {
                "months": [
                    ValidationError(
                        _("Give either the term in months or the number of periods."),
                        code="required",
                    )
                ]
            }
        )
    periods = payload.periods
    if payload.months is not None:
        periods = schedule_periods(payload.months, frequency) if payload.months > 0 else 0
    rate = payload.rate
    if rate is None:
        if product is None:
            raise ValidationError(
                {"rate": [ValidationError(_("This field is required."), code="required")]}
            )
        rate = loan_product_rate(product, start)
    fee = payload.upfront_fee
    period_fee = payload.period_fee
    if product is not None:
        if fee is None and payload.upfront_fee_percent is None:
            fee = upfront_fee(product, payload.amount)
        if period_fee is None:
            period_fee = Decimal(product.period_fee).quantize(money_quantum(product.currency))
    try:
        terms = ScheduleTerms(
            principal=payload.amount,
            annual_rate=rate,
            periods=periods or 0,
            method=payload.method or (product.method if product else "annuity"),
            day_count=payload.day_count or (product.day_count if product else "act365"),
            frequency=frequency,
            start=start,
            first_due=payload.first_due,
            grace_periods=(
                payload.grace_periods
                if payload.grace_periods is not None
                else (product.grace_periods if product else 0)
            ),
            capitalise_grace_interest=payload.capitalise_grace_interest,
            upfront_fee=fee or Decimal(0),
            upfront_fee_percent=payload.upfront_fee_percent or Decimal(0),
            period_fee=period_fee or Decimal(0),
            currency=payload.currency or (product.currency if product else "CNY"),
        )
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {_ENGINE_NAMES.get(name, name): items for name, items in exc.error_dict.items()}
        ) from None
    return schedule_to_dict(schedule_build(terms))
