"""Helpers of the SLA, assignment and setup tests: service cases written directly (with the
SLA policy applied), so these tests do not depend on the case-opening service."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from bankcrm.support.models import CaseType, ServiceCase
from bankcrm.support.services_sla import sla_apply_policy

_numbers = itertools.count(1)


def make_case(
    *,
    queue: Any,
    received_at: dt.datetime,
    case_type: str = "inquiry",
    priority: int = 2,
    party: Any = None,
    state: str = "new",
    language: str = "zh-hans",
    subject: str = "Statement copy for March",
    assigned_to: Any = None,
    apply_policy: bool = True,
) -> ServiceCase:
    """A saved case as case_create leaves it: reference, scope, segment and SLA set."""
    case = ServiceCase(
        reference=f"SC-2026-{900000 + next(_numbers):06d}",
        case_type=CaseType.objects.get(code=case_type),
        channel="phone",
        priority=priority,
        subject=subject,
        party=party,
        segment=party.segment if party is not None else "",
        language=language,
        org_unit=party.owning_unit if party is not None else queue.org_unit,
        queue=queue,
        assigned_to=assigned_to,
        received_at=received_at,
        state=state,
    )
    if apply_policy:
        sla_apply_policy(case=case, now=received_at)
    case.save()
    return case


def reload(case: ServiceCase) -> ServiceCase:
    return ServiceCase.objects.select_related("sla_calendar", "case_type").get(pk=case.pk)
