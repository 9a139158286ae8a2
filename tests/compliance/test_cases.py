"""Investigation cases: opening on one customer's alerts, the ``aml_case`` workflow, notes,
decisions with a narrative, four eyes on reporting, the flow graph and its SVG."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404

from bankcrm.audit.models import AuditEvent
from bankcrm.compliance.models import Alert, Case, CaseNote
from bankcrm.compliance.selectors_cases import case_get, case_list, case_notes
from bankcrm.compliance.services_cases import (
    REPORT_ACTION,
    case_decide,
    case_flow_graph,
    case_note_add,
    case_open,
    case_transition,
    flow_graph_svg,
)
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services_approvals import approval_approve
from bankcrm.core.workflow import WorkflowError
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.customers import PersonFactory

from .test_alerts import make_user, raise_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer() -> Any:
    return make_user("officer1", "compliance_officer")


@pytest.fixture
def checker() -> Any:
    return make_user("officer2", "compliance_officer")


@pytest.fixture
def account() -> Any:
    owner = PersonFactory(display_name="王小明")
    return AccountFactory(owner=owner, branch=owner.owning_unit)


@pytest.fixture
def evidence(account) -> list[Any]:
    day = dt.date(2024, 6, 3)
    return [
        TransactionFactory(
            account=account,
            booking_date=day,
            amount=Decimal("9000.00"),
            counterparty_name="Shell A Ltd",
            counterparty_account="HK0001",
            counterparty_country="HK",
        ),
        TransactionFactory(
            account=account,
            booking_date=day,
            amount=Decimal("8000.00"),
            counterparty_name="Shell A Ltd",
            counterparty_account="HK0001",
            counterparty_country="HK",
        ),
        TransactionFactory(
            account=account,
            booking_date=day + dt.timedelta(days=1),
            amount=Decimal("-16500.00"),
            direction="debit",
            kind="transfer_out",
            counterparty_name="Li Si",
            counterparty_account="6222000011112222",
            counterparty_country="CN",
        ),
    ]


@pytest.fixture
def alert(account, evidence) -> Alert:
    return raise_alert(account, score=85.0, transactions=[t.pk for t in evidence])


def test_open_case_moves_alerts_into_it(officer, alert):
    case = case_open(actor=officer, alerts=[alert])
    assert re.fullmatch(r"AML-\d{4}-\d{6}", case.reference)
    assert case.reference.endswith("-000001")
    assert case.state == "open"
    assert case.workflow.key == "aml_case"
    assert case.state_due_at is not None  # the open state has an SLA
    assert case.priority == 1  # an alert scored 80 or more
    assert case.party_id == alert.party_id
    alert.refresh_from_db()
    assert (alert.status, alert.case_id) == (Alert.Status.IN_CASE, case.pk)
    assert AuditEvent.objects.filter(action="case.open", object_pk=str(case.pk)).exists()
    second = case_open(
        actor=officer, alerts=[raise_alert(alert.account, scenario="test_cycle", score=10.0)]
    )
    assert second.reference.endswith("-000002")
    assert second.priority == 2


def test_case_groups_one_customer_only_and_open_alerts_only(officer, alert):
    other_account = AccountFactory()
    other = raise_alert(other_account)
    with pytest.raises(ValidationError) as info:
        case_open(actor=officer, alerts=[alert, other])
    assert "alerts" in info.value.message_dict
    assert Case.objects.count() == 0
    case_open(actor=officer, alerts=[alert])
    with pytest.raises(ValidationError):
        case_open(actor=officer, alerts=[alert])  # already in a case


def test_relationship_manager_may_not_open_or_read_cases(officer, alert):
    rm = make_user("rm1", "relationship_manager", unit=alert.party.owning_unit)
    with pytest.raises(PermissionDenied):
        case_open(actor=rm, alerts=[alert])
    case = case_open(actor=officer, alerts=[alert])
    with pytest.raises(PermissionDenied):
        case_list(actor=rm)
    with pytest.raises((PermissionDenied, Http404)):
        case_get(actor=rm, pk=case.pk)
    auditor = make_user("auditor1", "auditor")
    assert case_get(actor=auditor, reference=case.reference) == case


def test_notes_are_encrypted_and_listed_in_order(officer, alert):
    case = case_open(actor=officer, alerts=[alert])
    with pytest.raises(ValidationError):
        case_note_add(actor=officer, case=case, text="   ")
    case_note_add(actor=officer, case=case, text="Called the branch: 客户称为货款")
    case_note_add(actor=officer, case=case, text="Second note")
    notes = list(case_notes(actor=officer, case=case))
    assert [n.text for n in notes] == ["Called the branch: 客户称为货款", "Second note"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM compliance_casenote")
        stored = [row[0] for row in cursor.fetchall()]
    assert all("Second note" not in str(value) for value in stored)
    assert CaseNote.objects.count() == 2
    assert AuditEvent.objects.filter(action="case.note_add").count() == 2


def test_workflow_steps_and_final_steps_only_through_decision(officer, alert):
    case = case_open(actor=officer, alerts=[alert])
    case = case_transition(actor=officer, case=case, transition="start_investigation")
    assert case.state == "investigating"
    case = case_transition(actor=officer, case=case, transition="request_decision")
    assert case.state == "pending_decision"
    with pytest.raises(WorkflowError):
        case_transition(actor=officer, case=case, transition="report", reason="skip the form")
    case.refresh_from_db()
    assert case.state == "pending_decision"


def test_decision_needs_a_narrative(officer, alert):
    case = case_open(actor=officer, alerts=[alert])
    with pytest.raises(ValidationError) as info:
        case_decide(actor=officer, case=case, decision="no_suspicion", narrative=" ")
    assert "narrative" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        case_decide(actor=officer, case=case, decision="maybe", narrative="text")
    assert "decision" in info.value.message_dict
    case.refresh_from_db()
    assert (case.decision, case.state) == ("", "open")


def test_no_suspicion_closes_case_and_alerts(officer, alert):
    case = case_open(actor=officer, alerts=[alert])
    decided = case_decide(
        actor=officer,
        case=case,
        decision="no_suspicion",
        narrative="Payments are the customer's documented trade with a Hong Kong supplier.",
    )
    assert decided.state == "closed_no_suspicion"
    assert decided.decision == "no_suspicion"
    assert decided.decided_by == officer
    alert.refresh_from_db()
    assert alert.status == Alert.Status.CLOSED_FALSE_POSITIVE
    case.refresh_from_db()
    assert "Hong Kong supplier" in case.narrative
    with pytest.raises(ValidationError):
        case_decide(actor=officer, case=case, decision="reported", narrative="changed my mind")


def test_reporting_needs_a_second_officer(officer, checker, alert):
    case = case_open(actor=officer, alerts=[alert])
    approval = case_decide(
        actor=officer,
        case=case,
        decision="reported",
        narrative="Structured deposits from an offshore shell, passed on the next day.",
    )
    assert isinstance(approval, PendingApproval)
    assert approval.action == REPORT_ACTION
    assert "narrative" not in approval.payload  # the checker's queue shows no free text
    case.refresh_from_db()
    assert (case.state, case.decision) == ("pending_decision", "")
    with pytest.raises(PermissionDenied):
        approval_approve(actor=officer, approval_pk=approval.pk)
    case.refresh_from_db()
    assert case.decision == ""
    approved = approval_approve(actor=checker, approval_pk=approval.pk)
    assert approved.status == PendingApproval.Status.APPROVED, approved.failure_reason
    case.refresh_from_db()
    assert (case.state, case.decision) == ("reported", "reported")
    assert case.decided_by == officer
    alert.refresh_from_db()
    assert alert.status == Alert.Status.CLOSED_REPORTED


def test_flow_graph_and_svg(officer, alert, evidence):
    case = case_open(actor=officer, alerts=[alert])
    graph = case_flow_graph(case)
    kinds = sorted(node["kind"] for node in graph["nodes"])
    assert kinds == ["account", "counterparty", "counterparty"]
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    account_node = f"a:{alert.account_id}"
    inflow = edges[("c:HK0001", account_node)]
    assert inflow["count"] == 2
    assert inflow["sums"] == {"CNY": "17000.00"}
    outflow = edges[(account_node, "c:6222000011112222")]
    assert outflow["count"] == 1
    assert outflow["sums"] == {"CNY": "16500.00"}
    svg = flow_graph_svg(graph)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<circle") == 3
    assert svg.count("<line") == 2
    assert "Shell A Ltd" in svg
