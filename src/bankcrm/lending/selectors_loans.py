"""Reading loan servicing figures, always within the actor's reach: the delinquency summary
by bucket and branch, the early warnings of a relationship manager's customers, and pages of
loans for the API (keyset pagination, newest disbursement first)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from .delinquency import bucket_expression
from .models import BUCKET_RANK, Bucket, DelinquencyChange, Loan
from .selectors import loan_list
from .servicing import OPEN_STATUSES


@dataclass(frozen=True)
class DelinquencyRow:
    """Open loans of one branch in one bucket and currency: how many, how much."""

    branch_id: int
    branch_code: str
    branch_name: str
    bucket: str
    bucket_label: str
    currency: str
    count: int
    outstanding: Decimal
    arrears: Decimal


def delinquency_summary(
    *,
    actor: Any,
    as_of: dt.date | None = None,
    branch: Any = None,
    product: Any = None,
) -> list[DelinquencyRow]:
    """Open loans the actor may see, by branch × bucket (× currency: amounts in different
    currencies are never added): count, principal outstanding, arrears. With ``as_of`` the
    buckets are those of that day, from each loan's oldest unpaid due date (the amounts are
    the stored ones, as of the last run); without it, the buckets of the last run. Ordered
    by branch, then bucket from best to worst; one GROUP BY query."""
    queryset = Loan.objects.visible_to(actor).filter(status__in=OPEN_STATUSES)
    if as_of is not None:
        # The bucket of each loan on that day, from its oldest unpaid due date.
        queryset = queryset.annotate(day_bucket=bucket_expression(as_of))
    else:
        queryset = queryset.annotate(day_bucket=F("bucket"))
    if branch:
        queryset = queryset.filter(branch_id=branch)
    if product:
        queryset = queryset.filter(product_id=product)
    rows = (
        queryset.values("branch_id", "branch__code", "branch__name", "day_bucket", "currency")
        .annotate(
            count=Count("pk"),
            outstanding=Sum("outstanding_principal"),
            arrears=Sum("arrears"),
        )
        .order_by()
    )
    labels = dict(Bucket.choices)
    result = [
        DelinquencyRow(
            branch_id=row["branch_id"],
            branch_code=row["branch__code"],
            branch_name=row["branch__name"],
            bucket=row["day_bucket"],
            bucket_label=str(labels.get(row["day_bucket"], row["day_bucket"])),
            currency=row["currency"],
            count=row["count"],
            outstanding=row["outstanding"] or Decimal(0),
            arrears=row["arrears"] or Decimal(0),
        )
        for row in rows
    ]
    result.sort(key=lambda row: (row.branch_name, BUCKET_RANK.get(row.bucket, 99), row.currency))
    return result


def loan_early_warnings(*, actor: Any, limit: int = 20) -> list[DelinquencyChange]:
    """The latest moves to a worse bucket of open loans the actor may see (for a
    relationship manager: the customers of their portfolios) that are still in that bucket,
    newest first."""
    return list(
        DelinquencyChange.objects.visible_to(actor)
        .filter(is_deterioration=True, loan__status__in=OPEN_STATUSES)
        .filter(loan__bucket=F("to_bucket"))
        .select_related("loan", "loan__borrower", "loan__branch")
        .order_by("-as_of", "-id")[: max(1, min(limit, 200))]
    )


@dataclass(frozen=True)
class LoanPage:
    """One page of loans and the cursor of the next page (None on the last)."""

    items: list[Loan]
    next_cursor: str | None


def _encode_cursor(loan: Loan) -> str:
    raw = f"{loan.disbursed_on.isoformat()}|{loan.reference}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.date, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        day, reference = base64.urlsafe_b64decode(padded.encode()).decode().split("|", 1)
        return dt.date.fromisoformat(day), reference
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationError({"cursor": _("This page cursor is not valid.")}) from exc


def loan_page(
    *,
    actor: Any,
    status: str | None = None,
    bucket: str | None = None,
    branch: Any = None,
    borrower: Any = None,
    product: Any = None,
    cursor: str | None = None,
    limit: int = 50,
) -> LoanPage:
    """A page of the loans the actor may see, newest disbursement first (then by
    reference); pass ``next_cursor`` back as ``cursor`` for the next page."""
    errors: dict[str, str] = {}
    if status and status not in Loan.Status.values:
        errors["status"] = _("Unknown loan status.")
    if bucket and bucket not in Bucket.values:
        errors["bucket"] = _("Unknown delinquency bucket.")
    if errors:
        raise ValidationError(errors)
    queryset: QuerySet[Loan] = loan_list(
        actor=actor,
        status=status,
        bucket=bucket,
        branch=branch,
        borrower=borrower,
        product=product,
    )
    if cursor:
        day, reference = _decode_cursor(cursor)
        queryset = queryset.filter(
            Q(disbursed_on__lt=day) | Q(disbursed_on=day, reference__gt=reference)
        )
    size = max(1, min(int(limit), 500))
    items = list(queryset.order_by("-disbursed_on", "reference")[: size + 1])
    next_cursor = _encode_cursor(items[size - 1]) if len(items) > size else None
    return LoanPage(items=items[:size], next_cursor=next_cursor)
