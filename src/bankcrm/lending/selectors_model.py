"""Reading lending for the credit models: how often decisions went against the model's
recommendation (the override rate by officer and by branch over a period, and the
overridden applications themselves), and how scored applications turned out.

A decision counts when the application had a model recommendation at the time (it was
scored in underwriting); it is an override when it approved what the model recommends
declining or declined what it recommends approving. The period is of decision dates in the
bank's zone, both ends included. Counting happens in the database (GROUP BY), within the
actor's reach: a branch manager sees their branch's officers only.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from .models import Bucket, DelinquencyChange, Loan, LoanApplication

RATE_QUANTUM = Decimal("0.0001")
# A loan in one of these states turned bad, whatever its days past due say now.
BAD_STATUSES = (Loan.Status.DEFAULTED, Loan.Status.WRITTEN_OFF)


def _period_bounds(period_start: Any, period_end: Any) -> tuple[dt.datetime, dt.datetime]:
    """The instants [start of the first day, start of the day after the last) in the bank's
    zone; ValidationError naming the bad end."""
    errors: dict[str, list[ValidationError]] = {}
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            errors[name] = [ValidationError(_("Enter a date."), code="invalid")]
    if errors:
        raise ValidationError(errors)
    if period_end < period_start:
        raise ValidationError(
            {
                "period_end": [
                    ValidationError(
                        _("The end of the period cannot be before its start."), code="invalid"
                    )
                ]
            }
        )
    zone = zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)
    low = dt.datetime.combine(period_start, dt.time.min, tzinfo=zone)
    high = dt.datetime.combine(period_end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return low, high


def model_scored_decisions(
    *, actor: Any, period_start: dt.date, period_end: dt.date
) -> QuerySet[LoanApplication]:
    """Applications the actor may see that were decided in the period with a model
    recommendation."""
    low, high = _period_bounds(period_start, period_end)
    return (
        LoanApplication.objects.visible_to(actor)
        .filter(decided_at__gte=low, decided_at__lt=high, decided_by__isnull=False)
        .exclude(model_recommendation="")
    )


def model_override_list(
    *, actor: Any, period_start: dt.date, period_end: dt.date
) -> QuerySet[LoanApplication]:
    """The decisions in the period that overrode the credit model, newest first."""
    return (
        model_scored_decisions(actor=actor, period_start=period_start, period_end=period_end)
        .filter(model_overridden=True)
        .select_related("branch", "decided_by", "product")
        .order_by("-decided_at", "-pk")
    )


def _rate(overrides: int, decisions: int) -> Decimal | None:
    if not decisions:
        return None
    return (Decimal(overrides) / Decimal(decisions)).quantize(RATE_QUANTUM, ROUND_HALF_UP)


def _officer_name(row: Mapping[str, Any]) -> str:
    full = f"{row['decided_by__first_name'] or ''} {row['decided_by__last_name'] or ''}".strip()
    return full or row["decided_by__username"] or ""


def model_override_rates(
    *, actor: Any, period_start: dt.date, period_end: dt.date
) -> dict[str, Any]:
    """Override rates in the period: ``{"period_start", "period_end", "decisions",
    "overrides", "override_rate", "by_officer": [...], "by_branch": [...]}``.

    Each line holds ``decisions`` (decided with a model recommendation), ``overrides``,
    ``override_rate`` (a share from 0 to 1, four decimals; None without decisions),
    ``approved_against_decline`` and ``declined_against_approve``; an officer line names the
    officer who decided (``officer``, ``officer_name``, and their unit ``unit``,
    ``unit_name``), a branch line the application's branch (``branch``, ``branch_name``).
    Lines are ordered by rate, highest first.
    """
    scored = model_scored_decisions(actor=actor, period_start=period_start, period_end=period_end)
    figures = {
        "decisions": Count("pk"),
        "overrides": Count("pk", filter=Q(model_overridden=True)),
        "approved_against_decline": Count(
            "pk", filter=Q(model_overridden=True, decision=LoanApplication.Decision.APPROVED)
        ),
        "declined_against_approve": Count(
            "pk", filter=Q(model_overridden=True, decision=LoanApplication.Decision.DECLINED)
        ),
    }
    officers = (
        scored.order_by()
        .values(
            "decided_by",
            "decided_by__username",
            "decided_by__first_name",
            "decided_by__last_name",
            "decided_by__org_unit",
            "decided_by__org_unit__name",
        )
        .annotate(**figures)
    )
    branches = scored.order_by().values("branch", "branch__name").annotate(**figures)
    totals = scored.order_by().aggregate(**figures)

    def counts(row: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "decisions": row["decisions"],
            "overrides": row["overrides"],
            "override_rate": _rate(row["overrides"], row["decisions"]),
            "approved_against_decline": row["approved_against_decline"],
            "declined_against_approve": row["declined_against_approve"],
        }

    by_officer = [
        {
            "officer": row["decided_by"],
            "officer_name": _officer_name(row),
            "unit": row["decided_by__org_unit"],
            "unit_name": row["decided_by__org_unit__name"] or "",
            **counts(row),
        }
        for row in officers
    ]
    by_branch = [
        {"branch": row["branch"], "branch_name": row["branch__name"], **counts(row)}
        for row in branches
    ]

    def order(line: dict[str, Any]) -> tuple[Any, ...]:
        name = line.get("officer_name") or line.get("branch_name") or ""
        return (-(line["override_rate"] or 0), -line["decisions"], str(name))

    by_officer.sort(key=order)
    by_branch.sort(key=order)
    return {
        "period_start": period_start,
        "period_end": period_end,
        "decisions": totals["decisions"] or 0,
        "overrides": totals["overrides"] or 0,
        "override_rate": _rate(totals["overrides"] or 0, totals["decisions"] or 0),
        "by_officer": by_officer,
        "by_branch": by_branch,
    }


def application_loan_outcomes(*, actor: Any, as_of: dt.date) -> dict[str, bool]:
    """How the loans of scored applications turned out, as known on ``as_of``:
    ``{application key (text): True when bad, False when good}``.

    Bad: the loan was ever more than 90 days past due (a recorded move to the 90+ bucket,
    or in it now) or is defaulted or written off. Good: repaid and closed, or past its
    maturity date, without ever being bad. Loans still running without trouble are not
    known yet and are left out, as are loans booked without an application.
    """
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise ValidationError({"as_of": [ValidationError(_("Enter a date."), code="invalid")]})
    ever_90 = DelinquencyChange.objects.filter(
        loan=OuterRef("pk"), to_bucket=Bucket.DPD_90_PLUS, as_of__lte=as_of
    )
    bad = (
        Q(status__in=BAD_STATUSES)
        | Q(bucket=Bucket.DPD_90_PLUS)
        | Q(days_past_due__gt=90)
        | Q(was_90=True)
    )
    good = Q(status=Loan.Status.CLOSED) | Q(maturity_date__lte=as_of)
    rows = (
        Loan.objects.visible_to(actor)
        .filter(application__isnull=False, disbursed_on__lte=as_of)
        .annotate(was_90=Exists(ever_90))
        .filter(bad | good)
        .values_list("application_id", "status", "bucket", "days_past_due", "was_90")
    )
    return {
        str(application): (
            status in BAD_STATUSES or bucket == Bucket.DPD_90_PLUS or days > 90 or bool(was_90)
        )
        for application, status, bucket, days, was_90 in rows.iterator()
    }
