"""Housekeeping jobs and the ``bankcrm support`` command that runs them without a broker."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.support.models import ServiceCase
from bankcrm.support.services_cases import case_transition
from tests.support.conftest_cases import case_setup, make_case  # noqa: F401

pytestmark = pytest.mark.django_db


def _resolved(make_case, agent, days_ago: float) -> ServiceCase:  # noqa: F811
    case = make_case(subject=f"Resolved {days_ago} days ago")
    case_transition(actor=agent, case=case, transition="start")
    case_transition(actor=agent, case=case, transition="resolve", reason="Card re-issued.")
    resolved_at = timezone.now() - dt.timedelta(days=days_ago)
    ServiceCase.objects.filter(pk=case.pk).update(resolved_at=resolved_at)
    return case


def _run(*args: str) -> dict:
    out = io.StringIO()
    call_command("support", *args, stdout=out)
    return json.loads(out.getvalue())


def test_resolved_cases_past_their_reopen_window_are_closed_once(make_case, service_bank):  # noqa: F811
    agent = service_bank.agent_cc
    old = _resolved(make_case, agent, days_ago=7.1)  # inquiry: reopen within 7 days
    recent = _resolved(make_case, agent, days_ago=6.9)
    first = _run("close-resolved")
    assert first["closed"] == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.state, old.is_open, old.closed_at is not None) == ("closed", False, True)
    assert recent.state == "resolved"
    assert AuditEvent.objects.filter(
        action="case.transition", object_pk=str(old.pk), actor="system:support.close_resolved"
    ).count() == 1  # fmt: skip
    assert _run("close-resolved")["closed"] == 0


def test_sla_sweep_and_overdue_complaints_run_from_the_command(service_bank, case_setup):  # noqa: F811
    sweep = _run("sla-sweep", "--now", "2026-10-09T09:00:00+08:00")
    assert sweep.pop("seconds") >= 0
    assert sweep == {
        "first_response_breached": 0,
        "resolution_breached": 0,
        "first_response_warning": 0,
        "resolution_warning": 0,
        "escalation_tasks": 0,
        "errors": 0,
    }
    assert _run("complaints-overdue", "--as-of", "2026-10-09")["escalated"] == 0
    assert _run("sla-recompute")["recomputed"] == 0


def test_bad_options_are_named(db):
    with pytest.raises(CommandError, match="--now"):
        call_command("support", "sla-sweep", "--now", "yesterday")
    with pytest.raises(CommandError, match="--as-of"):
        call_command("support", "complaints-overdue", "--as-of", "2026-13-01")
