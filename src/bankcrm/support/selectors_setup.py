"""Reads for the administration of the service desk: the queues an actor administers and
their members, the actor's own memberships, case types and SLA policies.

Scope follows :mod:`bankcrm.support.services_setup`: queues (and their members) of the org
units within the reach of ``support.change_queue`` for actors who also hold
``support.supervise_queue``; case types and policies are bank-wide reference data that
anyone who may see service cases may read.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from bankcrm.access.models import User
from bankcrm.access.permissions import actor_has_perm, actor_perm_scope
from bankcrm.core.models import BusinessCalendar

from .models import CaseType, Queue, QueueMember, SlaPolicy
from .services_setup import SUPERVISE_PERMISSION, VIEW_CASES_PERMISSION


def queue_admin_list(*, actor: Any, include_inactive: bool = True) -> QuerySet[Queue]:
    """Queues the actor may administer, with their member counts (``member_count``,
    ``available_count``), by code."""
    scope = actor_perm_scope(actor, "support.change_queue")
    if scope is None or not actor_has_perm(actor, SUPERVISE_PERMISSION):
        return Queue.objects.none()
    queues = Queue.objects.within_scope(actor, scope)
    if not include_inactive:
        queues = queues.filter(is_active=True)
    return (
        queues.select_related("org_unit", "supervisor", "calendar")
        .annotate(
            member_count=Count("members", distinct=True),
            available_count=Count("members", filter=Q(members__is_available=True), distinct=True),
        )
        .order_by("code")
    )


def queue_admin_get(*, actor: Any, pk: int | None = None, code: str | None = None) -> Queue:
    """One queue the actor may administer; ``Queue.DoesNotExist`` otherwise."""
    queues = queue_admin_list(actor=actor)
    if pk is not None:
        return queues.get(pk=pk)
    return queues.get(code=code)


def queue_member_list(*, actor: Any, queue: Queue) -> QuerySet[QueueMember]:
    """The members of a queue the actor administers (none otherwise), with their users."""
    if not queue_admin_list(actor=actor).filter(pk=queue.pk).exists():
        return QueueMember.objects.none()
    return (
        QueueMember.objects.filter(queue=queue)
        .select_related("user", "user__org_unit")
        .order_by("user__username")
    )


def queue_member_candidates(*, actor: Any, queue: Queue) -> QuerySet[User]:
    """Active users who may join the queue and are not members yet (see services_setup):
    on the queue's line of the organisation (its unit, below or above it). The permission
    to see cases is checked per person when they are added."""
    if not queue_admin_list(actor=actor).filter(pk=queue.pk).exists():
        return User.objects.none()
    path = queue.org_unit.path
    parts = [part for part in path.split("/") if part]
    above = ["/" + "/".join(parts[: index + 1]) + "/" for index in range(len(parts))]
    return (
        User.objects.filter(is_active=True, roles__is_active=True)
        .filter(Q(org_unit__path__startswith=path) | Q(org_unit__path__in=above))
        .exclude(queue_memberships__queue=queue)
        .select_related("org_unit")
        .distinct()
        .order_by("username")
    )


def my_queue_memberships(*, actor: Any) -> QuerySet[QueueMember]:
    """The actor's own queue memberships (availability switch of the workspace)."""
    if getattr(actor, "pk", None) is None or not actor_has_perm(actor, VIEW_CASES_PERMISSION):
        return QueueMember.objects.none()
    return (
        QueueMember.objects.filter(user=actor, queue__is_active=True)
        .select_related("queue")
        .order_by("queue__code")
    )


def case_type_list(*, actor: Any, include_inactive: bool = False) -> QuerySet[CaseType]:
    """Case types in their display order (anyone who may see service cases)."""
    if not actor_has_perm(actor, "support.view_casetype") and not actor_has_perm(
        actor, VIEW_CASES_PERMISSION
    ):
        return CaseType.objects.none()
    types = CaseType.objects.select_related("default_queue")
    if not include_inactive:
        types = types.filter(is_active=True)
    return types.order_by("sort_order", "code")


def case_type_get(*, actor: Any, code: str) -> CaseType:
    """One case type by code; ``CaseType.DoesNotExist`` if unknown or not visible."""
    return case_type_list(actor=actor, include_inactive=True).get(code=code)


def sla_policy_list(
    *, actor: Any, case_type: CaseType | None = None, include_inactive: bool = False
) -> QuerySet[SlaPolicy]:
    """SLA policies, by case type, priority and segment (anyone who may see service cases)."""
    if not actor_has_perm(actor, "support.view_slapolicy") and not actor_has_perm(
        actor, VIEW_CASES_PERMISSION
    ):
        return SlaPolicy.objects.none()
    policies = SlaPolicy.objects.select_related("case_type", "calendar")
    if not include_inactive:
        policies = policies.filter(is_active=True)
    if case_type is not None:
        policies = policies.filter(case_type=case_type)
    return policies.order_by(
        "case_type__sort_order", "case_type__code", "priority", "segment", "pk"
    )


def sla_policy_get(*, actor: Any, pk: int) -> SlaPolicy:
    """One policy; ``SlaPolicy.DoesNotExist`` if unknown or not visible."""
    return sla_policy_list(actor=actor, include_inactive=True).get(pk=pk)


def calendar_choices(*, actor: Any) -> QuerySet[BusinessCalendar]:
    """Business calendars a queue or policy may count in."""
    return BusinessCalendar.objects.order_by("code")
