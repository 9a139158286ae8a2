"""What customer service tells marketing before a customer is contacted: whether they have a
complaint still open (a customer complaining is not sent offers)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from .models import ServiceCase


def open_complaint_party_ids() -> QuerySet[Any]:
    """Customers (party ids) with an open complaint case: a case carrying a regulated
    complaint, or of a complaint case type, not yet resolved or closed."""
    return (
        ServiceCase.objects.filter(is_open=True, party__isnull=False)
        .filter(Q(complaint__isnull=False) | Q(case_type__is_complaint=True))
        .order_by()
        .values_list("party_id", flat=True)
    )
