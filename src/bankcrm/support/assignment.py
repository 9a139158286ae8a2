"""Who gets a new case: the queue's assignment rule over its available agents.

Rules (``Queue.assignment``):

1. whatever the rule except ``manual``: a customer whose segment is in the queue's
   ``rm_segments`` (premium customers) goes to their own relationship manager (the manager
   of the customer's portfolio) when the RM is an active, available member of the queue;
   the RM is not subject to the member's case cap (the relationship comes first);
2. ``skill``: only available members whose skills include the case type's code (or who
   list no skill) and whose languages include the case's language (or who list none); when
   no member qualifies the case stays unassigned in the queue, for a supervisor or an agent
   to take, rather than go to an agent who cannot handle it;
3. round robin (``round_robin``, and among the qualified members of ``skill``): the
   available member below their ``max_open_cases`` (0: no cap) whose ``last_assigned_at``
   is the oldest (never assigned first), ties by user key;
4. ``manual``: nobody, agents take cases themselves.

The chosen member's ``last_assigned_at`` is set to now. The queue's members are locked
(``select_for_update``) while choosing, so two cases opened at once in one queue go to two
different agents.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from .models import Queue, QueueMember, ServiceCase


def _language_matches(case_language: str, languages: list[str]) -> bool:
    """An empty list speaks every language; "zh" covers "zh-hans" and the other way round."""
    if not languages:
        return True
    wanted = (case_language or "").strip().lower()
    if not wanted:
        return True
    for language in languages:
        offered = str(language).strip().lower()
        if (
            offered == wanted
            or wanted.startswith(offered + "-")
            or offered.startswith(wanted + "-")
        ):
            return True
    return False


def _skill_matches(case_type_code: str, skills: list[str]) -> bool:
    return not skills or case_type_code in {str(skill) for skill in skills}


def _open_loads(queue: Queue, user_ids: list[Any]) -> dict[Any, int]:
    rows = (
        ServiceCase.objects.filter(queue=queue, is_open=True, assigned_to_id__in=user_ids)
        .order_by()
        .values_list("assigned_to_id")
        .annotate(open_cases=Count("pk"))
    )
    return dict(rows)


def _relationship_manager(case: ServiceCase) -> Any:
    if case.party_id is None:  # type: ignore[attr-defined]
        return None
    party = case.party
    portfolio = party.portfolio if party is not None and party.portfolio_id else None  # type: ignore[attr-defined]
    return portfolio.manager if portfolio is not None else None


def _oldest_assigned(members: list[QueueMember]) -> QueueMember:
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    return min(members, key=lambda m: (m.last_assigned_at or never, m.user_id))  # type: ignore[attr-defined]


def case_assignee_pick(*, case: ServiceCase) -> Any:
    """The agent a new case goes to under its queue's rule, or None (see the module)."""
    queue = case.queue
    if queue.assignment == Queue.Assignment.MANUAL:
        return None
    with transaction.atomic():
        members = list(
            QueueMember.objects.select_for_update(of=("self",))
            .filter(queue=queue, is_available=True, user__is_active=True)
            .select_related("user")
            .order_by("pk")
        )
        if not members:
            return None
        chosen: QueueMember | None = None
        party = case.party if case.party_id else None  # type: ignore[attr-defined]
        segment = case.segment or (party.segment if party is not None else "")
        if segment and segment in (queue.rm_segments or []):
            manager = _relationship_manager(case)
            if manager is not None:
                chosen = next((m for m in members if m.user_id == manager.pk), None)  # type: ignore[attr-defined]
        if chosen is None:
            eligible = members
            if queue.assignment == Queue.Assignment.SKILL:
                code = case.case_type.code
                eligible = [
                    m
                    for m in members
                    if _skill_matches(code, m.skills or [])
                    and _language_matches(case.language, m.languages or [])
                ]
            capped = [m for m in eligible if m.max_open_cases]
            if capped:
                loads = _open_loads(queue, [m.user_id for m in capped])  # type: ignore[attr-defined]
                eligible = [
                    m
                    for m in eligible
                    if not m.max_open_cases or loads.get(m.user_id, 0) < m.max_open_cases  # type: ignore[attr-defined]
                ]
            if not eligible:
                return None
            chosen = _oldest_assigned(eligible)
        chosen.last_assigned_at = timezone.now()
        chosen.save(update_fields=["last_assigned_at", "updated_at"])
        return chosen.user
