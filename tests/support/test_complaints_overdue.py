"""Overdue complaints: escalated exactly once (the daily job may run twice) to the branch
managers of the case's org unit (the nearest unit upwards having an active one) and to
every active compliance officer of the nearest unit upwards having one, as urgent staff
tasks, with the event ``complaint.overdue`` and an audit record."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Task
from bankcrm.events.models import OutboxEvent
from bankcrm.support.models import Complaint, ServiceCase
from bankcrm.support.services_complaints import (
    complaint_escalation_recipients,
    complaints_overdue_escalate,
)
from bankcrm.support.tasks_complaints import complaints_overdue
from tests.factories import OrgUnitFactory

from .conftest import shanghai
from .conftest_complaints import open_complaint, staff

pytestmark = pytest.mark.django_db


def _received(days_ago: int) -> dt.datetime:
    day = bank_today() - dt.timedelta(days=days_ago)
    return shanghai(day.year, day.month, day.day, 10, 0)


def _tasks(complaint: Complaint) -> list[tuple[str, str, str, dt.date | None]]:
    rows = Task.objects.filter(title__contains=complaint.case.reference).select_related("owner")
    return sorted((t.owner.username, t.priority, t.status, t.due_on) for t in rows)


def test_overdue_complaints_are_escalated_exactly_once(service_bank):
    sb = service_bank
    today = bank_today()
    late_a = open_complaint(sb, received_at=_received(20))  # due 5 days ago
    late_b = open_complaint(sb, party="customer_b", received_at=_received(16))  # due yesterday
    due_today = open_complaint(sb, received_at=_received(15))
    answered = open_complaint(sb, received_at=_received(30))
    Complaint.objects.filter(pk=answered.pk).update(answered_on=today - dt.timedelta(days=20))
    closed = open_complaint(sb, received_at=_received(30))
    ServiceCase.objects.filter(pk=closed.case_id).update(is_open=False)

    assert complaints_overdue_escalate(today=today) == 2
    assert complaints_overdue_escalate(today=today) == 0  # the second run finds nothing

    for complaint in (late_a, late_b, due_today, answered, closed):
        complaint.refresh_from_db()
    assert late_a.escalated_at is not None and late_b.escalated_at is not None
    assert (due_today.escalated_at, answered.escalated_at, closed.escalated_at) == (None,) * 3
    # Branch A has two branch managers; branch B has none: head office's manager is told.
    assert _tasks(late_a) == [
        ("compliance", "urgent", "open", today),
        ("manager_a", "urgent", "open", today),
        ("manager_a2", "urgent", "open", today),
    ]
    assert _tasks(late_b) == [
        ("compliance", "urgent", "open", today),
        ("supervisor", "urgent", "open", today),
    ]
    task = Task.objects.get(owner=sb.manager_a)
    deadline = today - dt.timedelta(days=5)
    assert task.title == (
        f"Overdue complaint {late_a.case.reference}: the answer was due on {deadline.isoformat()}"
    )
    assert task.party == sb.customer_a
    assert task.description == (
        f"Complaint {late_a.case.reference} (Credit cards, Credit card), received on "
        f"{(today - dt.timedelta(days=20)).isoformat()}, has not been answered; the statutory "
        f"deadline was {deadline.isoformat()} (5 days ago). See that the customer is answered "
        "and record the answer date."
    )
    events = OutboxEvent.objects.filter(type="complaint.overdue").order_by("occurred_at")
    assert [e.object_pk for e in events] == [str(late_a.pk), str(late_b.pk)]
    assert events[0].payload == {
        "complaint": late_a.pk,
        "case": str(late_a.case_id),
        "reference": late_a.case.reference,
        "deadline": deadline.isoformat(),
        "received_on": (today - dt.timedelta(days=20)).isoformat(),
        "days_late": 5,
        "org_unit": sb.branch_a.pk,
        "escalated_to": [sb.manager_a.pk, sb.manager_a2.pk, sb.compliance.pk],
    }
    audit = AuditEvent.objects.get(action="complaint.overdue_escalate", object_pk=str(late_a.pk))
    assert audit.actor == "system:support.complaints_overdue"
    assert audit.after["escalated_to"] == [sb.manager_a.pk, sb.manager_a2.pk, sb.compliance.pk]
    assert AuditEvent.objects.filter(action="complaint.overdue_escalate").count() == 2


def test_the_deadline_day_itself_is_still_in_time(service_bank):
    sb = service_bank
    complaint = open_complaint(sb, received_at=shanghai(2026, 9, 28, 10, 0))
    assert complaint.deadline == dt.date(2026, 10, 13)
    assert complaints_overdue_escalate(today=dt.date(2026, 10, 13)) == 0
    assert complaints_overdue_escalate(today=dt.date(2026, 10, 14)) == 1
    assert complaints_overdue_escalate(today=dt.date(2026, 10, 15)) == 0


def test_recipients_come_from_the_nearest_unit_upwards_having_them(service_bank):
    sb = service_bank
    sub_branch = OrgUnitFactory(code="BRA1", name="Sub-branch A1", parent=sb.branch_a)
    complaint = open_complaint(sb, received_at=_received(20))
    ServiceCase.objects.filter(pk=complaint.case_id).update(org_unit=sub_branch)
    case = ServiceCase.objects.select_related("org_unit").get(pk=complaint.case_id)
    assert [u.username for u in complaint_escalation_recipients(case)] == [
        "manager_a", "manager_a2", "compliance",
    ]  # fmt: skip
    # An inactive manager is skipped; every active compliance officer of that unit is told;
    # a compliance officer of the sub-branch itself is nearer than head office's.
    sb.manager_a2.is_active = False
    sb.manager_a2.save(update_fields=["is_active"])
    staff("compliance2", "compliance_officer", sb.head_office)
    assert [u.username for u in complaint_escalation_recipients(case)] == [
        "manager_a", "compliance", "compliance2",
    ]  # fmt: skip
    staff("compliance_a1", "compliance_officer", sub_branch)
    assert [u.username for u in complaint_escalation_recipients(case)] == [
        "manager_a", "compliance_a1",
    ]  # fmt: skip


def test_an_already_escalated_complaint_is_left_alone(service_bank):
    sb = service_bank
    complaint = open_complaint(sb, received_at=_received(20))
    earlier = timezone.now() - dt.timedelta(hours=3)
    Complaint.objects.filter(pk=complaint.pk).update(escalated_at=earlier)
    assert complaints_overdue_escalate() == 0
    complaint.refresh_from_db()
    assert complaint.escalated_at == earlier
    assert not Task.objects.exists()
    assert not OutboxEvent.objects.filter(type="complaint.overdue").exists()


def test_the_celery_task_runs_the_escalation_once(service_bank):
    sb = service_bank
    open_complaint(sb, received_at=shanghai(2026, 9, 28, 10, 0))
    assert complaints_overdue.name == "support.complaints_overdue"
    assert complaints_overdue.apply(args=["2026-10-20"]).get() == 1
    assert complaints_overdue.apply(args=["2026-10-21"]).get() == 0
    assert Task.objects.count() == 3
    audit = AuditEvent.objects.get(action="complaint.overdue_escalate")
    assert audit.channel == "job"
