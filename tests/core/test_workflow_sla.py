"""SLAs of workflow states in business hours: due times, breaches, the calendar in a spec."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core import workflow as engine
from bankcrm.core.models import BusinessCalendar, WorkflowDefinition
from bankcrm.core.services_calendar import business_holiday_set
from bankcrm.core.workflow import (
    SlaStatus,
    workflow_definition_create_from_dict,
    workflow_sla_status,
    workflow_sla_statuses,
    workflow_start,
    workflow_transition,
)
from tests.factories import RoleFactory, UserFactory
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def sh(year, month, day, hour=0, minute=0, second=0):
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def utc(year, month, day, hour=0, minute=0):
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


SPEC = {
    "key": "case",
    "name": "Case",
    "calendar": "CN",
    "initial_state": "new",
    "states": [
        {"code": "new", "name": "New", "sla_hours": 16},
        {"code": "review", "name": "Under review", "sla_hours": 8},
        {"code": "closed", "name": "Closed", "is_terminal": True},
    ],
    "transitions": [
        {"code": "submit", "name": "Submit", "source": "new", "target": "review"},
        {"code": "close", "name": "Close", "source": "review", "target": "closed"},
    ],
}


@pytest.fixture(autouse=True)
def no_guards(monkeypatch):
    monkeypatch.setattr(engine, "_GUARDS", {})


class Clock:
    """The time the code under test sees as "now"."""

    def __init__(self):
        self.now = utc(2026, 3, 6, 7)

    def set(self, moment):
        self.now = moment.astimezone(UTC)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


@pytest.fixture
def designer():
    return UserFactory(
        username="designer", roles=[RoleFactory(code="wf_admin", permissions=["core.*"])]
    )


@pytest.fixture
def clerk():
    return UserFactory(
        username="clerk",
        roles=[RoleFactory(code="ticket_clerk", permissions=["testapp.change_ticket"])],
    )


def _define(designer, **changes):
    spec = copy.deepcopy(SPEC)
    spec.update(changes)
    if spec.get("calendar") is None:
        spec.pop("calendar")
    return workflow_definition_create_from_dict(actor=designer, spec=spec)


def _start_at(clock, clerk, moment, title="Card dispute"):
    clock.set(moment)
    item = Ticket.objects.create(title=title, has_documents=True)
    workflow_start(actor=clerk, subject=item, definition_key="case")
    return Ticket.objects.get(pk=item.pk)


def test_friday_afternoon_16_business_hours_are_due_on_tuesday(designer, clerk, clock):
    definition = _define(designer)
    assert definition.calendar.code == "CN"
    # Friday 6 March 2026, 15:00 in Shanghai (07:00 UTC).
    ticket = _start_at(clock, clerk, sh(2026, 3, 6, 15))
    assert ticket.state_entered_at == utc(2026, 3, 6, 7)
    # 2.5 h on Friday, 7.5 h on Monday, 6 h on Tuesday: 16:00 Shanghai, 08:00 UTC.
    assert ticket.state_due_at == utc(2026, 3, 10, 8)
    assert ticket.state_due_at.utcoffset() == dt.timedelta(0)

    saturday = workflow_sla_status(subject=ticket, now=sh(2026, 3, 7, 12))
    assert saturday == SlaStatus(
        state="new",
        sla_hours=16,
        calendar="CN",
        entered_at=utc(2026, 3, 6, 7),
        due_at=utc(2026, 3, 10, 8),
        elapsed_hours=Decimal("2.50"),
        remaining_hours=Decimal("13.50"),
        used_share=Decimal("0.1563"),
        is_breached=False,
    )
    sunday = workflow_sla_status(subject=ticket, now=sh(2026, 3, 8, 23))
    assert (sunday.is_breached, sunday.elapsed_hours, sunday.remaining_hours) == (
        False,
        Decimal("2.50"),
        Decimal("13.50"),
    )
    monday = workflow_sla_status(subject=ticket, now=sh(2026, 3, 9, 10))
    assert (monday.is_breached, monday.elapsed_hours, monday.used_share) == (
        False,
        Decimal("3.50"),
        Decimal("0.2188"),
    )
    at_due = workflow_sla_status(subject=ticket, now=sh(2026, 3, 10, 16))
    assert (at_due.is_breached, at_due.remaining_hours, at_due.used_share) == (
        False,
        Decimal("0.00"),
        Decimal("1.0000"),
    )
    late = workflow_sla_status(subject=ticket, now=sh(2026, 3, 10, 16, 0, 1))
    assert (late.is_breached, str(late.remaining_hours)) == (True, "0.00")
    next_morning = workflow_sla_status(subject=ticket, now=sh(2026, 3, 11, 9))
    assert next_morning.as_dict() == {
        "state": "new",
        "sla_hours": 16,
        "calendar": "CN",
        "entered_at": utc(2026, 3, 6, 7),
        "due_at": utc(2026, 3, 10, 8),
        "elapsed_hours": Decimal("17.50"),
        "remaining_hours": Decimal("-1.50"),
        "used_share": Decimal("1.0938"),
        "is_breached": True,
    }


def test_a_transition_counts_the_next_states_sla_in_business_hours(designer, clerk, clock):
    _define(designer)
    ticket = _start_at(clock, clerk, sh(2026, 3, 6, 15))
    clock.set(sh(2026, 3, 9, 11))  # Monday 11:00
    workflow_transition(actor=clerk, subject=ticket, transition="submit")
    stored = Ticket.objects.get(pk=ticket.pk)
    # 1 h before lunch, 4.5 h after, then 2.5 h on Tuesday morning: 11:30 Shanghai.
    assert (stored.state, stored.state_due_at) == ("review", utc(2026, 3, 10, 3, 30))
    clock.set(sh(2026, 3, 10, 12))
    workflow_transition(actor=clerk, subject=ticket, transition="close")
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.state, stored.state_due_at) == ("closed", None)
    assert workflow_sla_status(subject=stored, now=sh(2026, 3, 20)) is None


def test_holidays_of_the_calendar_are_skipped(designer, clerk, clock):
    _define(designer)
    # Wednesday 30 September 16:00: 1.5 h, National Day 1–7 October, 7.5 h on the 8th,
    # 7 h on Friday 9 October: due at 17:00 Shanghai.
    ticket = _start_at(clock, clerk, sh(2026, 9, 30, 16))
    assert ticket.state_due_at == sh(2026, 10, 9, 17)
    status = workflow_sla_status(subject=ticket, now=sh(2026, 10, 7, 17))
    assert (status.is_breached, status.elapsed_hours) == (False, Decimal("1.50"))


def test_an_adjusted_working_saturday_counts(designer, clerk, clock):
    _define(designer)
    # Friday 13 February 16:00: 1.5 h, Saturday 14 February is worked (7.5 h), Spring
    # Festival 15–23 February, 7 h on Tuesday 24 February: due at 17:00 Shanghai.
    ticket = _start_at(clock, clerk, sh(2026, 2, 13, 16))
    assert ticket.state_due_at == sh(2026, 2, 24, 17)
    status = workflow_sla_status(subject=ticket, now=sh(2026, 2, 14, 17, 30))
    assert (status.elapsed_hours, status.remaining_hours) == (Decimal("9.00"), Decimal("7.00"))


def test_a_holiday_set_by_the_service_applies_to_the_next_item(designer, clerk, clock):
    _define(designer)
    keeper = UserFactory(
        username="keeper",
        roles=[RoleFactory(code="calendar_keeper", permissions=["core.change_businesscalendar"])],
    )
    first = _start_at(clock, clerk, sh(2026, 3, 6, 15), title="Before")
    business_holiday_set(
        actor=keeper,
        calendar=BusinessCalendar.objects.get(code="CN"),
        date=dt.date(2026, 3, 9),
        kind="holiday",
        name="Bank holiday",
    )
    second = _start_at(clock, clerk, sh(2026, 3, 6, 15), title="After")
    assert first.state_due_at == sh(2026, 3, 10, 16)  # the due time set on entry stays
    assert second.state_due_at == sh(2026, 3, 11, 16)  # Monday is now off


def test_without_a_calendar_sla_hours_are_wall_clock_hours(designer, clerk, clock):
    definition = _define(designer, calendar=None)
    assert definition.calendar is None
    ticket = _start_at(clock, clerk, sh(2026, 3, 6, 15))
    assert ticket.state_due_at == sh(2026, 3, 7, 7)  # Saturday 07:00
    assert ticket.state_due_at - ticket.state_entered_at == dt.timedelta(hours=16)
    status = workflow_sla_status(subject=ticket, now=sh(2026, 3, 7, 12))
    assert (
        status.calendar,
        status.elapsed_hours,
        status.remaining_hours,
        status.used_share,
        status.is_breached,
    ) == ("", Decimal("21.00"), Decimal("-5.00"), Decimal("1.3125"), True)


def test_a_spec_with_an_unknown_calendar_is_refused(designer):
    with pytest.raises(ValidationError) as caught:
        _define(designer, calendar="XX")
    assert caught.value.messages == ["Unknown business calendar “XX”."]
    with pytest.raises(ValidationError) as caught:
        _define(designer, calendar=7, initial_state="nowhere")
    assert caught.value.messages == [
        "“calendar” must be the code of a business calendar.",
        "The initial state “nowhere” is not a state.",
    ]
    assert not WorkflowDefinition.objects.filter(key="case").exists()
    assert AuditEvent.objects.count() == 0


def test_the_definition_audit_names_the_calendar(designer):
    definition = _define(designer)
    event = AuditEvent.objects.get(action="workflow.define")
    assert (event.object_pk, event.after["calendar"]) == (str(definition.pk), "CN")


def test_sla_statuses_of_a_list_take_a_fixed_number_of_queries(
    designer, clerk, clock, django_assert_num_queries
):
    _define(designer)
    tickets = [_start_at(clock, clerk, sh(2026, 3, 6, 15), title=f"T{n}") for n in range(5)]
    workflow_transition(actor=clerk, subject=tickets[0], transition="submit")
    tickets[0] = Ticket.objects.get(pk=tickets[0].pk)
    outside = Ticket.objects.create(title="Not started")
    items = [*tickets, outside]
    workflow_sla_statuses(subjects=items, now=sh(2026, 3, 9, 10))  # loads the calendar
    with django_assert_num_queries(2):
        statuses = workflow_sla_statuses(subjects=items, now=sh(2026, 3, 9, 10))
    assert statuses[outside.pk] is None
    assert [statuses[t.pk].sla_hours for t in tickets] == [8, 16, 16, 16, 16]
    assert [statuses[t.pk].state for t in tickets] == ["review", "new", "new", "new", "new"]
    assert {statuses[t.pk].elapsed_hours for t in tickets} == {Decimal("3.50")}
    with django_assert_num_queries(0):
        assert workflow_sla_statuses(subjects=[outside]) == {outside.pk: None}


def test_workflow_show_names_the_calendar(designer, tmp_path, capsys):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(SPEC), encoding="utf-8")
    call_command("workflow", "load", str(path))
    call_command("workflow", "show", "case")
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["Loaded case version 1.", "Case (case v1)", "  new [initial] SLA 16 h"]
    assert lines[-1] == (
        "  SLA hours: business hours of calendar CN (China mainland (working days), Asia/Shanghai)"
    )
    path.write_text(json.dumps({**SPEC, "calendar": None}), encoding="utf-8")
    call_command("workflow", "load", str(path))
    call_command("workflow", "show", "case")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "Case (case v2)"
    assert lines[-1] == "  SLA hours: wall-clock hours (no business calendar)"
