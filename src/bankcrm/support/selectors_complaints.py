"""Reading complaints, always scoped to the actor.

A complaint is visible exactly when its case is (the module's visibility rule: the case's
org unit or portfolio within the actor's scope, or a case of a queue the actor works in or
supervises) and the actor holds ``support.<action>_complaint``. The complaints register is
narrower: it is the register of the actor's units, so only the data scope under which the
actor holds ``support.export_complaints`` counts (by the case's org unit and the customer's
portfolio); a queue supervised across branches never brings another branch's complaints
into a branch manager's register.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm, actor_perm_scope

from .models import Complaint, ComplaintCode, ComplaintDeadlineRule, ServiceCase

EXPORT_PERMISSION = "support.export_complaints"
APPROVE_PERMISSION = "support.approve_redress"


def case_visible_to(actor: Any, action: str = "view") -> QuerySet[ServiceCase]:
    """Cases ``actor`` may see (``action="view"``) or change (``"change"``): the module's one
    visibility rule, ``selectors_cases.case_visible``."""
    from .selectors_cases import case_visible

    return case_visible(actor=actor, action=action)


def complaint_visible(*, actor: Any, action: str = "view") -> QuerySet[Complaint]:
    """Complaints ``actor`` may see or (``action="change"``) change."""
    if not actor_has_perm(actor, f"support.{action}_complaint"):
        return Complaint.objects.none()
    return Complaint.objects.filter(case__in=case_visible_to(actor, action).values("pk"))


def complaint_redress_scope(*, actor: Any) -> QuerySet[Any]:
    """Keys (as text) of the complaints whose redress ``actor`` may decide on: those they may
    change (the reach of the ``support.complaint_redress`` approvals)."""
    return (
        complaint_visible(actor=actor, action="change")
        .annotate(key=Cast("pk", output_field=CharField()))
        .values("key")
    )


def _with_relations(queryset: QuerySet[Complaint]) -> QuerySet[Complaint]:
    return queryset.select_related(
        "case",
        "case__party",
        "case__org_unit",
        "case__queue",
        "case__case_type",
        "category",
        "product",
        "root_cause",
        "deadline_rule",
        "redress_approval",
        "redress_approved_by",
        "extended_by",
    )


def complaint_get(
    *, actor: Any, pk: int | None = None, case: Any = None, action: str = "view"
) -> Complaint:
    """One complaint (by key or by its case) the actor may see; DoesNotExist otherwise."""
    queryset = _with_relations(complaint_visible(actor=actor, action=action))
    if pk is not None:
        return queryset.get(pk=pk)
    if case is not None:
        return queryset.get(case_id=getattr(case, "pk", case))
    raise Complaint.DoesNotExist(_("No such complaint."))


def complaint_for_case(*, actor: Any, case: ServiceCase, action: str = "view") -> Complaint | None:
    """The case's complaint if it has one and the actor may see it, else None."""
    try:
        return complaint_get(actor=actor, case=case, action=action)
    except Complaint.DoesNotExist:
        return None


def complaint_list(
    *,
    actor: Any,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    overdue_on: dt.date | None = None,
) -> QuerySet[Complaint]:
    """Complaints the actor may see, received in the period (both ends included), oldest
    first; ``overdue_on``: only those unanswered and past their deadline on that day."""
    queryset = _with_relations(complaint_visible(actor=actor))
    if date_from is not None:
        queryset = queryset.filter(received_on__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(received_on__lte=date_to)
    if overdue_on is not None:
        queryset = queryset.filter(
            answered_on__isnull=True, case__is_open=True, deadline__lt=overdue_on
        )
    return queryset.order_by("received_on", "case__reference")


def complaint_register_queryset(
    *, actor: Any, date_from: dt.date, date_to: dt.date
) -> QuerySet[Complaint]:
    """The register's complaints: received in the period, within the data scope under which
    the actor holds ``support.export_complaints`` (PermissionDenied without it)."""
    scope = actor_perm_scope(actor, EXPORT_PERMISSION)
    if scope is None:
        raise PermissionDenied(_("You may not export the complaints register."))
    queryset = Complaint.objects.within_scope(actor, scope).filter(
        received_on__gte=date_from, received_on__lte=date_to
    )
    return _with_relations(queryset).order_by("received_on", "case__reference")


def complaint_codes(kind: str, *, include: str | None = None) -> list[ComplaintCode]:
    """Active codes of one kind, in order (plus ``include``, a retired code still in use)."""
    condition = Q(is_active=True)
    if include:
        condition |= Q(code=include)
    return list(ComplaintCode.objects.filter(condition, kind=kind).order_by("sort_order", "code"))


def deadline_rule_list() -> list[ComplaintDeadlineRule]:
    """Every deadline rule, the default first (reference data)."""
    return list(ComplaintDeadlineRule.objects.order_by("-is_default", "code"))
