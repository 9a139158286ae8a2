"""The SLA sweep (warnings and breaches exactly once, escalation to the supervisor) and the
recomputation of open cases' dues after a calendar change.

Times are Shanghai wall-clock on the seeded CN calendar (09:00–12:00, 13:00–17:30,
Monday to Friday: 450 business minutes a day).
"""

from __future__ import annotations

import datetime as dt
import importlib
import threading

import pytest
from django.apps import apps as django_apps
from django.db import connections

from bankcrm.audit.models import AuditEvent
from bankcrm.core.models import BusinessCalendar, BusinessCalendarDay
from bankcrm.customers.models import Task
from bankcrm.events.models import OutboxEvent
from bankcrm.support import tasks_sla
from bankcrm.support.models import ServiceCase
from bankcrm.support.services_sla import (
    _write_dues,
    escalation_owners,
    sla_on_state_change,
    sla_recompute_open,
    sla_record_first_response,
    sla_sweep,
)
from tests.support.conftest import shanghai
from tests.support.conftest_sla import make_case

NOTHING = {
    "first_response_breached": 0,
    "resolution_breached": 0,
    "first_response_warning": 0,
    "resolution_warning": 0,
    "escalation_tasks": 0,
    "errors": 0,
}


def _counts(**changes: int) -> dict[str, int]:
    return {**NOTHING, **changes}


def _events(kind: str) -> list[dict]:
    return list(
        OutboxEvent.objects.filter(type=kind)
        .order_by("occurred_at")
        .values_list("payload", flat=True)
    )


def test_warning_then_breach_each_fire_once(service_bank):
    # Inquiry, normal: received Fri 13 March 16:00; first response due Mon 16 March 16:00
    # (Fri 90 + Mon 360 minutes), resolution due Wed 18 March 16:00.
    case = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16, 0))

    # Mon 14:29: 359 of 450 minutes used, below the 80 % warning share (360).
    assert sla_sweep(now=shanghai(2026, 3, 16, 14, 29)) == NOTHING
    # Mon 14:30: 360 used, the first-response warning; the resolution (360 of 1350) not.
    assert sla_sweep(now=shanghai(2026, 3, 16, 14, 30)) == _counts(first_response_warning=1)
    assert sla_sweep(now=shanghai(2026, 3, 16, 15, 0)) == NOTHING
    # Mon 16:00 is the due itself: not yet breached.
    assert sla_sweep(now=shanghai(2026, 3, 16, 16, 0)) == NOTHING
    assert sla_sweep(now=shanghai(2026, 3, 16, 16, 1)) == _counts(
        first_response_breached=1, escalation_tasks=1
    )
    assert sla_sweep(now=shanghai(2026, 3, 16, 16, 2)) == NOTHING
    assert sla_sweep(now=shanghai(2026, 3, 16, 17, 0)) == NOTHING

    case.refresh_from_db()
    assert case.first_response_warned_at == shanghai(2026, 3, 16, 14, 30)
    assert case.first_response_breached_at == shanghai(2026, 3, 16, 16, 1)
    assert (case.resolution_warned_at, case.resolution_breached_at) == (None, None)

    payload = {
        "case": str(case.pk),
        "reference": case.reference,
        "clock": "first_response",
        "due_at": "2026-03-16T08:00:00+00:00",
        "queue": "contact_centre",
    }
    assert _events("case.sla_warning") == [payload]
    assert _events("case.sla_breached") == [payload]
    audits = AuditEvent.objects.filter(object_pk=str(case.pk)).order_by("pk")
    assert [(a.action, a.actor, a.after["clock"]) for a in audits] == [
        ("case.sla_warning", "system:support.sla_sweep", "first_response"),
        ("case.sla_breach", "system:support.sla_sweep", "first_response"),
    ]
    assert audits[1].after["escalated_to"] == [service_bank.supervisor.pk]

    # The resolution clock warns at 80 % of 1350 = 1080 used: Fri 90, Mon 450, Tue 450
    # (990), Wed 09:00 + 90 = 10:30; it is due Wed 16:00.
    assert sla_sweep(now=shanghai(2026, 3, 18, 10, 29)) == NOTHING
    assert sla_sweep(now=shanghai(2026, 3, 18, 10, 30)) == _counts(resolution_warning=1)
    assert sla_sweep(now=shanghai(2026, 3, 18, 16, 1)) == _counts(
        resolution_breached=1, escalation_tasks=1
    )
    assert sla_sweep(now=shanghai(2026, 3, 19, 9, 0)) == NOTHING
    assert len(_events("case.sla_breached")) == 2


def test_breach_gives_the_queue_supervisor_a_task(service_bank):
    case = make_case(
        queue=service_bank.contact_centre,
        received_at=shanghai(2026, 3, 13, 16, 0),
        subject="Card retained by ATM",
    )
    sla_sweep(now=shanghai(2026, 3, 16, 16, 1))
    task = Task.objects.get()
    assert (task.owner, task.party, task.owning_unit, task.priority, task.due_on) == (
        service_bank.supervisor,
        None,
        service_bank.head_office,
        "urgent",
        dt.date(2026, 3, 16),
    )
    assert task.title == f"SLA breached: {case.reference}, first response overdue"
    assert task.description == (
        f"The first response of case {case.reference} (“Card retained by ATM”, queue "
        "Contact centre) was due at 2026-03-16 16:00 and is overdue: see that the case is "
        "answered and worked."
    )
    assert task.created_by is None


def test_without_a_supervisor_the_nearest_branch_manager_is_given_the_task(service_bank):
    # Queue B has no supervisor and branch B no branch manager: the head office's (the
    # contact-centre supervisor, a branch manager at head office) is the nearest above.
    assert escalation_owners(service_bank.queue_b) == [service_bank.supervisor]
    assert escalation_owners(service_bank.queue_a) == [service_bank.manager_a]
    service_bank.queue_a.supervisor = None
    service_bank.queue_a.save()
    # Branch A has two branch managers: both are given the task.
    assert escalation_owners(service_bank.queue_a) == sorted(
        [service_bank.manager_a, service_bank.manager_a2], key=lambda user: user.pk
    )

    case = make_case(
        queue=service_bank.queue_b,
        received_at=shanghai(2026, 3, 16, 9, 0),
        party=service_bank.customer_b,
    )
    assert sla_sweep(now=shanghai(2026, 3, 17, 9, 1)) == _counts(
        first_response_breached=1, escalation_tasks=1
    )
    task = Task.objects.get()
    # The task is about the customer, in the customer's unit.
    assert (task.owner, task.party, task.owning_unit) == (
        service_bank.supervisor,
        service_bank.customer_b,
        service_bank.branch_b,
    )
    assert case.reference in task.title


def test_paused_answered_and_closed_clocks_are_not_breached(service_bank):
    queue, received = service_bank.contact_centre, shanghai(2026, 3, 13, 16, 0)
    paused = make_case(queue=queue, received_at=received, state="in_progress")
    sla_on_state_change(
        case=paused,
        old_state="in_progress",
        new_state="waiting_on_customer",
        now=shanghai(2026, 3, 16, 9, 0),
    )
    paused.save()
    answered = make_case(queue=queue, received_at=received)
    sla_record_first_response(case=answered, now=shanghai(2026, 3, 16, 9, 0))
    answered.save()
    closed = make_case(queue=queue, received_at=received)
    closed.is_open = False
    closed.save()
    # Mon 16:01: only the answered case's resolution clock runs (Fri 90 + Mon 361 = 451 of
    # 1350, below the 80 % share); nothing fires.
    assert sla_sweep(now=shanghai(2026, 3, 16, 16, 1)) == NOTHING
    # Thursday: the answered case's resolution (due Wed 16:00) is breached; the paused
    # case stands still and the closed one is done.
    assert sla_sweep(now=shanghai(2026, 3, 19, 9, 0)) == _counts(
        resolution_breached=1, escalation_tasks=1
    )
    assert _events("case.sla_breached")[0]["reference"] == answered.reference


def test_a_breach_found_late_is_not_preceded_by_a_warning(service_bank):
    case = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16, 0))
    # The first sweep after the weekend comes Thursday: both clocks are past due.
    assert sla_sweep(now=shanghai(2026, 3, 19, 9, 0)) == _counts(
        first_response_breached=1, resolution_breached=1, escalation_tasks=2
    )
    assert _events("case.sla_warning") == []
    case.refresh_from_db()
    assert case.first_response_warned_at == case.first_response_breached_at
    assert sla_sweep(now=shanghai(2026, 3, 19, 10, 0)) == NOTHING


def test_a_failing_case_is_left_for_the_next_sweep(service_bank, monkeypatch):
    from bankcrm.customers import services as customer_services

    queue = service_bank.contact_centre
    failing = make_case(queue=queue, received_at=shanghai(2026, 3, 13, 16, 0), subject="Fails")
    fine = make_case(queue=queue, received_at=shanghai(2026, 3, 13, 16, 5))
    real_task_create = customer_services.task_create

    def task_create(**kwargs):
        if failing.reference in kwargs["title"]:
            raise RuntimeError("task store unavailable")
        return real_task_create(**kwargs)

    monkeypatch.setattr(customer_services, "task_create", task_create)
    # Mon 16:10: both first responses are overdue (due 16:00 and 16:05).
    assert sla_sweep(now=shanghai(2026, 3, 16, 16, 10)) == _counts(
        first_response_breached=1, escalation_tasks=1, errors=1
    )
    failing.refresh_from_db()
    fine.refresh_from_db()
    # The failing case's breach was rolled back with its escalation: nothing half-written.
    assert failing.first_response_breached_at is None
    assert fine.first_response_breached_at == shanghai(2026, 3, 16, 16, 10)
    assert [p["reference"] for p in _events("case.sla_breached")] == [fine.reference]

    monkeypatch.setattr(customer_services, "task_create", real_task_create)
    assert sla_sweep(now=shanghai(2026, 3, 16, 16, 11)) == _counts(
        first_response_breached=1, escalation_tasks=1
    )
    failing.refresh_from_db()
    assert failing.first_response_breached_at == shanghai(2026, 3, 16, 16, 11)


def test_the_celery_tasks(service_bank):
    from bankcrm.config.celery import app

    assert {"support.sla_sweep", "support.sla_recompute"} <= set(app.tasks)
    make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16, 0))
    assert tasks_sla.sla_sweep("2026-03-16T16:01:00+08:00") == _counts(
        first_response_breached=1, first_response_warning=0, escalation_tasks=1
    )
    assert tasks_sla.sla_sweep.apply(kwargs={"now": "2026-03-16T16:02:00+08:00"}).get() == NOTHING
    assert tasks_sla.sla_recompute() == 0
    with pytest.raises(ValueError, match="offset"):
        tasks_sla.sla_sweep("2026-03-16T16:01:00")


# --- Two sweeps at once (PostgreSQL) -----------------------------------------------------


def _reseed() -> None:
    """A transactional test's database was flushed by the previous one: put back the
    seeded roles, CN calendar and case setup the fixtures read."""
    for module, function in (
        ("bankcrm.access.migrations.0003_seed_bank_roles", "seed_roles"),
        ("bankcrm.core.migrations.0005_business_calendar_cn_2026", "seed_cn_2026"),
        ("bankcrm.support.migrations.0002_case_setup_seed", "seed"),
    ):
        getattr(importlib.import_module(module), function)(django_apps, None)


@pytest.fixture
def reseeded(transactional_db):
    _reseed()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_fire_each_breach_once(reseeded, service_bank):
    cases = [
        make_case(
            queue=service_bank.contact_centre,
            received_at=shanghai(2026, 3, 16, 9, 0) + dt.timedelta(minutes=n),
        )
        for n in range(15)
    ]
    start = threading.Barrier(2)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            start.wait(timeout=30)
            results.append(sla_sweep(now=shanghai(2026, 3, 30, 9, 0)))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == 2
    # Every case breached both clocks once, shared between the two sweeps in any split.
    assert sum(r["first_response_breached"] for r in results) == len(cases)
    assert sum(r["resolution_breached"] for r in results) == len(cases)
    assert sum(r["escalation_tasks"] for r in results) == 2 * len(cases)
    assert sum(r["first_response_warning"] + r["resolution_warning"] for r in results) == 0
    breaches = _events("case.sla_breached")
    assert sorted((p["reference"], p["clock"]) for p in breaches) == sorted(
        (case.reference, clock) for case in cases for clock in ("first_response", "resolution")
    )
    assert Task.objects.filter(owner=service_bank.supervisor).count() == 2 * len(cases)
    assert AuditEvent.objects.filter(action="case.sla_breach").count() == 2 * len(cases)


# --- Recomputation -----------------------------------------------------------------------


def _holiday(calendar: BusinessCalendar, date: dt.date) -> None:
    BusinessCalendarDay.objects.create(calendar=calendar, date=date, kind="holiday", name="Test")


@pytest.mark.parametrize("batch_size", [5000, 1])
def test_recompute_after_a_new_holiday_moves_the_open_dues(service_bank, batch_size):
    queue, monday = service_bank.contact_centre, shanghai(2026, 3, 16, 9, 0)
    # Inquiry, normal (450 / 1350) received Mon 09:00: first response Mon 17:30,
    # resolution Wed 17:30 (three full days).
    running = make_case(queue=queue, received_at=monday)
    # The same with one day (450 minutes) paused already: 900 → Tue 17:30, 1800 → Thu 17:30.
    paused = make_case(queue=queue, received_at=monday)
    paused.sla_paused_minutes = 450
    paused.first_response_due_at = shanghai(2026, 3, 17, 17, 30)
    paused.resolution_due_at = shanghai(2026, 3, 19, 17, 30)
    paused.save()
    # Answered Mon 10:00: its first-response due is history.
    answered = make_case(queue=queue, received_at=monday)
    sla_record_first_response(case=answered, now=shanghai(2026, 3, 16, 10, 0))
    answered.save()
    closed = make_case(queue=queue, received_at=monday)
    closed.is_open = False
    closed.save()
    # Without a policy nothing is due.
    without = make_case(queue=queue, received_at=monday, apply_policy=False)

    assert sla_recompute_open(batch_size=batch_size) == 0

    # Tuesday 17 March becomes a holiday: every day after Monday shifts by one.
    _holiday(service_bank.calendar, dt.date(2026, 3, 17))
    assert sla_recompute_open(now=shanghai(2026, 3, 16, 12, 0), batch_size=batch_size) == 3

    dues = {
        case.reference: (case.first_response_due_at, case.resolution_due_at)
        for case in ServiceCase.objects.all()
    }
    assert dues == {
        # Mon 450 is unchanged; the resolution takes Mon, Wed, Thu.
        running.reference: (shanghai(2026, 3, 16, 17, 30), shanghai(2026, 3, 19, 17, 30)),
        # 900: Mon, Wed; 1800: Mon, Wed, Thu, Fri.
        paused.reference: (shanghai(2026, 3, 18, 17, 30), shanghai(2026, 3, 20, 17, 30)),
        answered.reference: (shanghai(2026, 3, 16, 17, 30), shanghai(2026, 3, 19, 17, 30)),
        # Closed: left as it was.
        closed.reference: (shanghai(2026, 3, 16, 17, 30), shanghai(2026, 3, 18, 17, 30)),
        without.reference: (None, None),
    }
    assert sla_recompute_open(batch_size=batch_size) == 0
    audit = AuditEvent.objects.get(action="case.sla_recompute")
    assert (audit.actor, audit.after["open_cases"], audit.after["dues_moved"]) == (
        "system:support.sla_recompute",
        4,
        3,
    )


def test_recompute_leaves_a_case_changed_meanwhile(service_bank):
    case = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 16, 9, 0))
    new_due = shanghai(2026, 4, 1, 9, 0) + dt.timedelta(microseconds=123456)
    micro = (new_due - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    # Read with 0 paused minutes, but a workflow step has folded a pause since: skipped.
    case.sla_paused_minutes = 30
    case.save()
    assert _write_dues([(case.pk, micro, micro, 0, 450, 1350)]) == 0
    # Targets changed (priority raised) since the read: skipped too.
    assert _write_dues([(case.pk, micro, micro, 30, 240, 1350)]) == 0
    assert _write_dues([(case.pk, micro, micro, 30, 450, 1350)]) == 1
    case.refresh_from_db()
    # Written to the microsecond.
    assert (case.first_response_due_at, case.resolution_due_at) == (new_due, new_due)
    case.is_open = False
    case.save()
    assert _write_dues([(case.pk, micro, None, 30, 450, 1350)]) == 0
