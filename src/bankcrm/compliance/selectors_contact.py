"""What compliance tells marketing before a customer is contacted: whether a sanctions
screening hit on them is undecided or confirmed (such a customer is never sent offers)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models.screening import ScreeningHit

# An undecided hit (also one awaiting the second approval of a true match) or a true match.
_HIT_STATUSES = (
    ScreeningHit.Status.OPEN,
    ScreeningHit.Status.TRUE_MATCH_PENDING,
    ScreeningHit.Status.TRUE_MATCH,
)


def sanctions_hit_party_ids() -> QuerySet[Any]:
    """Customers (party ids) with an open or confirmed sanctions screening hit."""
    return (
        ScreeningHit.objects.filter(status__in=_HIT_STATUSES, party__isnull=False)
        .order_by()
        .values_list("party_id", flat=True)
    )
