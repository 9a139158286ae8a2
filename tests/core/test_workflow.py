"""Workflows as data: definitions, legal and illegal steps, roles, conditions, SLA."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from bankcrm.audit.models import AuditEvent
from bankcrm.core import workflow as engine
from bankcrm.core.actor import SystemActor
from bankcrm.core.models import WorkflowDefinition, WorkflowTransitionLog
from bankcrm.core.workflow import (
    WorkflowError,
    register_workflow_guard,
    workflow_available_transitions,
    workflow_definition_create_from_dict,
    workflow_history,
    workflow_start,
    workflow_state_get,
    workflow_transition,
)
from bankcrm.events.models import OutboxEvent
from tests.factories import RoleFactory, UserFactory
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db

SPEC = {
    "key": "ticket",
    "name": "Ticket",
    "initial_state": "new",
    "states": [
        {"code": "new", "name": "New", "sla_hours": 4},
        {"code": "review", "name": "Under review", "sla_hours": 24},
        {"code": "approved", "name": "Approved", "is_terminal": True},
        {"code": "rejected", "name": "Rejected", "is_terminal": True},
    ],
    "transitions": [
        {
            "code": "submit",
            "name": "Submit",
            "source": "new",
            "target": "review",
            "guards": ["has_documents"],
        },
        {
            "code": "approve",
            "name": "Approve",
            "source": "review",
            "target": "approved",
            "allowed_roles": ["ticket_approver"],
        },
        {
            "code": "reject",
            "name": "Reject",
            "source": "review",
            "target": "rejected",
            "allowed_roles": ["ticket_approver"],
            "requires_reason": True,
        },
        {
            "code": "cancel",
            "name": "Cancel",
            "source": ["new", "review"],
            "target": "rejected",
            "allowed_roles": ["system"],
        },
    ],
}


@pytest.fixture(autouse=True)
def guards(monkeypatch):
    monkeypatch.setattr(engine, "_GUARDS", {})
    register_workflow_guard("has_documents")(
        lambda subject, actor: None if subject.has_documents else "Attach the documents first."
    )


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


@pytest.fixture
def approver():
    return UserFactory(
        username="approver", roles=[RoleFactory(code="ticket_approver", permissions=[])]
    )


@pytest.fixture
def outsider():
    return UserFactory(username="outsider", roles=[RoleFactory(code="nobody", permissions=[])])


@pytest.fixture
def definition(designer):
    return workflow_definition_create_from_dict(actor=designer, spec=copy.deepcopy(SPEC))


@pytest.fixture
def ticket(definition, clerk):
    item = Ticket.objects.create(title="Card limit", has_documents=True)
    return workflow_start(actor=clerk, subject=item, definition_key="ticket")


def _reload(ticket):
    return Ticket.objects.get(pk=ticket.pk)


def test_legal_path_records_log_audit_events_and_sla(ticket, clerk, approver, definition):
    assert (ticket.workflow, ticket.state) == (definition, "new")
    assert ticket.state_due_at - ticket.state_entered_at == dt.timedelta(hours=4)

    workflow_transition(actor=clerk, subject=ticket, transition="submit")
    stored = _reload(ticket)
    assert stored.state == "review"
    assert stored.state_due_at - stored.state_entered_at == dt.timedelta(hours=24)

    workflow_transition(actor=approver, subject=ticket, transition="approve")
    stored = _reload(ticket)
    assert (stored.state, stored.state_due_at) == ("approved", None)
    assert workflow_state_get(subject=stored).is_terminal is True

    log = list(
        workflow_history(actor=clerk, subject=ticket).values_list(
            "from_state", "to_state", "transition", "actor"
        )
    )
    assert log == [
        ("", "new", "start", "clerk"),
        ("new", "review", "submit", "clerk"),
        ("review", "approved", "approve", "approver"),
    ]
    audits = list(AuditEvent.objects.order_by("pk").values_list("action", "object_type", "after"))
    assert [a[0] for a in audits] == [
        "workflow.define",
        "workflow.start",
        "workflow.transition",
        "workflow.transition",
    ]
    assert audits[-1][1:] == ("testapp.ticket", {"state": "approved", "transition": "approve"})
    events = list(OutboxEvent.objects.order_by("occurred_at").values_list("type", "payload"))
    assert [e[0] for e in events] == [
        "ticket.started",
        "ticket.transitioned",
        "ticket.transitioned",
    ]
    assert events[-1][1] == {
        "workflow": "ticket",
        "version": 1,
        "transition": "approve",
        "from": "review",
        "to": "approved",
        "is_terminal": True,
    }


def test_illegal_transition_names_state_step_and_allowed_ones(ticket, approver):
    with pytest.raises(WorkflowError) as caught:
        workflow_transition(actor=approver, subject=ticket, transition="approve")
    assert caught.value.messages == [
        "The step “approve” is not possible from the state “new”. "
        "Possible steps from here: “submit”, “cancel”."
    ]
    assert caught.value.code == "workflow_illegal_transition"
    assert _reload(ticket).state == "new"
    assert WorkflowTransitionLog.objects.count() == 1  # only the start


def test_no_step_leaves_a_final_state(ticket, clerk, approver):
    workflow_transition(actor=clerk, subject=ticket, transition="submit")
    workflow_transition(actor=approver, subject=ticket, transition="approve")
    with pytest.raises(WorkflowError) as caught:
        workflow_transition(actor=approver, subject=ticket, transition="reject", reason="x")
    assert caught.value.messages == [
        "The step “reject” is not possible from the state “approved”. "
        "Possible steps from here: none."
    ]


def test_role_restriction(ticket, clerk, outsider):
    workflow_transition(actor=clerk, subject=ticket, transition="submit")
    with pytest.raises(PermissionDenied) as caught:
        workflow_transition(actor=clerk, subject=ticket, transition="approve")
    assert str(caught.value) == (
        "Your roles may not take the step “Approve”; it needs one of: ticket_approver."
    )
    assert _reload(ticket).state == "review"


def test_open_step_needs_the_change_permission(definition, outsider, clerk):
    item = workflow_start(
        actor=clerk,
        subject=Ticket.objects.create(title="t", has_documents=True),
        definition_key="ticket",
    )
    with pytest.raises(PermissionDenied) as caught:
        workflow_transition(actor=outsider, subject=item, transition="submit")
    assert str(caught.value) == (
        "You may not change this ticket, so you may not take the step “Submit”."
    )
    assert _reload(item).state == "new"


def test_system_only_step(ticket, clerk):
    with pytest.raises(PermissionDenied):
        workflow_transition(actor=clerk, subject=ticket, transition="cancel")
    job = SystemActor("ticket-expiry")
    with pytest.raises(PermissionDenied, match="Background jobs may not take the step “Submit”"):
        workflow_transition(actor=job, subject=ticket, transition="submit")
    workflow_transition(actor=job, subject=ticket, transition="cancel")
    assert _reload(ticket).state == "rejected"
    assert WorkflowTransitionLog.objects.last().actor == "system:ticket-expiry"


def test_guard_failure_gives_the_guard_message(definition, clerk):
    item = workflow_start(
        actor=clerk, subject=Ticket.objects.create(title="t"), definition_key="ticket"
    )
    with pytest.raises(WorkflowError) as caught:
        workflow_transition(actor=clerk, subject=item, transition="submit")
    assert caught.value.messages == ["Attach the documents first."]
    assert _reload(item).state == "new"
    available = workflow_available_transitions(actor=clerk, subject=item)
    assert [(a.code, a.blocked) for a in available] == [("submit", "Attach the documents first.")]
    item.has_documents = True
    item.save()
    assert [
        (a.code, a.blocked) for a in workflow_available_transitions(actor=clerk, subject=item)
    ] == [("submit", None)]


def test_required_reason(ticket, clerk, approver):
    workflow_transition(actor=clerk, subject=ticket, transition="submit")
    with pytest.raises(ValidationError) as caught:
        workflow_transition(actor=approver, subject=ticket, transition="reject", reason="  ")
    assert caught.value.message_dict == {"reason": ["Say why you take the step “Reject”."]}
    assert _reload(ticket).state == "review"
    workflow_transition(actor=approver, subject=ticket, transition="reject", reason="No income")
    assert WorkflowTransitionLog.objects.last().reason == "No income"
    assert AuditEvent.objects.order_by("pk").last().reason == "No income"


def test_start_twice_and_unknown_workflow(ticket, clerk):
    with pytest.raises(WorkflowError, match="already in the workflow"):
        workflow_start(actor=clerk, subject=ticket, definition_key="ticket")
    with pytest.raises(WorkflowError, match="There is no active workflow “loan”"):
        workflow_start(actor=clerk, subject=Ticket.objects.create(title="x"), definition_key="loan")


def test_transition_before_start(clerk):
    with pytest.raises(WorkflowError, match="has not been put into a workflow"):
        workflow_transition(
            actor=clerk, subject=Ticket.objects.create(title="x"), transition="submit"
        )


def test_definition_validation_names_each_problem(designer):
    spec = {
        "key": "bad",
        "name": "Bad",
        "initial_state": "start",
        "states": [
            {"code": "open", "name": "Open", "sla_hours": 0},
            {"code": "open", "name": "Open again"},
            {"code": "done", "name": "Done", "is_terminal": True},
        ],
        "transitions": [
            {"code": "go", "source": "open", "target": "nowhere"},
            {"code": "go", "source": "open", "target": "done"},
            {"code": "reopen", "source": "done", "target": "open"},
            {"code": "check", "source": "ghost", "target": "done", "guards": ["unknown_check"]},
        ],
    }
    definitions_before = WorkflowDefinition.objects.count()
    with pytest.raises(ValidationError) as caught:
        workflow_definition_create_from_dict(actor=designer, spec=spec)
    assert caught.value.messages == [
        "State “open”: SLA hours must be a whole number above zero.",
        "State code “open” is used twice.",
        "The initial state “start” is not a state.",
        "Transition “go”: target state “nowhere” does not exist.",
        "Transition code “go” is used twice from state “open”.",
        "Transition “reopen” leaves the final state “done”.",
        "Transition “check”: source state “ghost” does not exist.",
        "Transition “check”: unknown condition “unknown_check”.",
    ]
    assert WorkflowDefinition.objects.count() == definitions_before
    assert AuditEvent.objects.count() == 0


def test_defining_needs_permission(outsider):
    definitions_before = WorkflowDefinition.objects.count()
    with pytest.raises(PermissionDenied):
        workflow_definition_create_from_dict(actor=outsider, spec=copy.deepcopy(SPEC))
    assert WorkflowDefinition.objects.count() == definitions_before


def test_new_state_added_as_data_only(ticket, designer, clerk, approver, definition):
    spec = copy.deepcopy(SPEC)
    spec["states"].insert(2, {"code": "escalated", "name": "Escalated", "sla_hours": 2})
    spec["transitions"] += [
        {
            "code": "escalate",
            "name": "Escalate",
            "source": "review",
            "target": "escalated",
            "allowed_roles": ["ticket_approver"],
        },
        {
            "code": "approve",
            "name": "Approve",
            "source": "escalated",
            "target": "approved",
            "allowed_roles": ["ticket_approver"],
        },
    ]
    second = workflow_definition_create_from_dict(actor=designer, spec=spec)
    assert second.version == 2
    definition.refresh_from_db()
    assert (definition.is_active, second.is_active) == (False, True)

    # The ticket started on version 1 keeps it: the new step does not exist for it.
    workflow_transition(actor=clerk, subject=ticket, transition="submit")
    with pytest.raises(WorkflowError, match="Possible steps from here: “approve”, “reject”, "):
        workflow_transition(actor=approver, subject=ticket, transition="escalate")

    fresh = workflow_start(
        actor=clerk,
        subject=Ticket.objects.create(title="n", has_documents=True),
        definition_key="ticket",
    )
    assert fresh.workflow == second
    workflow_transition(actor=clerk, subject=fresh, transition="submit")
    workflow_transition(actor=approver, subject=fresh, transition="escalate")
    stored = _reload(fresh)
    assert stored.state == "escalated"
    assert stored.state_due_at - stored.state_entered_at == dt.timedelta(hours=2)
    workflow_transition(actor=approver, subject=fresh, transition="approve")
    assert _reload(fresh).state == "approved"


def test_workflow_command_loads_and_shows(tmp_path, capsys):
    path = tmp_path / "ticket.json"
    path.write_text(json.dumps(SPEC), encoding="utf-8")
    call_command("workflow", "load", str(path))
    assert capsys.readouterr().out == "Loaded ticket version 1.\n"
    call_command("workflow", "show", "ticket")
    out = capsys.readouterr().out
    assert out.splitlines()[:3] == [
        "Ticket (ticket v1)",
        "  new [initial] SLA 4 h",
        "    submit -> review (anyone who may change the item)",
    ]
    path.write_text(json.dumps({**SPEC, "initial_state": "nowhere"}), encoding="utf-8")
    with pytest.raises(CommandError, match="The initial state “nowhere” is not a state"):
        call_command("workflow", "load", str(path))


def test_export_reads_back_as_the_same_definition(definition, designer):
    exported = engine.workflow_definition_to_dict(definition)
    assert exported["key"] == "ticket"
    assert exported["initial_state"] == "new"
    assert [s["code"] for s in exported["states"]] == ["new", "review", "approved", "rejected"]
    assert exported["states"][0] == {"code": "new", "name": "New", "sla_hours": 4}
    assert exported["states"][2] == {"code": "approved", "name": "Approved", "is_terminal": True}
    # "cancel" leaves two states: it comes out once, with both sources.
    cancel = [t for t in exported["transitions"] if t["code"] == "cancel"]
    assert cancel == [
        {
            "code": "cancel",
            "name": "Cancel",
            "source": ["new", "review"],
            "target": "rejected",
            "allowed_roles": ["system"],
            "guards": [],
            "requires_reason": False,
        }
    ]
    again = workflow_definition_create_from_dict(actor=designer, spec=copy.deepcopy(exported))
    assert again.version == 2
    assert engine.workflow_definition_to_dict(again) == exported


def test_export_command_prints_json_that_loads_back(definition, tmp_path, capsys):
    call_command("workflow", "export", "ticket")
    spec = json.loads(capsys.readouterr().out)
    assert spec == engine.workflow_definition_to_dict(definition)
    path = tmp_path / "ticket.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    call_command("workflow", "load", str(path))
    assert WorkflowDefinition.objects.get(key="ticket", is_active=True).version == 2
