"""Reading lending records, always within the actor's reach.

Applications are scoped by their branch (unit roles) and their applicant's portfolio
(relationship managers); loans by their branch and their borrower's portfolio. Products and
reference rates are bank-wide reference data that anyone allowed to view lending may read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from bankcrm.access.permissions import actor_has_perm

from .models import (
    Instalment,
    Loan,
    LoanApplication,
    LoanProduct,
    ReferenceRate,
    Repayment,
)


def _get(queryset: QuerySet[Any], **lookup: Any) -> Any:
    """One row of ``queryset`` or Http404 (also for a malformed key: never a 500)."""
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404 from exc


# --- Products and reference rates -------------------------------------------------------------


def loan_product_list(
    *, actor: Any, include_inactive: bool = False, type: str | None = None
) -> QuerySet[LoanProduct]:
    """The loan products the bank offers (and, on request, those it no longer offers)."""
    queryset = LoanProduct.objects.visible_to(actor)
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    if type:
        queryset = queryset.filter(type=type)
    return queryset.order_by("type", "code")


def loan_product_get(*, actor: Any, pk: Any) -> LoanProduct:
    """One loan product by key or code; Http404 if there is none."""
    queryset = LoanProduct.objects.visible_to(actor)
    if isinstance(pk, str) and not pk.isdigit():
        return _get(queryset, code=pk)
    return _get(queryset, pk=pk)


def reference_rate_on(*, code: str, on: dt.date) -> Decimal | None:
    """The reference rate ``code`` in force on ``on`` (the latest published on or before it)."""
    row = (
        ReferenceRate.objects.filter(code=code, effective_from__lte=on)
        .order_by("-effective_from")
        .values_list("rate", flat=True)
        .first()
    )
    return row


def reference_rate_list(*, actor: Any) -> QuerySet[ReferenceRate]:
    """Every published reference rate, newest first within each code (bank-wide reference
    data: everyone holding ``lending.view_referencerate`` reads all of it)."""
    if not actor_has_perm(actor, "lending.view_referencerate"):
        return ReferenceRate.objects.none()
    return ReferenceRate.objects.order_by("code", "-effective_from")


# --- Applications ---------------------------------------------------------------------------


def loan_application_list(
    *,
    actor: Any,
    state: str | list[str] | None = None,
    product: Any = None,
    branch: Any = None,
    officer: Any = None,
    applicant: Any = None,
    query: str | None = None,
) -> QuerySet[LoanApplication]:
    """Applications the actor may see, newest first, optionally narrowed."""
    queryset = LoanApplication.objects.visible_to(actor).select_related(
        "product", "applicant", "branch", "officer"
    )
    if state:
        queryset = queryset.filter(state__in=state if isinstance(state, list | tuple) else [state])
    if product:
        queryset = queryset.filter(product_id=product)
    if branch:
        queryset = queryset.filter(branch_id=branch)
    if officer:
        queryset = queryset.filter(officer_id=officer)
    if applicant:
        queryset = queryset.filter(
            Q(applicant_id=applicant) | Q(parties__party_id=applicant)
        ).distinct()
    if query:
        queryset = queryset.filter(reference__icontains=query.strip())
    return queryset.order_by("-created_at", "-pk")


def loan_application_get(*, actor: Any, pk: Any) -> LoanApplication:
    """One application the actor may see (by key or reference); Http404 otherwise."""
    queryset = LoanApplication.objects.visible_to(actor).select_related(
        "product", "applicant", "branch", "officer", "settlement_account", "workflow"
    )
    if isinstance(pk, str) and pk.upper().startswith("LA-"):
        return _get(queryset, reference=pk.upper())
    return _get(queryset, pk=pk)


def loan_application_for_change(*, actor: Any, pk: Any) -> LoanApplication:
    """One application the actor may change; Http404 if it is out of reach."""
    queryset = LoanApplication.objects.restrict(actor, "change").select_related(
        "product", "applicant", "branch"
    )
    return _get(queryset, pk=pk)


# --- Loans ------------------------------------------------------------------------------------


def loan_list(
    *,
    actor: Any,
    status: str | None = None,
    bucket: str | None = None,
    branch: Any = None,
    borrower: Any = None,
    product: Any = None,
) -> QuerySet[Loan]:
    """Loans the actor may see, newest first, optionally narrowed."""
    queryset = Loan.objects.visible_to(actor).select_related("product", "borrower", "branch")
    if status:
        queryset = queryset.filter(status=status)
    if bucket:
        queryset = queryset.filter(bucket=bucket)
    if branch:
        queryset = queryset.filter(branch_id=branch)
    if borrower:
        queryset = queryset.filter(borrower_id=borrower)
    if product:
        queryset = queryset.filter(product_id=product)
    return queryset.order_by("-disbursed_on", "reference")


def loan_get(*, actor: Any, pk: Any) -> Loan:
    """One loan the actor may see (by key or reference); Http404 otherwise."""
    queryset = Loan.objects.visible_to(actor).select_related(
        "product", "borrower", "branch", "account", "application"
    )
    if isinstance(pk, str) and not _looks_like_uuid(pk):
        return _get(queryset, reference=pk)
    return _get(queryset, pk=pk)


def loan_schedule(*, actor: Any, loan: Loan) -> QuerySet[Instalment]:
    """The loan's current schedule, in order (the caller has already read the loan)."""
    return Instalment.objects.filter(loan=loan, is_current=True).order_by("number")


def loan_repayments(*, actor: Any, loan: Loan) -> QuerySet[Repayment]:
    """Money received against the loan, oldest first."""
    return (
        Repayment.objects.filter(loan=loan)
        .select_related("transaction")
        .order_by("received_on", "id")
    )


def _looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
