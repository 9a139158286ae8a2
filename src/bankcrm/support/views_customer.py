"""The customer 360's service panel: the customer's recent cases (reference, type, state,
SLA state, received) each linking to its page, and a "New case" button for those who may
open cases.

Shown to whoever may see service cases; the cases are those ``customer_cases`` gives the
viewer (their queues and reach).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone

from bankcrm.access.permissions import actor_has_perm

from . import selectors_cases
from .views_workspace import ADD_CASE, VIEW_CASE, case_rows

RECENT_CASES = 10


def customer_panel_context(actor: Any, party: Any) -> dict[str, Any]:
    """The panel's context, or ``{"support": None}`` for those who may not see cases."""
    if not actor_has_perm(actor, VIEW_CASE):
        return {"support": None}
    cases = selectors_cases.customer_cases(actor=actor, party=party, limit=RECENT_CASES)
    rows = case_rows(actor, cases, timezone.now())
    may_add = actor_has_perm(actor, ADD_CASE)
    return {
        "support": {
            "rows": rows,
            "open": sum(1 for row in rows if row.case.is_open),
            "limit": RECENT_CASES,
            "may_add": may_add,
            "new_case_url": f"{reverse('support:case_create')}?party={party.pk}" if may_add else "",
            "all_url": f"{reverse('support:case_list')}?status=all&customer={party.pk}",
        }
    }
