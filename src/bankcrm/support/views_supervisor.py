"""The supervisor's view (``/support/supervisor/``): the backlog of each queue (open,
unassigned, due soon, breached, the oldest case), the cases whose SLA is breached or due
soon, and each agent's load and availability.

Open to the supervisors of queues and to holders of ``support.supervise_queue`` (branch
managers), each for the queues ``supervisor_overview`` gives them (those they supervise,
or those of their units); anyone else gets 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from . import selectors_cases
from .views_workspace import (
    VIEW_CASE,
    age_text,
    case_rows,
    for_rows,
    local_name,
    may,
    require,
    user_name,
)

LIST_LIMIT = 50


def may_supervise(request: HttpRequest) -> bool:
    """Holders of ``support.supervise_queue`` and the supervisors of a queue, who may also
    see cases."""
    return may(request, VIEW_CASE) and selectors_cases.may_supervise(actor=request.user)


def _queue_rows(overview: dict[str, Any], now: Any) -> list[dict[str, Any]]:
    return [
        {
            **item,
            "name": local_name(item["queue"]),
            "oldest_age": age_text(item["oldest"], now) if item.get("oldest") else "",
        }
        for item in overview.get("queues") or []
    ]


def _agent_rows(overview: dict[str, Any]) -> list[dict[str, Any]]:
    """Each agent of the queues shown: open and breached cases, availability, queues."""
    names = {item["queue"].code: local_name(item["queue"]) for item in overview.get("queues") or []}
    rows = [
        {
            **item,
            "name": user_name(item["user"]),
            "queue_names": [names.get(code, code) for code in item.get("queues") or []],
        }
        for item in overview.get("agents") or []
    ]
    rows.sort(key=lambda row: (-row["breached"], -row["open"], row["name"]))
    return rows


@login_required
@require_GET
def supervisor(request: HttpRequest) -> HttpResponse:
    """The backlog by queue, the breached and due-soon cases, and the agents' load."""
    require(request, VIEW_CASE)
    if not may_supervise(request):
        raise PermissionDenied(_("Only the supervisors of a queue see its backlog."))
    actor = request.user
    now = timezone.now()
    overview = selectors_cases.supervisor_overview(actor=actor, now=now)
    queue_rows = _queue_rows(overview, now)
    queue_pks = [row["queue"].pk for row in queue_rows]
    breached = list(
        for_rows(
            selectors_cases.case_list(actor=actor, filters={"breached": True}).filter(
                queue_id__in=queue_pks
            )
        ).order_by("resolution_due_at", "pk")[:LIST_LIMIT]
    )
    # Warned by the SLA sweep and not breached (as the overview counts them).
    warning = list(
        for_rows(
            selectors_cases.case_list(actor=actor, filters={"is_open": True, "breached": False})
            .filter(queue_id__in=queue_pks)
            .filter(
                Q(first_response_warned_at__isnull=False) | Q(resolution_warned_at__isnull=False)
            )
        ).order_by("resolution_due_at", "pk")[:LIST_LIMIT]
    )
    context = {
        "queues": queue_rows,
        "totals": overview.get("totals") or {},
        "breached": case_rows(actor, breached, now),
        "warning": case_rows(actor, warning, now),
        "agents": _agent_rows(overview),
        "limit": LIST_LIMIT,
    }
    return render(request, "support/supervisor.html", context)
