"""Helpers of the complaint tests: complaint cases opened the way the product opens them.

``open_complaint`` opens a complaint case through ``services_cases.case_create`` (with its
``complaint={...}`` details) once that service and the seeded "complaint" case type are
installed; otherwise it creates the case row directly and calls ``complaint_open``, the
same call ``case_create`` makes inside its transaction.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.test import Client
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.support.models import CaseType, Complaint, ServiceCase
from bankcrm.support.services_complaints import complaint_open
from tests.factories import UserFactory
from tests.factories.support import CaseTypeFactory

_numbers = itertools.count(900001)


def staff(username: str, role: str, unit: Any, **extra: Any) -> Any:
    """A member of staff with one role, signed-in ready (password set today)."""
    return UserFactory(
        username=username,
        org_unit=unit,
        roles=[Role.objects.get(code=role)],
        password_changed_at=timezone.now(),
        **extra,
    )


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _case_create_available() -> Any:
    try:
        from bankcrm.support.services_cases import case_create
    except ImportError:
        return None
    if not CaseType.objects.filter(code="complaint", is_complaint=True).exists():
        return None
    return case_create


def complaint_case_type() -> CaseType:
    return CaseTypeFactory(code="complaint", name="Complaint", is_complaint=True)


def open_complaint(
    sb: Any,
    *,
    actor: Any = None,
    party: Any = "customer_a",
    queue: Any = None,
    received_at: dt.datetime | None = None,
    received_on: dt.date | None = None,
    category: str = "credit_card",
    product: str = "credit_card",
    root_cause: str | None = None,
    channel: str = "phone",
    subject: str = "Annual fee charged twice",
    contact_name: str = "",
    contact_email: str = "",
) -> Complaint:
    """A complaint case of ``party`` (an attribute name of the service bank, or None) in
    ``queue`` (default: the customer's branch queue, else the contact centre)."""
    if isinstance(party, str):
        party = getattr(sb, party)
    actor = actor or sb.agent_cc
    if queue is None:
        queue = sb.queue_a if party is not None and party.owning_unit == sb.branch_a else None
        queue = queue or (sb.queue_b if party is not None else sb.contact_centre)
    received_at = received_at or timezone.now()
    details: dict[str, Any] = {"category": category, "product": product}
    if received_on is not None:
        details["received_on"] = received_on
    if root_cause:
        details["root_cause"] = root_cause
    case_create = _case_create_available()
    if case_create is not None:
        case = case_create(
            actor=actor,
            case_type="complaint",
            channel=channel,
            subject=subject,
            description="The customer says the annual fee was taken twice this month.",
            party=party,
            queue=queue,
            contact_name=contact_name,
            contact_email=contact_email,
            received_at=received_at,
            complaint=details,
        )
        return Complaint.objects.get(case=case)
    case = ServiceCase.objects.create(
        reference=f"SC-{received_at.year}-{next(_numbers):06d}",
        case_type=complaint_case_type(),
        channel=channel,
        subject=subject,
        party=party,
        segment=getattr(party, "segment", "") or "",
        contact_name=contact_name,
        contact_email=contact_email,
        org_unit=party.owning_unit if party is not None else queue.org_unit,
        queue=queue,
        opened_by=None if getattr(actor, "pk", None) is None else actor,
        received_at=received_at,
        state="new",
    )
    return complaint_open(actor=actor, case=case, **details)
