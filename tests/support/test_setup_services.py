"""Administration of queues, their agents, case types and SLA policies: who may, the
checks (each bad field named, nothing written) and the audit trail."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.support import selectors_setup
from bankcrm.support.models import CaseType, Queue, QueueMember, SlaPolicy
from bankcrm.support.services_setup import (
    agent_availability_set,
    case_type_update,
    queue_create,
    queue_member_remove,
    queue_member_set,
    queue_update,
    sla_policy_create,
    sla_policy_deactivate,
    sla_policy_update,
)
from bankcrm.support.services_sla import sla_policy_for
from tests.factories import UserFactory


def _codes(exc: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in exc.error_dict.items()}


def _audits(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


# --- Queues ------------------------------------------------------------------------------


def test_a_branch_manager_opens_a_queue_in_their_branch(service_bank):
    queue = queue_create(
        actor=service_bank.manager_a,
        code="branch_a_cards",
        name="Branch A cards desk",
        name_zh="A支行卡业务",
        org_unit=service_bank.branch_a,
        supervisor=service_bank.manager_a2,
        calendar="CN",
        assignment=Queue.Assignment.SKILL,
        rm_segments=["private", "affluent"],
        email_address=" Cards.A@Bank.example ",
    )
    queue.refresh_from_db()
    assert (queue.supervisor, queue.calendar.code, queue.email_address, queue.rm_segments) == (
        service_bank.manager_a2,
        "CN",
        "cards.a@bank.example",
        ["private", "affluent"],
    )
    (audit,) = _audits("queue.create")
    assert (audit.actor, audit.after["code"], audit.after["org_unit"]) == (
        "manager_a",
        "branch_a_cards",
        service_bank.branch_a.pk,
    )


def test_who_may_open_queues(service_bank):
    arguments = {"code": "desk_b2", "name": "Desk", "org_unit": service_bank.branch_b}
    # Agents may change cases, not rearrange teams.
    with pytest.raises(PermissionDenied):
        queue_create(actor=service_bank.agent_b, **arguments)
    # A branch manager of A reaches no further than branch A.
    with pytest.raises(PermissionDenied, match="outside your reach"):
        queue_create(actor=service_bank.manager_a, **arguments)
    assert not Queue.objects.filter(code="desk_b2").exists()
    # The head-office branch manager and the administrator reach branch B; so does a job.
    queue_create(actor=service_bank.supervisor, **arguments)
    queue_create(actor=service_bank.admin, **{**arguments, "code": "desk_b3"})
    queue_create(actor=SystemActor("demo"), **{**arguments, "code": "desk_b4"})
    assert Queue.objects.filter(code__startswith="desk_b").count() == 3


def test_every_bad_queue_field_is_named_and_nothing_is_written(service_bank):
    before = Queue.objects.count()
    with pytest.raises(ValidationError) as caught:
        queue_create(
            actor=service_bank.admin,
            code="Contact Centre!",
            name=" ",
            org_unit=service_bank.branch_a,
            supervisor=service_bank.agent_b,  # an agent, and of branch B
            calendar="XX",
            assignment="lottery",
            rm_segments=["vip"],
            email_address="service@bank.example",  # the contact centre's address
        )
    assert _codes(caught.value) == {
        "calendar": ["unknown_calendar"],
        "code": ["invalid"],
        "name": ["blank"],
        "assignment": ["invalid_choice"],
        "email_address": ["duplicate"],
        "rm_segments": ["invalid_choice"],
        "supervisor": ["not_permitted", "outside_unit"],
    }
    with pytest.raises(ValidationError) as caught:
        queue_create(
            actor=service_bank.admin,
            code="contact_centre",
            name="Second contact centre",
            org_unit=service_bank.head_office,
            email_address="not an address",
        )
    assert _codes(caught.value) == {"code": ["duplicate"], "email_address": ["invalid"]}
    assert Queue.objects.count() == before
    assert _audits("queue.create") == []


def test_queue_update(service_bank):
    queue = service_bank.queue_a
    queue_update(
        actor=service_bank.manager_a,
        queue=queue,
        changes={"name": "Branch A service desk", "assignment": "manual", "calendar": None},
    )
    queue.refresh_from_db()
    assert (queue.name, queue.assignment, queue.calendar) == (
        "Branch A service desk",
        "manual",
        None,
    )
    (audit,) = _audits("queue.update")
    assert audit.before == {
        "name": "Branch A desk",
        "assignment": "round_robin",
        "calendar": service_bank.calendar.pk,
    }
    assert audit.after == {
        "name": "Branch A service desk",
        "assignment": "manual",
        "calendar": None,
    }

    with pytest.raises(ValidationError) as caught:
        queue_update(actor=service_bank.manager_a, queue=queue, changes={"code": "renamed"})
    assert _codes(caught.value) == {"code": ["unknown"]}
    # Moving the queue out of the manager's reach is refused.
    with pytest.raises(PermissionDenied):
        queue_update(
            actor=service_bank.manager_a, queue=queue, changes={"org_unit": service_bank.branch_b}
        )
    with pytest.raises(PermissionDenied):
        queue_update(
            actor=service_bank.manager_a, queue=service_bank.queue_b, changes={"name": "B"}
        )


# --- Members -----------------------------------------------------------------------------


def test_members_join_from_the_queues_line_of_the_organisation(service_bank):
    queue = service_bank.queue_a
    # A head-office agent backs up the branch desk (a unit above the queue's).
    member = queue_member_set(
        actor=service_bank.manager_a,
        queue=queue,
        user=service_bank.agent_cc,
        skills=["complaint", "Inquiry"],
        languages=["zh-hans", "EN"],
        max_open_cases=12,
    )
    assert (member.skills, member.languages, member.max_open_cases, member.is_available) == (
        ["complaint", "inquiry"],
        ["zh-hans", "en"],
        12,
        True,
    )
    # Branch B's agent may not join branch A's desk; a user without a role in service
    # cannot work cases.
    outsider = UserFactory(
        username="analyst_a",
        org_unit=service_bank.branch_a,
        roles=[Role.objects.get(code="credit_analyst")],
    )
    with pytest.raises(ValidationError) as caught:
        queue_member_set(actor=service_bank.manager_a, queue=queue, user=service_bank.agent_b)
    assert _codes(caught.value) == {"user": ["outside_unit"]}
    with pytest.raises(ValidationError) as caught:
        queue_member_set(actor=service_bank.manager_a, queue=queue, user=outsider)
    assert _codes(caught.value) == {"user": ["not_permitted"]}
    # The RM may join (premium customers routed to their RM).
    queue_member_set(actor=service_bank.manager_a, queue=queue, user=service_bank.rm_a)
    assert set(
        QueueMember.objects.filter(queue=queue).values_list("user__username", flat=True)
    ) == {
        "agent_a",
        "agent_cc",
        "rm_a",
    }


def test_member_changes_and_removal(service_bank):
    queue, agent = service_bank.queue_a, service_bank.agent_a
    with pytest.raises(ValidationError) as caught:
        queue_member_set(
            actor=service_bank.manager_a,
            queue=queue,
            user=agent,
            skills="complaint",
            languages=["zh_CN!"],
            max_open_cases=-1,
        )
    assert _codes(caught.value) == {
        "skills": ["invalid"],
        "languages": ["invalid"],
        "max_open_cases": ["invalid"],
    }
    member = queue_member_set(
        actor=service_bank.manager_a, queue=queue, user=agent, is_available=False, max_open_cases=5
    )
    assert (member.is_available, member.max_open_cases, member.languages) == (
        False,
        5,
        ["zh-hans", "en"],  # left as they were
    )
    (audit,) = _audits("queue_member.set")
    assert (audit.before, audit.after) == (
        {"is_available": True, "max_open_cases": 0},
        {"is_available": False, "max_open_cases": 5},
    )
    with pytest.raises(PermissionDenied):
        queue_member_set(actor=service_bank.agent_a, queue=queue, user=agent, is_available=True)

    queue_member_remove(actor=service_bank.manager_a, queue=queue, user=agent)
    assert not QueueMember.objects.filter(queue=queue, user=agent).exists()
    assert _audits("queue_member.remove")[0].before["user"] == agent.pk
    with pytest.raises(ValidationError) as caught:
        queue_member_remove(actor=service_bank.manager_a, queue=queue, user=agent)
    assert _codes(caught.value) == {"user": ["not_member"]}


def test_an_agent_marks_themself_away_and_back(service_bank):
    agent = service_bank.agent_cc
    queue_member_set(actor=service_bank.admin, queue=service_bank.queue_a, user=agent)
    members = agent_availability_set(actor=agent, is_available=False)
    assert [(m.queue.code, m.is_available) for m in members] == [
        ("branch_a", False),
        ("contact_centre", False),
    ]
    assert len(_audits("queue_member.availability")) == 2
    # Back in one queue only; setting the same value again records nothing.
    agent_availability_set(actor=agent, is_available=True, queue=service_bank.contact_centre)
    agent_availability_set(actor=agent, is_available=True, queue=service_bank.contact_centre)
    assert dict(
        QueueMember.objects.filter(user=agent).values_list("queue__code", "is_available")
    ) == {"branch_a": False, "contact_centre": True}
    assert len(_audits("queue_member.availability")) == 3
    assert [m.queue.code for m in selectors_setup.my_queue_memberships(actor=agent)] == [
        "branch_a",
        "contact_centre",
    ]
    with pytest.raises(ValidationError) as caught:
        agent_availability_set(actor=agent, is_available=True, queue=service_bank.queue_b)
    assert _codes(caught.value) == {"queue": ["not_member"]}
    with pytest.raises(PermissionDenied):
        agent_availability_set(actor=SystemActor("job"), is_available=True)


# --- Case types --------------------------------------------------------------------------


def test_case_type_update_by_an_administrator(service_bank):
    complaint = CaseType.objects.get(code="complaint")
    case_type_update(
        actor=service_bank.admin,
        case_type=complaint,
        changes={
            "reopen_days": 60,
            "required_fields": ["party | contact_email", "description", "account"],
            "default_queue": service_bank.contact_centre,
        },
    )
    complaint.refresh_from_db()
    assert (complaint.reopen_days, complaint.required_fields, complaint.default_queue) == (
        60,
        ["party|contact_email", "description", "account"],
        service_bank.contact_centre,
    )
    (audit,) = _audits("case_type.update")
    assert audit.before["reopen_days"] == 30
    assert audit.after["reopen_days"] == 60


def test_case_type_checks_and_reach(service_bank):
    inquiry = CaseType.objects.get(code="inquiry")
    # A branch manager holds support.* for their unit only: case types are bank-wide.
    with pytest.raises(PermissionDenied):
        case_type_update(
            actor=service_bank.manager_a, case_type=inquiry, changes={"reopen_days": 3}
        )
    with pytest.raises(ValidationError) as caught:
        case_type_update(
            actor=service_bank.admin,
            case_type=inquiry,
            changes={
                "required_fields": ["party", "passport"],
                "sla_pause_states": ["waiting_on_customer", "resolved"],
                "reopen_days": 400,
                "default_priority": 9,
            },
        )
    assert _codes(caught.value) == {
        "required_fields": ["invalid_choice"],
        "sla_pause_states": ["invalid_choice"],
        "reopen_days": ["invalid"],
        "default_priority": ["invalid_choice"],
    }
    with pytest.raises(ValidationError) as caught:
        case_type_update(
            actor=service_bank.admin,
            case_type=inquiry,
            changes={"workflow_key": "support_unknown", "is_complaint": True},
        )
    assert _codes(caught.value) == {"is_complaint": ["unknown"]}
    with pytest.raises(ValidationError) as caught:
        case_type_update(
            actor=service_bank.admin, case_type=inquiry, changes={"workflow_key": "support_unknown"}
        )
    assert _codes(caught.value) == {"workflow_key": ["unknown_workflow"]}
    inquiry.refresh_from_db()
    assert (inquiry.reopen_days, inquiry.workflow_key) == (7, "support_inquiry")


# --- SLA policies ------------------------------------------------------------------------


def test_policy_lifecycle(service_bank):
    inquiry = CaseType.objects.get(code="inquiry")
    policy = sla_policy_create(
        actor=service_bank.admin,
        name="Inquiry · normal · affluent",
        case_type="inquiry",
        priority=2,
        segment="affluent",
        first_response_minutes=240,
        resolution_minutes=900,
        warning_percent=75,
    )
    assert sla_policy_for(case_type=inquiry, priority=2, segment="affluent") == policy
    assert sla_policy_for(case_type=inquiry, priority=2, segment="mass").segment == ""

    sla_policy_update(actor=service_bank.admin, policy=policy, changes={"resolution_minutes": 1200})
    policy.refresh_from_db()
    assert policy.resolution_minutes == 1200
    (audit,) = _audits("sla_policy.update")
    assert (audit.before, audit.after) == (
        {"resolution_minutes": 900},
        {"resolution_minutes": 1200},
    )

    sla_policy_deactivate(actor=service_bank.admin, policy=policy, reason="Affluent served as mass")
    assert sla_policy_for(case_type=inquiry, priority=2, segment="affluent").segment == ""
    assert _audits("sla_policy.deactivate")[0].reason == "Affluent served as mass"
    with pytest.raises(ValidationError) as caught:
        sla_policy_update(actor=service_bank.admin, policy=policy, changes={"name": "Again"})
    assert _codes(caught.value) == {"is_active": ["inactive"]}
    # An inactive policy frees its slot.
    sla_policy_create(
        actor=service_bank.admin,
        name="Inquiry · normal · affluent (2)",
        case_type=inquiry,
        priority=2,
        segment="affluent",
        first_response_minutes=200,
        resolution_minutes=800,
    )


def test_policy_checks_and_reach(service_bank):
    count = SlaPolicy.objects.count()
    with pytest.raises(PermissionDenied):
        sla_policy_create(
            actor=service_bank.manager_a,
            name="Branch special",
            first_response_minutes=10,
            resolution_minutes=20,
        )
    with pytest.raises(ValidationError) as caught:
        sla_policy_create(
            actor=service_bank.admin,
            name="",
            case_type="letters",
            priority=7,
            segment="vip",
            first_response_minutes=600,
            resolution_minutes=300,
            warning_percent=100,
            calendar="XX",
        )
    assert _codes(caught.value) == {
        "case_type": ["unknown_case_type"],
        "calendar": ["unknown_calendar"],
        "name": ["blank"],
        "warning_percent": ["max_value"],
        "priority": ["invalid_choice"],
        "segment": ["invalid_choice"],
        "resolution_minutes": ["shorter_than_response"],
    }
    # The seeded "complaint, urgent, every segment" slot is taken.
    with pytest.raises(ValidationError) as caught:
        sla_policy_create(
            actor=service_bank.admin,
            name="Complaint urgent again",
            case_type="complaint",
            priority=4,
            first_response_minutes=60,
            resolution_minutes=600,
        )
    assert _codes(caught.value) == {"case_type": ["duplicate"]}
    # A catch-all policy (any type, any priority) is allowed once.
    catch_all = sla_policy_create(
        actor=service_bank.admin,
        name="Everything else",
        first_response_minutes=900,
        resolution_minutes=4500,
    )
    assert sla_policy_for(case_type=None, priority=1, segment="") == catch_all
    with pytest.raises(ValidationError) as caught:
        sla_policy_create(
            actor=service_bank.admin,
            name="Everything else again",
            first_response_minutes=900,
            resolution_minutes=4500,
        )
    assert _codes(caught.value) == {"case_type": ["duplicate"]}
    assert SlaPolicy.objects.count() == count + 1


# --- Selectors ---------------------------------------------------------------------------


def test_admin_selectors_follow_reach(service_bank):
    assert [q.code for q in selectors_setup.queue_admin_list(actor=service_bank.manager_a)] == [
        "branch_a"
    ]
    assert [q.code for q in selectors_setup.queue_admin_list(actor=service_bank.supervisor)] == [
        "branch_a",
        "branch_b",
        "contact_centre",
    ]
    assert list(selectors_setup.queue_admin_list(actor=service_bank.agent_a)) == []
    centre = selectors_setup.queue_admin_get(actor=service_bank.admin, code="contact_centre")
    assert (centre.member_count, centre.available_count) == (2, 2)
    with pytest.raises(Queue.DoesNotExist):
        selectors_setup.queue_admin_get(actor=service_bank.manager_a, code="contact_centre")
    assert [
        m.user.username
        for m in selectors_setup.queue_member_list(
            actor=service_bank.manager_a, queue=service_bank.queue_a
        )
    ] == ["agent_a"]
    assert (
        list(
            selectors_setup.queue_member_list(
                actor=service_bank.manager_a, queue=service_bank.queue_b
            )
        )
        == []
    )
    candidates = {
        u.username
        for u in selectors_setup.queue_member_candidates(
            actor=service_bank.manager_a, queue=service_bank.queue_a
        )
    }
    assert "agent_b" not in candidates and "agent_a" not in candidates
    assert {"agent_cc", "manager_a", "rm_a", "supervisor"} <= candidates
    assert [t.code for t in selectors_setup.case_type_list(actor=service_bank.agent_a)] == [
        "inquiry",
        "service_request",
        "complaint",
        "incident",
        "fraud_report",
    ]
    assert selectors_setup.sla_policy_list(actor=service_bank.agent_a).count() == 40
    assert list(selectors_setup.case_type_list(actor=service_bank.bank.analyst)) == []
