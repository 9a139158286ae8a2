"""A case through its workflow: triage, start, waiting on the customer and the customer's
reply, the first response, resolution (note, event, survey after commit), closing,
reopening within the window (and not after), cancelling; notes, assignment, edits and
linking the customer (re-sealing the conversation)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.crypto.fields import Sealed
from bankcrm.core.workflow import WorkflowError, workflow_history
from bankcrm.events.models import OutboxEvent
from bankcrm.support.models import CaseMessage, ServiceCase
from bankcrm.support.services_cases import (
    case_assign,
    case_message_added,
    case_note_add,
    case_party_set,
    case_take,
    case_transition,
    case_update,
)

from .conftest_cases import case_setup, make_case, stored  # noqa: F401

pytestmark = pytest.mark.django_db


def inbound(case: ServiceCase, body: str = "Here is the document.") -> CaseMessage:
    message = CaseMessage.objects.create(
        case=case,
        direction=CaseMessage.Direction.INBOUND,
        channel="email",
        status=CaseMessage.Status.RECEIVED,
        from_address="wang@example.cn",
        body=body,
    )
    case_message_added(case=case, message=message)
    return message


def outbound(case: ServiceCase, author: Any, body: str = "We are looking into it.") -> CaseMessage:
    message = CaseMessage.objects.create(
        case=case,
        direction=CaseMessage.Direction.OUTBOUND,
        channel="phone",
        author=author,
        status=CaseMessage.Status.RECORDED,
        body=body,
    )
    case_message_added(case=case, message=message)
    return message


def test_full_life_of_a_case(
    service_bank: Any,
    make_case: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    agent = service_bank.agent_a
    case = make_case(actor=agent, party=service_bank.customer_a, queue="branch_a")
    assert case.state == "new"
    case_transition(actor=agent, case=case, transition="triage")
    case_transition(actor=agent, case=case, transition="start")
    assert case.state == "in_progress"

    outbound(case, agent)
    case.refresh_from_db()
    assert case.first_responded_at is not None

    case_transition(actor=agent, case=case, transition="wait_for_customer")
    assert (case.state, case.sla_paused_since is not None) == ("waiting_on_customer", True)
    inbound(case)
    case.refresh_from_db()
    assert (case.state, case.sla_paused_since) == ("in_progress", None)
    steps = [(s.transition, s.actor) for s in workflow_history(actor=agent, subject=case)]
    assert steps[-1] == ("customer_replied", "system:support.inbound")

    with pytest.raises(ValidationError) as caught:
        case_transition(actor=agent, case=case, transition="resolve")
    assert list(caught.value.message_dict) == ["reason"]
    assert ServiceCase.objects.get(pk=case.pk).state == "in_progress"

    sent: list[Any] = []
    monkeypatch.setattr(
        "bankcrm.support.services_survey.survey_send", lambda *, case: sent.append(case.pk)
    )
    with django_capture_on_commit_callbacks(execute=True):
        case_transition(
            actor=agent, case=case, transition="resolve", reason="新卡已寄出，客户已确认收到。"
        )
    case.refresh_from_db()
    assert (case.state, case.is_open) == ("resolved", False)
    assert case.resolution_note == "新卡已寄出，客户已确认收到。"
    assert case.resolved_at is not None
    assert sent == [case.pk]
    resolved = OutboxEvent.objects.get(type="case.resolved")
    assert resolved.payload["reference"] == case.reference
    assert resolved.payload["resolved_at"] == case.resolved_at.isoformat()
    audit = (
        AuditEvent.objects.filter(action="case.transition", object_pk=str(case.pk))
        .order_by("pk")
        .last()
    )
    assert audit.after["state"] == "resolved"
    assert audit.changed_secrets == ["resolution_note"]

    case_transition(actor=agent, case=case, transition="close")
    assert case.state == "closed" and case.closed_at is not None

    case_transition(actor=agent, case=case, transition="reopen")
    case.refresh_from_db()
    assert (case.state, case.is_open, case.reopened_count) == ("in_progress", True, 1)
    assert (case.resolved_at, case.closed_at) == (None, None)


def test_reopen_only_within_the_window(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    agent = service_bank.agent_cc
    case = make_case(actor=agent)
    case_transition(actor=agent, case=case, transition="start")
    case_transition(actor=agent, case=case, transition="resolve", reason="Answered by phone.")
    days = case.case_type.reopen_days
    ServiceCase.objects.filter(pk=case.pk).update(
        resolved_at=timezone.now() - dt.timedelta(days=days, minutes=1)
    )
    before = stored(ServiceCase, case.pk)
    with pytest.raises(WorkflowError) as caught:
        case_transition(actor=agent, case=case, transition="reopen")
    assert caught.value.messages == [
        f"This case was resolved more than {days} days ago; open a new case instead."
    ]
    assert stored(ServiceCase, case.pk) == before
    # A customer writing after the window leaves the case resolved.
    inbound(case)
    assert ServiceCase.objects.get(pk=case.pk).state == "resolved"

    ServiceCase.objects.filter(pk=case.pk).update(
        resolved_at=timezone.now() - dt.timedelta(days=days - 1)
    )
    inbound(case)
    case.refresh_from_db()
    assert (case.state, case.is_open, case.reopened_count) == ("in_progress", True, 1)


def test_cancel_and_illegal_steps(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    agent = service_bank.agent_cc
    case = make_case(actor=agent)
    with pytest.raises(WorkflowError) as caught:
        case_transition(actor=agent, case=case, transition="close")
    assert "Possible steps from here: “triage”, “start”, “cancel”." in caught.value.messages[0]
    case_transition(actor=agent, case=case, transition="cancel", reason="Duplicate call")
    case.refresh_from_db()
    assert (case.state, case.is_open, case.resolved_at) == ("closed", False, None)
    assert case.closed_at is not None


def test_refused_steps_change_nothing(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    case = make_case(actor=service_bank.agent_a, party=service_bank.customer_a)
    before = stored(ServiceCase, case.pk)
    audits = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        case_transition(actor=service_bank.auditor, case=case, transition="start")
    # Branch B's agent does not even see the case.
    with pytest.raises(ServiceCase.DoesNotExist):
        case_transition(actor=service_bank.agent_b, case=case, transition="start")
    with pytest.raises(ServiceCase.DoesNotExist):
        case_assign(actor=service_bank.agent_b, case=case, user=service_bank.agent_b)
    with pytest.raises(ServiceCase.DoesNotExist):
        case_note_add(actor=service_bank.agent_b, case=case, text="Not mine")
    with pytest.raises(PermissionDenied):
        case_note_add(actor=service_bank.auditor, case=case, text="Auditors write nothing")
    assert stored(ServiceCase, case.pk) == before
    assert AuditEvent.objects.count() == audits
    assert CaseMessage.objects.count() == 0


def test_notes_are_internal_and_encrypted(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    case = make_case(actor=service_bank.agent_cc)
    note = case_note_add(
        actor=service_bank.agent_cc, case=case, text="  客户情绪激动，需主管回电。 "
    )
    saved = CaseMessage.objects.get(pk=note.pk)
    assert (saved.direction, saved.status, saved.author) == (
        "note",
        "recorded",
        service_bank.agent_cc,
    )
    assert saved.body == "客户情绪激动，需主管回电。"
    raw = stored(CaseMessage, note.pk)["body"]
    assert "客户" not in raw
    audit = AuditEvent.objects.get(action="case.note_add")
    assert audit.changed_secrets == ["body"]
    assert audit.after == {"case": str(case.pk), "length": 13}
    case.refresh_from_db()
    assert case.first_responded_at is None  # a note is no response
    with pytest.raises(ValidationError) as caught:
        case_note_add(actor=service_bank.agent_cc, case=case, text="   ")
    assert caught.value.message_dict == {"text": ["Write the note."]}


def test_assign_take_and_unassign(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    bank = service_bank
    case = make_case(actor=bank.agent_cc, party=bank.customer_a)
    assert case.assigned_to == bank.agent_cc
    case_take(actor=bank.agent_cc2, case=case)
    assert ServiceCase.objects.get(pk=case.pk).assigned_to == bank.agent_cc2
    assert OutboxEvent.objects.filter(type="case.assigned").count() == 1
    # Branch B's agent can neither see nor work a contact-centre case of a branch A customer.
    with pytest.raises(ValidationError) as caught:
        case_assign(actor=bank.agent_cc, case=case, user=bank.agent_b)
    assert caught.value.message_dict == {
        "assigned_to": [f"{bank.agent_b} cannot work on cases of this queue and customer."]
    }
    case_assign(actor=bank.agent_cc, case=case, user=bank.agent_a)
    assert ServiceCase.objects.get(pk=case.pk).assigned_to == bank.agent_a
    case_assign(actor=bank.supervisor, case=case, user=None)
    assert ServiceCase.objects.get(pk=case.pk).assigned_to is None
    audit = AuditEvent.objects.filter(action="case.assign").order_by("pk").last()
    assert (audit.before, audit.after) == ({"assigned_to": bank.agent_a.pk}, {"assigned_to": None})


def test_update_reapplies_the_sla_on_priority(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    case = make_case(actor=service_bank.agent_cc, channel="web_form", queue="branch_a")
    due_before = case.resolution_due_at
    assert case.sla_policy is not None
    case_update(
        actor=service_bank.agent_cc,
        case=case,
        changes={"priority": 4, "subject": "  Card  blocked ", "description": "Urgent now"},
    )
    case.refresh_from_db()
    assert (case.priority, case.subject, case.description) == (4, "Card blocked", "Urgent now")
    assert case.resolution_due_at < due_before
    assert case.sla_policy.priority in (4, None)
    audit = AuditEvent.objects.get(action="case.update")
    assert audit.before["priority"] == 2 and audit.after["priority"] == 4
    assert audit.changed_secrets == ["description"]
    # A case without a customer follows its queue's unit.
    case_update(actor=service_bank.agent_cc, case=case, changes={"queue": "branch_b"})
    case.refresh_from_db()
    assert (case.queue, case.org_unit_id) == (service_bank.queue_b, service_bank.branch_b.pk)

    before = stored(ServiceCase, case.pk)
    with pytest.raises(ValidationError) as caught:
        case_update(
            actor=service_bank.agent_b,
            case=case,
            changes={"priority": 7, "queue": "nowhere", "state": "closed", "subject": ""},
        )
    assert sorted(caught.value.message_dict) == ["priority", "queue", "state", "subject"]
    assert stored(ServiceCase, case.pk) == before


def test_linking_the_customer_reseals_the_conversation(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    case = make_case(
        actor=SystemActor("support.mail"),
        channel="email",
        queue="contact_centre",
        contact_email="wang.xm@example.cn",
        description="我的卡丢了",
        first_message={"from_address": "wang.xm@example.cn", "body": "我的卡丢了，请帮我挂失。"},
    )
    assert case.org_unit_id == service_bank.head_office.pk

    def key_ids() -> set[Any]:
        tokens = list(CaseMessage.objects.filter(case=case).values_list("body", flat=True))
        tokens += list(ServiceCase.objects.filter(pk=case.pk).values_list("description", flat=True))
        return {token.data_key_id() for token in tokens if isinstance(token, Sealed)}

    table_keys = key_ids()
    assert len(table_keys) == 2  # each table's own key: the case's and the messages'
    case_party_set(actor=service_bank.agent_cc, case=case, party=service_bank.customer_a)
    case.refresh_from_db()
    assert case.party == service_bank.customer_a
    assert case.org_unit_id == service_bank.branch_a.pk
    assert case.segment == service_bank.customer_a.segment
    customer_keys = key_ids()
    assert len(customer_keys) == 1 and not customer_keys & table_keys
    assert case.description == "我的卡丢了"
    assert CaseMessage.objects.get(case=case).body == "我的卡丢了，请帮我挂失。"
    assert ServiceCase.objects.filter(contact_email_index=case.contact_email_index).count() == 1
    assert OutboxEvent.objects.filter(type="case.customer_linked").count() == 1
    # The customer's branch now sees it; the other branch still does not get to change it.
    with pytest.raises(ValidationError) as caught:
        case_party_set(actor=service_bank.agent_cc, case=case, party="not-a-key")
    assert list(caught.value.message_dict) == ["party"]
