"""Who sees which case, through every path: selectors (list, get, search, queue page,
customer 360), the API (list, detail, search, queue cases, messages, SLA) and the case
page. An agent sees the cases of their org units and of the queues they work; another
branch's case is a 404, never a 403, and a refused write changes nothing. A relationship
manager sees their portfolio's customers' cases only; an auditor reads everything and
writes nothing; a role without the service permissions sees nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.test import Client

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.support.models import CaseMessage, QueueMember, ServiceCase
from bankcrm.support.selectors_cases import (
    agent_queue_page,
    case_get,
    case_list,
    case_search,
    case_visible,
    customer_cases,
)
from bankcrm.support.services_cases import case_note_add, case_transition, case_update
from tests.factories import UserFactory

from .conftest_cases import case_setup, make_case, stored  # noqa: F401

pytestmark = pytest.mark.django_db

API = "/api/v1/support"


@dataclass
class Cases:
    a_branch: Any  # customer A, branch A's queue
    a_centre: Any  # customer A, contact centre
    b_branch: Any  # customer B, branch B's queue
    b_centre: Any  # customer B, contact centre
    anonymous: Any  # no customer, contact centre (head office)

    def all(self) -> list[Any]:
        return [self.a_branch, self.a_centre, self.b_branch, self.b_centre, self.anonymous]


@pytest.fixture
def cases(service_bank: Any, make_case: Any) -> Cases:  # noqa: F811
    bank = service_bank
    web = SystemActor("support.web_form")
    result = Cases(
        a_branch=make_case(actor=web, party=bank.customer_a, queue="branch_a", subject="王小明 卡"),
        a_centre=make_case(actor=web, party=bank.customer_a, subject="Statement copy"),
        b_branch=make_case(actor=web, party=bank.customer_b, queue="branch_b", subject="Card"),
        b_centre=make_case(actor=web, party=bank.customer_b, subject="Address change"),
        anonymous=make_case(actor=web, subject="Opening hours", contact_email="visitor@example.cn"),
    )
    for case in result.all():
        CaseMessage.objects.create(
            case=case, direction="inbound", channel="web_form", status="received", body="hi"
        )
    return result


def refs(items: Any) -> set[str]:
    return {case.reference for case in items}


def client_for(user: Any) -> Client:
    """A signed-in browser session (roles that require two-factor sign-in have it set up)."""
    if not user.mfa_enabled:
        user.mfa_enabled = True
        user.save(update_fields=["mfa_enabled"])
    client = Client()
    client.force_login(user)
    return client


def test_agents_see_their_units_and_their_queues(service_bank: Any, cases: Cases) -> None:
    bank = service_bank
    # Agent A: branch A's unit (both of customer A's cases); nothing of branch B or head office.
    expected_a = refs([cases.a_branch, cases.a_centre])
    assert refs(case_visible(actor=bank.agent_a)) == expected_a
    assert refs(case_list(actor=bank.agent_a)) == expected_a
    assert refs(case_visible(actor=bank.agent_a, action="change")) == expected_a
    expected_b = refs([cases.b_branch, cases.b_centre])
    assert refs(case_list(actor=bank.agent_b)) == expected_b
    # Head office's agents reach every unit below head office.
    assert refs(case_list(actor=bank.agent_cc)) == refs(cases.all())

    # Joining the contact centre's queue adds its cases, whatever their unit.
    member = QueueMember.objects.create(queue=bank.contact_centre, user=bank.agent_b)
    assert refs(case_list(actor=bank.agent_b)) == expected_b | refs(
        [cases.a_centre, cases.anonymous]
    )
    member.delete()
    assert refs(case_list(actor=bank.agent_b)) == expected_b
    # Supervising a queue counts as working it.
    bank.queue_b.supervisor = bank.manager_a
    bank.queue_b.save()
    assert refs(case_list(actor=bank.manager_a)) == expected_a | refs([cases.b_branch])


def test_the_rule_is_restrict_or_the_actors_queues(service_bank: Any, cases: Cases) -> None:
    """``case_visible`` reads the units as keys (for the indexes): the same cases as the
    access model's ``restrict`` plus those of the queues the actor works or supervises."""
    bank = service_bank
    QueueMember.objects.create(queue=bank.queue_b, user=bank.rm_a)
    bank.queue_a.supervisor = bank.compliance
    bank.queue_a.save()
    orphan = UserFactory(org_unit=None, roles=[Role.objects.get(code="service_agent")])
    QueueMember.objects.create(queue=bank.queue_a, user=orphan)
    users = [bank.agent_a, bank.agent_b, bank.agent_cc, bank.rm_a, bank.rm_b, bank.manager_a,
             bank.supervisor, bank.auditor, bank.compliance, bank.admin, orphan]  # fmt: skip
    for user in users:
        for action in ("view", "change"):
            restricted = set(
                ServiceCase.objects.restrict(user, action).values_list("pk", flat=True)
            )
            queues = set(
                ServiceCase.objects.filter(
                    Q(queue__members__user=user) | Q(queue__supervisor=user)
                ).values_list("pk", flat=True)
            )
            expected = restricted | (queues if _holds(user, action) else set())
            visible = set(case_visible(actor=user, action=action).values_list("pk", flat=True))
            assert visible == expected, (user.username, action)
    # The queue part alone: a member without a unit sees the queue's cases only.
    assert refs(case_visible(actor=orphan)) == {cases.a_branch.reference}


def _holds(user: Any, action: str) -> bool:
    from bankcrm.access.permissions import actor_has_perm

    return actor_has_perm(user, f"support.{action}_servicecase")


def test_other_branch_cases_do_not_exist_for_the_agent(service_bank: Any, cases: Cases) -> None:
    agent = service_bank.agent_b
    case = cases.a_branch
    with pytest.raises(ServiceCase.DoesNotExist):
        case_get(actor=agent, pk=case.pk)
    with pytest.raises(ServiceCase.DoesNotExist):
        case_get(actor=agent, reference=case.reference)
    assert case_search(actor=agent, q=case.reference) == []
    assert case_search(actor=agent, q="王小明") == []
    assert case_search(actor=agent, q="visitor@example.cn") == []
    assert customer_cases(actor=agent, party=service_bank.customer_a) == []
    assert refs(agent_queue_page(actor=agent).items) == {cases.b_branch.reference}
    assert refs(agent_queue_page(actor=agent, queue=service_bank.queue_a).items) == set()
    # Agent A finds the same case by each path.
    assert case_get(actor=service_bank.agent_a, pk=case.pk) == case
    assert refs(case_search(actor=service_bank.agent_a, q=case.reference)) == {case.reference}
    assert refs(case_search(actor=service_bank.agent_a, q="王小明")) == refs(
        [cases.a_branch, cases.a_centre]
    )
    assert refs(customer_cases(actor=service_bank.agent_a, party=service_bank.customer_a)) == (
        refs([cases.a_branch, cases.a_centre])
    )


def test_refused_writes_change_nothing(service_bank: Any, cases: Cases) -> None:
    case = cases.a_branch
    before = stored(ServiceCase, case.pk)
    audits, messages = AuditEvent.objects.count(), CaseMessage.objects.count()
    with pytest.raises(ServiceCase.DoesNotExist):
        case_transition(actor=service_bank.agent_b, case=case, transition="start")
    with pytest.raises(ServiceCase.DoesNotExist):
        case_update(actor=service_bank.agent_b, case=case, changes={"priority": 4})
    with pytest.raises(ServiceCase.DoesNotExist):
        case_note_add(actor=service_bank.agent_b, case=case, text="Not my branch")
    assert stored(ServiceCase, case.pk) == before
    assert (AuditEvent.objects.count(), CaseMessage.objects.count()) == (audits, messages)


def test_relationship_manager_sees_the_portfolios_customers_cases(
    service_bank: Any, cases: Cases
) -> None:
    rm = service_bank.rm_a
    expected = refs([cases.a_branch, cases.a_centre])
    assert refs(case_list(actor=rm)) == expected
    assert refs(case_search(actor=rm, q="Statement")) == {cases.a_centre.reference}
    assert refs(case_search(actor=rm, q="Address change")) == set()
    assert refs(customer_cases(actor=rm, party=service_bank.customer_b)) == set()
    assert refs(case_list(actor=service_bank.rm_b)) == refs([cases.b_branch, cases.b_centre])
    with pytest.raises(ServiceCase.DoesNotExist):
        case_get(actor=rm, pk=cases.anonymous.pk)
    # Relationship managers work the cases of their own portfolio's customers only.
    assert refs(case_visible(actor=rm, action="change")) == expected
    case_update(actor=rm, case=cases.a_branch, changes={"priority": 4})
    with pytest.raises(ServiceCase.DoesNotExist):
        case_update(actor=rm, case=cases.b_branch, changes={"priority": 4})


def test_auditor_reads_everything_and_writes_nothing(service_bank: Any, cases: Cases) -> None:
    auditor = service_bank.auditor
    assert refs(case_list(actor=auditor)) == refs(cases.all())
    assert case_get(actor=auditor, pk=cases.b_branch.pk) == cases.b_branch
    before = [stored(ServiceCase, case.pk) for case in cases.all()]
    audits = AuditEvent.objects.count()
    for write in (
        lambda: case_transition(actor=auditor, case=cases.b_branch, transition="start"),
        lambda: case_update(actor=auditor, case=cases.b_branch, changes={"priority": 4}),
        lambda: case_note_add(actor=auditor, case=cases.b_branch, text="note"),
    ):
        with pytest.raises(PermissionDenied):
            write()
    client = client_for(auditor)
    answer = client.post(
        f"{API}/cases/{cases.b_branch.pk}/transition",
        json.dumps({"transition": "start"}),
        content_type="application/json",
    )
    assert answer.status_code == 403
    assert answer["Content-Type"].startswith("application/problem+json")
    assert answer.json()["code"] == "permission_denied"
    assert client.get(f"{API}/cases/{cases.b_branch.pk}").json()["transitions"] == []
    assert [stored(ServiceCase, case.pk) for case in cases.all()] == before
    assert AuditEvent.objects.count() == audits


def test_roles_without_service_permissions_see_nothing(service_bank: Any, cases: Cases) -> None:
    analyst = UserFactory(
        org_unit=service_bank.head_office, roles=[Role.objects.get(code="credit_analyst")]
    )
    assert refs(case_list(actor=analyst)) == set()
    assert case_search(actor=analyst, q=cases.a_branch.reference) == []
    answer = client_for(analyst).get(f"{API}/cases")
    assert (answer.status_code, answer.json()["code"]) == (403, "permission_denied")


def test_api_answers_404_for_another_branchs_case(service_bank: Any, cases: Cases) -> None:
    client = client_for(service_bank.agent_b)
    listing = client.get(f"{API}/cases")
    assert listing.status_code == 200
    assert {row["reference"] for row in listing.json()["items"]} == refs(
        [cases.b_branch, cases.b_centre]
    )
    found = client.get(f"{API}/cases/search", {"q": cases.a_branch.reference})
    assert (found.status_code, found.json()) == (200, [])
    case = cases.a_branch
    before = stored(ServiceCase, case.pk)
    for method, url, body in (
        ("get", f"{API}/cases/{case.pk}", None),
        ("get", f"{API}/cases/{case.pk}/messages", None),
        ("get", f"{API}/cases/{case.pk}/sla", None),
        ("patch", f"{API}/cases/{case.pk}", {"priority": 4}),
        ("post", f"{API}/cases/{case.pk}/transition", {"transition": "start"}),
        ("post", f"{API}/cases/{case.pk}/assign", {"take": True}),
        ("post", f"{API}/cases/{case.pk}/notes", {"text": "hello"}),
        ("post", f"{API}/cases/{case.pk}/merge", {"into": str(cases.b_branch.pk), "reason": "x"}),
        ("post", f"{API}/cases/{case.pk}/links", {"kind": "account", "object_pk": "1"}),
        ("get", f"{API}/queues/branch_a/cases", None),
    ):
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        answer = getattr(client, method)(url, **kwargs)
        assert answer.status_code == 404, (method, url, answer.content)
        assert answer["Content-Type"].startswith("application/problem+json")
        assert answer.json()["code"] == "not_found"
    # The customer's own branch reads it.
    assert client_for(service_bank.agent_a).get(f"{API}/cases/{case.pk}").status_code == 200
    assert stored(ServiceCase, case.pk) == before
    # The case page answers the same.
    assert client.get(f"/support/cases/{case.pk}/").status_code == 404


# --- The agent's workspace selector ----------------------------------------------------------


def test_workspace_lists_in_resolution_due_order_with_filters_and_keyset_pages(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    import datetime as dt

    from django.core.exceptions import ValidationError
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bankcrm.support.models import Queue
    from bankcrm.support.selectors_cases import agent_workspace_page

    bank = service_bank
    Queue.objects.filter(code__in=["contact_centre", "branch_a"]).update(
        assignment=Queue.Assignment.MANUAL
    )
    start = timezone.now() + dt.timedelta(days=1)

    def case(name: str, hours: int | None, **kwargs: Any) -> Any:
        made = make_case(actor=SystemActor("support.web_form"), subject=name, **kwargs)
        due = None if hours is None else start + dt.timedelta(hours=hours)
        ServiceCase.objects.filter(pk=made.pk).update(resolution_due_at=due)
        return made

    cc = {"queue": "contact_centre"}
    u3 = case("u3", 3, **cc)
    u1 = case("u1", 1, priority=4, **cc)
    u_none = case("u-none", None, **cc)
    u2 = case("u2", 2, channel="email", **cc)
    case("branch a", 0, queue="branch_a")  # not one of agent_cc's queues
    case("m2", 2, assigned_to=bank.agent_cc, **cc)
    case("m1", 1, assigned_to=bank.agent_cc, queue="branch_a")
    case("other agent", 0, assigned_to=bank.agent_cc2, **cc)
    closed = case("closed", 0, **cc)
    ServiceCase.objects.filter(pk=closed.pk).update(is_open=False)
    triaged = case("triaged", 5, **cc)
    ServiceCase.objects.filter(pk=triaged.pk).update(state="triaged")

    def subjects(**kwargs: Any) -> list[str]:
        return [c.subject for c in agent_workspace_page(actor=bank.agent_cc, **kwargs).items]

    assert subjects(section="mine") == ["m1", "m2"]
    assert subjects(section="unassigned") == ["u1", "u2", "u3", "triaged", "u-none"]
    assert subjects(section="unassigned", priority=4) == ["u1"]
    assert subjects(section="unassigned", channel="email") == ["u2"]
    assert subjects(section="unassigned", state="triaged") == ["triaged"]
    assert subjects(section="unassigned", state="new", channel="phone") == ["u1", "u3", "u-none"]
    assert subjects(section="mine", queue=bank.contact_centre) == ["m2"]
    assert subjects(section="unassigned", queue=bank.queue_a) == ["branch a"]
    assert subjects(section="mine", priority=4) == []

    # Keyset pages of two, through the cases without a due, to the end.
    seen: list[str] = []
    cursor = None
    with CaptureQueriesContext(connection) as first:
        page = agent_workspace_page(actor=bank.agent_cc, section="unassigned", limit=2)
    while True:
        page = agent_workspace_page(
            actor=bank.agent_cc, section="unassigned", limit=2, cursor=cursor
        )
        seen += [c.subject for c in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["u1", "u2", "u3", "triaged", "u-none"]
    # The same queries for a page of two as for a page of fifty.
    with CaptureQueriesContext(connection) as many:
        agent_workspace_page(actor=bank.agent_cc, section="unassigned", limit=50)
    assert len(first) == len(many)
    # Each page's cases come with what a row shows: no query per case.
    page = agent_workspace_page(actor=bank.agent_cc, section="unassigned")
    with CaptureQueriesContext(connection) as rows:
        [(c.case_type.code, c.queue.code, c.assigned_to, c.sla_calendar) for c in page.items]
    assert len(rows) == 0
    assert {c.pk for c in page.items} == {u1.pk, u2.pk, u3.pk, u_none.pk, triaged.pk}

    with pytest.raises(ValidationError) as bad:
        agent_workspace_page(actor=bank.agent_cc, cursor="not-a-cursor")
    assert list(bad.value.message_dict) == ["cursor"]
    with pytest.raises(ValidationError) as bad:
        agent_workspace_page(actor=bank.agent_cc, section="everything")
    assert list(bad.value.message_dict) == ["section"]
    with pytest.raises(ValidationError) as bad:
        agent_workspace_page(actor=bank.agent_cc, priority="urgent")  # type: ignore[arg-type]
    assert list(bad.value.message_dict) == ["priority"]


def test_workspace_lists_stay_within_reach(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    from bankcrm.support.models import Queue
    from bankcrm.support.selectors_cases import agent_workspace_page

    bank = service_bank
    Queue.objects.filter(code="branch_b").update(assignment=Queue.Assignment.MANUAL)
    web = SystemActor("support.web_form")
    make_case(actor=web, subject="b unassigned", queue="branch_b", party=bank.customer_b)
    make_case(
        actor=web, subject="b mine", queue="branch_b", party=bank.customer_b,
        assigned_to=bank.agent_b,
    )  # fmt: skip

    def subjects(actor: Any, section: str) -> list[str]:
        return [c.subject for c in agent_workspace_page(actor=actor, section=section).items]

    assert subjects(bank.agent_b, "unassigned") == ["b unassigned"]
    assert subjects(bank.agent_b, "mine") == ["b mine"]
    # Another branch's agent sees neither.
    assert subjects(bank.agent_a, "unassigned") == []
    assert subjects(bank.agent_cc, "unassigned") == []
    outsider = UserFactory(username="ws_outsider")
    assert subjects(outsider, "unassigned") == []
