"""The case-setup seed (support migration 0002): case types, their workflows, SLA policies
and the administrator's configuration permissions; reversible."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import PermissionDenied

from bankcrm.access.models import Role
from bankcrm.core.actor import SystemActor
from bankcrm.core.models import WorkflowDefinition, WorkflowTransition
from bankcrm.core.workflow import (
    WorkflowError,
    register_workflow_guard,
    unregister_workflow_guard,
    workflow_definition_create_from_dict,
    workflow_definition_to_dict,
    workflow_guard_names,
    workflow_start,
    workflow_transition,
)
from bankcrm.support.models import CaseType, SlaPolicy
from bankcrm.support.services_sla import sla_policy_for
from tests.support.conftest import shanghai
from tests.support.conftest_sla import make_case

pytestmark = pytest.mark.django_db

seed = importlib.import_module("bankcrm.support.migrations.0002_case_setup_seed")

CODES = ["inquiry", "service_request", "complaint", "incident", "fraud_report"]


def test_case_types():
    rows = list(
        CaseType.objects.order_by("sort_order").values_list(
            "code",
            "name",
            "name_zh",
            "workflow_key",
            "required_fields",
            "default_priority",
            "reopen_days",
            "sla_pause_states",
            "is_complaint",
            "is_active",
        )
    )
    wait = ["waiting_on_customer"]
    assert rows == [
        ("inquiry", "Inquiry", "咨询", "support_inquiry", [], 2, 7, wait, False, True),
        (
            "service_request",
            "Service request",
            "业务办理",
            "support_service_request",
            ["party"],
            2,
            7,
            wait,
            False,
            True,
        ),
        (
            "complaint",
            "Complaint",
            "投诉",
            "support_complaint",
            ["party|contact_email", "description"],
            3,
            30,
            wait,
            True,
            True,
        ),
        (
            "incident",
            "Incident",
            "故障报告",
            "support_incident",
            ["description"],
            3,
            7,
            wait,
            False,
            True,
        ),
        (
            "fraud_report",
            "Fraud report",
            "欺诈举报",
            "support_fraud_report",
            ["party", "description"],
            4,
            30,
            wait,
            False,
            True,
        ),
    ]


def test_workflows():
    expected_steps = {
        ("triage", "new", "triaged"),
        ("start", "new", "in_progress"),
        ("start", "triaged", "in_progress"),
        ("wait_for_customer", "in_progress", "waiting_on_customer"),
        ("customer_replied", "waiting_on_customer", "in_progress"),
        ("resolve", "triaged", "resolved"),
        ("resolve", "in_progress", "resolved"),
        ("resolve", "waiting_on_customer", "resolved"),
        ("close", "resolved", "closed"),
        ("reopen", "resolved", "in_progress"),
        ("reopen", "closed", "in_progress"),
        ("cancel", "new", "closed"),
        ("cancel", "triaged", "closed"),
    }
    for code in CODES:
        definition = WorkflowDefinition.objects.get(key=f"support_{code}")
        assert (definition.version, definition.is_active, definition.initial_state) == (
            1,
            True,
            "new",
        )
        assert definition.calendar.code == "CN"
        assert list(definition.states.order_by("pk").values_list("code", "is_terminal")) == [
            ("new", False),
            ("triaged", False),
            ("in_progress", False),
            ("waiting_on_customer", False),
            ("resolved", False),
            ("closed", False),
        ]
        steps = WorkflowTransition.objects.filter(definition=definition).select_related(
            "source", "target"
        )
        assert {(s.code, s.source.code, s.target.code) for s in steps} == expected_steps
        by_code = {s.code: s for s in steps}
        assert by_code["reopen"].guards == ["support.within_reopen_window"]
        assert {c for c, s in by_code.items() if s.requires_reason} == {"resolve", "cancel"}
        assert {c for c, s in by_code.items() if "system" in s.allowed_roles} == {
            "customer_replied",
            "close",
            "reopen",
        }
        assert "relationship_manager" in by_code["resolve"].allowed_roles
        assert "relationship_manager" not in by_code["reopen"].allowed_roles


def test_exported_workflow_loads_back_without_a_problem():
    # An administrator exports a workflow, edits it and loads it back: the seed must pass
    # the engine's own checks (no step out of a final state, known guards).
    registered = "support.within_reopen_window" in workflow_guard_names()
    if not registered:
        register_workflow_guard("support.within_reopen_window")(lambda case, actor: None)
    try:
        for code in CODES:
            spec = workflow_definition_to_dict(
                WorkflowDefinition.objects.get(key=f"support_{code}")
            )
            assert spec["calendar"] == "CN"
            copy = workflow_definition_create_from_dict(
                actor=SystemActor("admin"), spec={**spec, "key": f"copy_{code}"}
            )
            assert copy.states.count() == 6
            assert copy.transitions.count() == 13
    finally:
        if not registered:
            unregister_workflow_guard("support.within_reopen_window")


def test_a_case_walks_its_workflow(service_bank):
    case = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 16, 9, 0))
    workflow_start(actor=service_bank.agent_cc, subject=case, definition_key="support_inquiry")
    agent, system = service_bank.agent_cc, SystemActor("support.mail")
    for actor, step in [
        (agent, "triage"),
        (agent, "start"),
        (agent, "wait_for_customer"),
        (system, "customer_replied"),
    ]:
        workflow_transition(actor=actor, subject=case, transition=step)
    # The system may not resolve; the agent must say how.
    with pytest.raises(PermissionDenied):
        workflow_transition(actor=system, subject=case, transition="resolve", reason="Done")
    workflow_transition(actor=agent, subject=case, transition="resolve", reason="Sent the copy")
    workflow_transition(actor=system, subject=case, transition="close")
    assert case.state == "closed"
    with pytest.raises(WorkflowError):
        workflow_transition(actor=agent, subject=case, transition="start")


def test_sla_policies():
    policies = SlaPolicy.objects.filter(is_active=True)
    assert policies.count() == 40  # 5 types × 4 priorities × (every segment, private banking)
    targets = {
        (p.case_type.code, p.priority, p.segment): (p.first_response_minutes, p.resolution_minutes)
        for p in policies.select_related("case_type")
    }
    for code in CODES:
        for priority in (1, 2, 3, 4):
            every = targets[(code, priority, "")]
            private = targets[(code, priority, "private")]
            # Private banking is answered and resolved sooner; resolution after response.
            assert private[0] < every[0] and private[1] < every[1]
            assert every[0] <= every[1] and private[0] <= private[1]
        # A more urgent case never waits longer.
        for lower, higher in ((1, 2), (2, 3), (3, 4)):
            assert targets[(code, higher, "")][0] <= targets[(code, lower, "")][0]
            assert targets[(code, higher, "")][1] <= targets[(code, lower, "")][1]
    assert targets[("complaint", 4, "")] == (120, 960)  # 2 h / 16 business hours
    assert targets[("fraud_report", 4, "")] == (15, 240)
    assert set(policies.values_list("warning_percent", flat=True)) == {80}
    assert not policies.filter(calendar__isnull=False).exists()
    complaint = CaseType.objects.get(code="complaint")
    assert sla_policy_for(case_type=complaint, priority=3, segment="private").name == (
        "Complaint · high · private banking"
    )
    assert sla_policy_for(case_type=complaint, priority=3, segment="sme").name == "Complaint · high"


def test_administrator_configures_but_does_not_see_cases():
    administrator = Role.objects.get(code="administrator")
    assert set(seed.ADMIN_SUPPORT) <= set(administrator.permissions)
    assert "support.view_servicecase" not in administrator.permissions


def test_the_seed_is_reversible_and_idempotent():
    administrator_before = list(Role.objects.get(code="administrator").permissions)
    seed.unseed(django_apps, None)
    assert CaseType.objects.filter(code__in=CODES).count() == 0
    assert SlaPolicy.objects.count() == 0
    assert not WorkflowDefinition.objects.filter(key__startswith="support_").exists()
    assert not set(seed.ADMIN_SUPPORT) & set(Role.objects.get(code="administrator").permissions)

    seed.seed(django_apps, None)
    seed.seed(django_apps, None)  # twice: nothing doubled
    assert CaseType.objects.count() == 5
    assert SlaPolicy.objects.count() == 40
    assert WorkflowDefinition.objects.filter(key__startswith="support_").count() == 5
    assert WorkflowTransition.objects.filter(definition__key="support_complaint").count() == 13
    assert list(Role.objects.get(code="administrator").permissions) == administrator_before


def test_an_edited_setup_is_not_overwritten():
    CaseType.objects.filter(code="inquiry").update(reopen_days=3)
    policy = SlaPolicy.objects.get(case_type__code="inquiry", priority=2, segment="")
    policy.resolution_minutes = 2000
    policy.save()
    seed.seed(django_apps, None)
    assert CaseType.objects.get(code="inquiry").reopen_days == 3
    assert SlaPolicy.objects.get(pk=policy.pk).resolution_minutes == 2000
    assert SlaPolicy.objects.count() == 40
