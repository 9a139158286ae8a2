# ruff: noqa: F811 - the shared fixtures are imported by name
"""The supervisor's view (backlog by queue, breaches, due soon, agents' load and
availability) for queue supervisors and holders of ``support.supervise_queue``, scoped to
their queues; and the queue administration (settings and agents through the setup
services, a refusal on its field). Agents get 403 on both, a queue out of reach is 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from bankcrm.support.models import Queue, QueueMember
from bankcrm.support.services_sla import sla_sweep

from .conftest_ui import (  # noqa: F401  (fixtures)
    NOW,
    by_id,
    case_setup,
    client_for,
    frozen_now,
    has_id,
    html,
    make_case,
    row_cases,
    text_of,
    ui_world,
)

pytestmark = pytest.mark.django_db

SUPERVISOR = "/support/supervisor/"
QUEUES = "/support/queues/"


def figures(row: Any) -> dict[str, str]:
    return {cell.get("data-figure"): text_of(cell) for cell in row.xpath("./td[@data-figure]")}


def test_the_backlog_breaches_and_agents_of_my_queues(ui_world: Any) -> None:
    world = ui_world
    bank = world.bank
    assert sla_sweep(now=NOW)["first_response_breached"] == 1
    response = client_for(bank.supervisor).get(SUPERVISOR)
    assert response.status_code == 200
    page = html(response)
    backlog = {
        row.get("data-queue"): figures(row)
        for row in by_id(page, "backlog-table").xpath(".//tr[@data-queue]")
    }
    # The supervisor (head office) oversees every queue of the bank's units.
    assert backlog == {
        "branch_a": {"open": "0", "unassigned": "0", "warning": "0", "breached": "0"},
        "branch_b": {"open": "1", "unassigned": "0", "warning": "0", "breached": "0"},
        "contact_centre": {"open": "3", "unassigned": "2", "warning": "1", "breached": "1"},
    }
    assert [text_of(by_id(page, f"total-{key}")) for key in ("open", "unassigned")] == ["4", "2"]
    assert [text_of(by_id(page, f"total-{key}")) for key in ("warning", "breached")] == ["1", "1"]
    assert row_cases(page, "breaches") == [world.breached.reference]
    assert row_cases(page, "warnings") == [world.warning.reference]
    breach = by_id(page, "breaches").xpath(f'.//tr[@data-case="{world.breached.reference}"]')[0]
    assert "First response Breached 2 h 15 min overdue" in text_of(breach)
    agents = {
        row.get("data-agent"): (figures(row), text_of(row.xpath("./td")[-1]))
        for row in by_id(page, "agents-table").xpath(".//tr[@data-agent]")
    }
    assert agents["agent_cc"] == ({"open": "1", "breached": "0"}, "Available Contact centre")
    assert agents["agent_b"] == ({"open": "1", "breached": "0"}, "Available Branch B desk")
    assert agents["agent_cc2"] == ({"open": "0", "breached": "0"}, "Available Contact centre")


def test_a_branch_manager_oversees_their_branch_only(ui_world: Any) -> None:
    world = ui_world
    QueueMember.objects.filter(user=world.bank.agent_a).update(is_available=False)
    page = html(client_for(world.bank.manager_a).get(SUPERVISOR))
    queues = [row.get("data-queue") for row in page.xpath("//tr[@data-queue]")]
    assert queues == ["branch_a"]
    assert row_cases(page, "breaches") == []
    assert text_of(by_id(page, "breaches-empty")) == "None."
    agents = by_id(page, "agents-table").xpath(".//tr[@data-agent]")
    assert [row.get("data-agent") for row in agents] == ["agent_a"]
    assert text_of(agents[0].xpath("./td")[-1]) == "Away Branch A desk"


def test_agents_and_roles_without_supervision_get_403(ui_world: Any) -> None:
    world = ui_world
    for user in (world.bank.agent_cc, world.bank.bank.analyst, world.bank.rm_a):
        assert client_for(user).get(SUPERVISOR).status_code == 403, user.username


# --- Queue administration --------------------------------------------------------------------


def test_the_queue_list_is_scoped(ui_world: Any) -> None:
    world = ui_world
    page = html(client_for(world.bank.supervisor).get(QUEUES))
    rows = page.xpath('//*[@id="queue-table"]//tr[@data-queue]')
    assert [row.get("data-queue") for row in rows] == ["branch_a", "branch_b", "contact_centre"]
    assert [text_of(row.xpath('./td[@data-figure="available"]')[0]) for row in rows] == [
        "1 / 1",
        "1 / 1",
        "2 / 2",
    ]
    page = html(client_for(world.bank.manager_a).get(QUEUES))
    assert [row.get("data-queue") for row in page.xpath("//tr[@data-queue]")] == ["branch_a"]
    queue_b = reverse("support:queue_edit", args=[world.bank.queue_b.pk])
    assert client_for(world.bank.manager_a).get(queue_b).status_code == 404
    for user in (world.bank.agent_cc, world.bank.bank.analyst):
        assert client_for(user).get(QUEUES).status_code == 403
        assert client_for(user).get(queue_b).status_code == 403


def test_edit_a_queue(ui_world: Any) -> None:
    world = ui_world
    bank = world.bank
    url = reverse("support:queue_edit", args=[bank.contact_centre.pk])
    client = client_for(bank.supervisor)
    page = html(client.get(url))
    assert text_of(by_id(page, "queue-title")) == "Contact centre contact_centre"
    assert not has_id(page, "queue_code")  # a queue's code never changes
    data = {
        "name": "Contact centre",
        "name_zh": "客服中心",
        "org_unit": str(bank.head_office.pk),
        "supervisor": str(bank.supervisor.pk),
        "calendar": str(bank.calendar.pk),
        "assignment": "skill",
        "rm_segments": ["private", "affluent"],
        "email_address": "not an address",
        "is_active": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 400
    assert text_of(by_id(html(response), "queue_email_address_error")) == (
        "Enter a valid email address."
    )
    assert Queue.objects.get(pk=bank.contact_centre.pk).assignment == "manual"
    response = client.post(url, {**data, "email_address": "help@bank.example"})
    assert response.status_code == 302
    queue = Queue.objects.get(pk=bank.contact_centre.pk)
    assert (queue.assignment, queue.rm_segments, queue.email_address) == (
        "skill",
        ["private", "affluent"],
        "help@bank.example",
    )
    # The service's own check: an agent may not supervise a queue.
    response = client.post(url, {**data, "email_address": "", "supervisor": str(bank.agent_cc.pk)})
    assert response.status_code == 400
    assert "is not one of the available choices" in text_of(
        by_id(html(response), "queue_supervisor_error")
    )


def test_open_a_queue(ui_world: Any) -> None:
    world = ui_world
    bank = world.bank
    client = client_for(bank.manager_a)
    data = {
        "code": "branch_a_vip",
        "name": "Branch A private banking",
        "org_unit": str(bank.branch_a.pk),
        "assignment": "round_robin",
        "is_active": "on",
    }
    response = client.post(reverse("support:queue_create"), {**data, "code": "Bad Code"})
    assert response.status_code == 400
    assert text_of(by_id(html(response), "queue_code_error")) == (
        "Lower-case letters, digits and underscores only."
    )
    # A manager of branch A is offered branch A's units only.
    response = client.post(
        reverse("support:queue_create"), {**data, "org_unit": str(bank.head_office.pk)}
    )
    assert response.status_code == 400
    assert not Queue.objects.filter(code="branch_a_vip").exists()
    response = client.post(reverse("support:queue_create"), data)
    assert response.status_code == 302
    queue = Queue.objects.get(code="branch_a_vip")
    assert response["Location"] == reverse("support:queue_edit", args=[queue.pk])
    assert (queue.org_unit, queue.name) == (bank.branch_a, "Branch A private banking")


def test_a_queues_agents(ui_world: Any) -> None:
    world = ui_world
    bank = world.bank
    queue = bank.queue_a
    url = reverse("support:queue_member_set", args=[queue.pk])
    client = client_for(bank.manager_a)
    page = html(client.get(reverse("support:queue_edit", args=[queue.pk])))
    candidates = [
        o.text for o in by_id(page, "member_new_user").xpath(".//option") if o.get("value")
    ]
    # Branch A's own staff and head office staff may back the desk up; branch B's may not.
    assert "agent_b" not in " ".join(candidates)
    assert any("(agent_cc)" in name for name in candidates)
    response = client.post(
        url,
        {"user": str(bank.agent_cc.pk), "skills": ["complaint"], "languages": ["en"],
         "max_open_cases": "-1", "is_available": "on"},
    )  # fmt: skip
    assert response.status_code == 400
    assert text_of(by_id(html(response), "member_new_max_open_cases_error")) == (
        "Ensure this value is greater than or equal to 0."
    )
    response = client.post(
        url,
        {"user": str(bank.agent_cc.pk), "skills": ["complaint"], "languages": ["en"],
         "max_open_cases": "5", "is_available": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    member = QueueMember.objects.get(queue=queue, user=bank.agent_cc)
    assert (member.skills, member.languages, member.max_open_cases, member.is_available) == (
        ["complaint"], ["en"], 5, True,
    )  # fmt: skip
    # Change an existing agent: away, no cap.
    response = client.post(
        url, {"existing": "1", "user": str(bank.agent_a.pk), "max_open_cases": "0"}
    )
    assert response.status_code == 302
    member = QueueMember.objects.get(queue=queue, user=bank.agent_a)
    assert (member.is_available, member.max_open_cases) == (False, 0)
    response = client.post(
        reverse("support:queue_member_remove", args=[queue.pk, bank.agent_cc.pk])
    )
    assert response.status_code == 302
    assert not QueueMember.objects.filter(queue=queue, user=bank.agent_cc).exists()
    # Another branch's queue is out of reach.
    response = client.post(
        reverse("support:queue_member_remove", args=[bank.queue_b.pk, bank.agent_b.pk])
    )
    assert response.status_code == 404
    assert QueueMember.objects.filter(queue=bank.queue_b, user=bank.agent_b).exists()
