"""REST API of loan servicing, mounted at ``/api/v1/loans/``.

Loans are scoped to the caller (another branch's loan answers 404, and nothing changes);
every change goes through the servicing services, which write the audit trail. Lists are
keyset-paginated: pass ``next_cursor`` back as ``cursor``. Restructuring and write-off are
maker-checker requests: they answer 202 with the pending approval, which a second person
decides in the approvals queue.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from . import selectors, selectors_loans, services_loans
from .models import Instalment, Loan, Repayment

router = Router(tags=["loans"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


# --- Schemas ----------------------------------------------------------------------------------


class LoanOut(Schema):
    id: uuid.UUID
    reference: str
    product: int
    product_code: str
    borrower: uuid.UUID
    borrower_name: str
    account: uuid.UUID
    branch: int
    application: uuid.UUID | None
    principal: Decimal
    currency: str
    annual_rate: Decimal
    term_months: int
    method: str
    day_count: str
    frequency: str
    disbursed_on: dt.date
    maturity_date: dt.date
    status: str
    outstanding_principal: Decimal
    arrears: Decimal
    oldest_unpaid_due_on: dt.date | None
    days_past_due: int
    bucket: str
    bucket_since: dt.date | None
    delinquency_as_of: dt.date | None
    closed_on: dt.date | None


class LoanPageOut(Schema):
    items: list[LoanOut]
    next_cursor: str | None


class InstalmentOut(Schema):
    number: int
    schedule_version: int
    due_on: dt.date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    amount_due: Decimal
    closing_balance: Decimal
    amount_paid: Decimal
    paid_on: dt.date | None


class RepaymentOut(Schema):
    id: int
    received_on: dt.date
    amount: Decimal
    principal: Decimal
    interest: Decimal
    fee: Decimal
    unallocated: Decimal
    transaction: int | None


class RepaymentIn(Schema):
    amount: Decimal
    received_on: dt.date
    reason: str


class PrepayIn(Schema):
    amount: Decimal
    on: dt.date
    mode: Literal["reduce_term", "reduce_instalment"] = "reduce_term"


class RestructureIn(Schema):
    annual_rate: Decimal
    term_months: int
    method: str
    reason: str


class WriteOffIn(Schema):
    reason: str


class ApprovalOut(Schema):
    id: int
    action: str
    status: str
    loan: uuid.UUID
    reference: str
    reason: str


class DelinquencyRowOut(Schema):
    branch: int
    branch_code: str
    branch_name: str
    bucket: str
    bucket_label: str
    currency: str
    count: int
    outstanding: Decimal
    arrears: Decimal


class EarlyWarningOut(Schema):
    loan: uuid.UUID
    reference: str
    borrower: uuid.UUID
    borrower_name: str
    as_of: dt.date
    from_bucket: str
    to_bucket: str
    days_past_due: int
    arrears: Decimal


class MatchIn(Schema):
    loan: str | None = None
    since: dt.date | None = None


class MatchOut(Schema):
    matched: int


class LoanFilter(Schema):
    status: str | None = None
    bucket: str | None = None
    branch: int | None = None
    borrower: uuid.UUID | None = None
    product: int | None = None
    cursor: str | None = None
    limit: int = 50


class SummaryFilter(Schema):
    as_of: dt.date | None = None
    branch: int | None = None
    product: int | None = None


# --- Output -----------------------------------------------------------------------------------


# Plain columns of the loan; the related ones are given by key below (no query each).
_LOAN_FIELDS = [
    name
    for name in LoanOut.model_fields
    if name
    not in {
        "product",
        "product_code",
        "borrower",
        "borrower_name",
        "account",
        "branch",
        "application",
    }
]


def loan_out(loan: Loan) -> dict[str, Any]:
    return {
        **{name: getattr(loan, name) for name in _LOAN_FIELDS},
        "product": loan.product_id,
        "product_code": loan.product.code,
        "borrower": loan.borrower_id,
        "borrower_name": loan.borrower.display_name,
        "account": loan.account_id,
        "branch": loan.branch_id,
        "application": loan.application_id,
    }


def _instalment_out(line: Instalment) -> dict[str, Any]:
    return {name: getattr(line, name) for name in InstalmentOut.model_fields}


def _repayment_out(repayment: Repayment) -> dict[str, Any]:
    return {
        **{
            name: getattr(repayment, name)
            for name in RepaymentOut.model_fields
            if name != "transaction"
        },
        "transaction": repayment.transaction_id,
    }


def _approval_out(approval: Any, loan: Loan) -> dict[str, Any]:
    return {
        "id": approval.pk,
        "action": approval.action,
        "status": approval.status,
        "loan": loan.pk,
        "reference": loan.reference,
        "reason": approval.maker_reason,
    }


def _loan(request: HttpRequest, pk: str) -> Loan:
    return selectors.loan_get(actor=_actor(request), pk=pk)


# --- Routes (fixed paths before /{pk}) --------------------------------------------------------


@router.get("", response=LoanPageOut)
def loan_list(request: HttpRequest, filters: Query[LoanFilter]) -> Any:
    """Loans the caller may see, newest disbursement first; filter by status, bucket,
    branch, borrower or product."""
    page = selectors_loans.loan_page(
        actor=_actor(request),
        status=filters.status,
        bucket=filters.bucket,
        branch=filters.branch,
        borrower=filters.borrower,
        product=filters.product,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return {"items": [loan_out(loan) for loan in page.items], "next_cursor": page.next_cursor}


@router.get("/delinquency", response=list[DelinquencyRowOut])
def delinquency_summary(request: HttpRequest, filters: Query[SummaryFilter]) -> Any:
    """Open loans by branch and delinquency bucket: count, principal outstanding, arrears."""
    rows = selectors_loans.delinquency_summary(
        actor=_actor(request), as_of=filters.as_of, branch=filters.branch, product=filters.product
    )
    return [{**row.__dict__, "branch": row.branch_id} for row in rows]


@router.get("/early-warnings", response=list[EarlyWarningOut])
def early_warnings(request: HttpRequest, limit: int = 20) -> Any:
    """The latest moves of the caller's customers' loans to a worse bucket."""
    return [
        {
            "loan": change.loan_id,
            "reference": change.loan.reference,
            "borrower": change.loan.borrower_id,
            "borrower_name": change.loan.borrower.display_name,
            "as_of": change.as_of,
            "from_bucket": change.from_bucket,
            "to_bucket": change.to_bucket,
            "days_past_due": change.days_past_due,
            "arrears": change.arrears,
        }
        for change in selectors_loans.loan_early_warnings(actor=_actor(request), limit=limit)
    ]


@router.post("/match-repayments", response=MatchOut)
def match_repayments(request: HttpRequest, payload: MatchIn) -> Any:
    """Match the repayment accounts' unmatched loan-repayment debits now (one loan, or every
    loan the caller may change)."""
    actor = _actor(request)
    loan = _loan(request, payload.loan) if payload.loan else None
    matched = services_loans.loan_repayments_match(actor=actor, loan=loan, since=payload.since)
    return {"matched": matched}


@router.get("/{pk}", response=LoanOut)
def loan_get(request: HttpRequest, pk: str) -> Any:
    """One loan, by key or reference."""
    return loan_out(_loan(request, pk))


@router.get("/{pk}/schedule", response=list[InstalmentOut])
def loan_schedule(request: HttpRequest, pk: str) -> Any:
    """The loan's current repayment schedule with what was paid on each line."""
    actor = _actor(request)
    loan = _loan(request, pk)
    return [_instalment_out(line) for line in selectors.loan_schedule(actor=actor, loan=loan)]


@router.get("/{pk}/repayments", response=list[RepaymentOut])
def loan_repayments(request: HttpRequest, pk: str) -> Any:
    """Money received against the loan and how it was allocated, oldest first."""
    actor = _actor(request)
    loan = _loan(request, pk)
    return [_repayment_out(item) for item in selectors.loan_repayments(actor=actor, loan=loan)]


@router.post("/{pk}/repayments", response={201: RepaymentOut})
def repayment_record(request: HttpRequest, pk: str, payload: RepaymentIn) -> Any:
    """Record money received outside the repayment account, with the reason."""
    repayment = services_loans.repayment_record(
        actor=_actor(request),
        loan=_loan(request, pk),
        amount=payload.amount,
        received_on=payload.received_on,
        reason=payload.reason,
    )
    return Status(201, _repayment_out(repayment))


@router.post("/{pk}/prepay", response=LoanOut)
def loan_prepay(request: HttpRequest, pk: str, payload: PrepayIn) -> Any:
    """Repay principal early, shortening the loan or lowering the instalment."""
    loan = services_loans.loan_prepay(
        actor=_actor(request),
        loan=_loan(request, pk),
        amount=payload.amount,
        on=payload.on,
        mode=payload.mode,
    )
    return loan_out(selectors.loan_get(actor=_actor(request), pk=str(loan.pk)))


@router.post("/{pk}/restructure", response={202: ApprovalOut})
def loan_restructure(request: HttpRequest, pk: str, payload: RestructureIn) -> Any:
    """Ask for a restructuring; a second person approves it."""
    loan = _loan(request, pk)
    approval = services_loans.loan_restructure_request(
        actor=_actor(request),
        loan=loan,
        annual_rate=payload.annual_rate,
        term_months=payload.term_months,
        method=payload.method,
        reason=payload.reason,
    )
    return Status(202, _approval_out(approval, loan))


@router.post("/{pk}/write-off", response={202: ApprovalOut})
def loan_write_off(request: HttpRequest, pk: str, payload: WriteOffIn) -> Any:
    """Ask for a write-off; a second person approves it."""
    loan = _loan(request, pk)
    approval = services_loans.loan_write_off_request(
        actor=_actor(request), loan=loan, reason=payload.reason
    )
    return Status(202, _approval_out(approval, loan))
