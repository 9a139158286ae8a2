# ruff: noqa: F811 - the shared fixtures are imported by name
"""The agent's workspace: my open cases first, then the unassigned ones of my queues, with
both SLA clocks in business time (exact to the minute, counting down until the working
period ends), filters, keyset "more" pages (HTMX rows or the whole page), the availability
switch, a pinned query count, and 403 for a role without customer service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bankcrm.audit.models import AuditEvent
from bankcrm.support.models import QueueMember, ServiceCase
from bankcrm.support.views_workspace import WORKSPACE_PAGE_SIZE as PAGE_SIZE

from .conftest import shanghai
from .conftest_ui import (  # noqa: F401  (fixtures)
    NOW,
    by_id,
    case_setup,
    client_for,
    clock,
    frozen_now,
    has_id,
    html,
    make_case,
    row_cases,
    text_of,
    ui_world,
)

pytestmark = pytest.mark.django_db

WORKSPACE = "/support/"


def epoch_ms(moment: dt.datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def test_my_cases_first_then_the_unassigned_ones_of_my_queues(ui_world: Any) -> None:
    world = ui_world
    response = client_for(world.bank.agent_cc).get(WORKSPACE)
    assert response.status_code == 200
    page = html(response)
    assert row_cases(page, "rows-mine") == [world.mine.reference]
    # The urgent case's resolution is due first (Monday 17:30, the other's Tuesday 17:30).
    assert row_cases(page, "rows-queue") == [world.breached.reference, world.warning.reference]
    # Branch B's queue is not one of agent_cc's queues.
    assert world.other_branch.reference not in response.content.decode()
    assert text_of(by_id(page, "section-mine-title")) == "Assigned to me"
    assert text_of(by_id(page, "section-queue-title")) == "Unassigned in my queues"


def test_each_row_shows_both_clocks_in_business_time(ui_world: Any) -> None:
    world = ui_world
    page = html(client_for(world.bank.agent_cc).get(WORKSPACE))
    period_end = epoch_ms(shanghai(2026, 3, 2, 17, 30))
    now = epoch_ms(NOW)
    expected = {
        (world.mine.reference, "first_response"): ("running", "On track", "4 h 45 min left", "285"),
        (world.mine.reference, "resolution"): ("running", "On track", "19 h 45 min left", "1185"),
        (world.warning.reference, "first_response"): ("warning", "Due soon", "45 min left", "45"),
        (world.warning.reference, "resolution"): ("running", "On track", "11 h 45 min left", "705"),
        (world.breached.reference, "first_response"): (
            "breached", "Breached", "2 h 15 min overdue", "-135",
        ),
        (world.breached.reference, "resolution"): ("running", "On track", "4 h 15 min left", "255"),
    }  # fmt: skip
    for (reference, kind), (state, label, text, remaining) in expected.items():
        container = "rows-mine" if reference == world.mine.reference else "rows-queue"
        element = clock(page, container, reference, kind)
        assert element.get("data-state") == state
        assert f"bc-sla-{state}" in element.get("class")
        assert text_of(element.xpath('.//*[@class="bc-sla-state"]')[0]) == label
        assert text_of(element.xpath('.//*[@class="bc-sla-text"]')[0]) == text
        # What the countdown script reads: it ticks until the afternoon period ends.
        assert element.get("data-remaining") == remaining
        assert element.get("data-rendered") == now
        assert element.get("data-until") == period_end
    row = page.xpath(f'//tr[@data-case="{world.warning.reference}"]')[0]
    assert row.get("data-sla") == "warning"
    cells = [text_of(cell) for cell in row.xpath("./td")]
    assert cells[1] == "张*"  # a caller without a customer record: masked
    assert cells[2] == "High"
    assert cells[3] == "Phone"
    assert cells[6] == "4 h 15 min"  # age in wall-clock time
    mine = page.xpath(f'//tr[@data-case="{world.mine.reference}"]')[0]
    assert text_of(mine.xpath("./td")[1]) == "王小明"


def test_outside_working_hours_the_clocks_stand_still(ui_world: Any, frozen_now: Any) -> None:
    world = ui_world
    frozen_now(shanghai(2026, 3, 2, 12, 30))  # lunch break: the calendar does not work
    page = html(client_for(world.bank.agent_cc).get(WORKSPACE))
    element = clock(page, "rows-mine", world.mine.reference, "first_response")
    # 09:30-12:00 worked: 150 of 450 minutes.
    assert text_of(element.xpath('.//*[@class="bc-sla-text"]')[0]) == "5 h 00 min left"
    assert element.get("data-until") is None


def test_filters_narrow_both_lists(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    page = html(client.get(WORKSPACE, {"priority": "4"}))
    assert row_cases(page, "rows-mine") == []
    assert has_id(page, "section-mine-empty")
    assert row_cases(page, "rows-queue") == [world.breached.reference]
    page = html(client.get(WORKSPACE, {"channel": "email"}))
    assert row_cases(page, "rows-queue") == []
    page = html(client.get(WORKSPACE, {"state": "new", "queue": str(world.bank.contact_centre.pk)}))
    assert row_cases(page, "rows-queue") == [world.breached.reference, world.warning.reference]
    assert row_cases(page, "rows-mine") == [world.mine.reference]


def test_an_invalid_filter_names_the_field(ui_world: Any) -> None:
    world = ui_world
    response = client_for(world.bank.agent_cc).get(WORKSPACE, {"priority": "9"})
    assert response.status_code == 200
    page = html(response)
    error = by_id(page, "filter_priority_error")
    assert "Select a valid choice. 9 is not one of the available choices." in text_of(error)
    assert by_id(page, "filter_priority").get("aria-invalid") == "true"


def test_more_pages_by_keyset_with_htmx_and_without(
    service_bank: Any,
    make_case: Any,
    frozen_now: Any,
) -> None:
    bank = service_bank
    frozen_now(NOW)
    created = [
        make_case(
            subject=f"Question {n}",
            queue=bank.contact_centre,
            assigned_to=bank.agent_cc,
            received_at=shanghai(2026, 3, 2, 9, 0) + dt.timedelta(minutes=n),
        )
        for n in range(PAGE_SIZE + 3)
    ]
    expected = [case.reference for case in created]  # resolution due in receipt order
    client = client_for(bank.agent_cc)
    page = html(client.get(WORKSPACE))
    assert row_cases(page, "rows-mine") == expected[:PAGE_SIZE]
    link = by_id(page, "more-mine-link")
    more = link.get("hx-get")
    assert link.get("hx-target") == "#more-mine"
    rows = client.get(more, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="more-mine")
    assert rows.status_code == 200
    fragment = rows.content.decode()
    assert "<html" not in fragment
    import lxml.html

    references = [
        row.get("data-case")
        for row in lxml.html.fragments_fromstring(f"<table>{fragment}</table>")[0].xpath(
            "//tr[@data-case]"
        )
    ]
    assert references == expected[PAGE_SIZE:]
    assert 'id="more-mine"' not in fragment
    # Without script, the link opens the whole page with the list moved on.
    page = html(client.get(link.get("href").split("#")[0]))
    assert row_cases(page, "rows-mine") == expected[PAGE_SIZE:]
    # A cursor that does not decode starts again from the top.
    page = html(client.get(WORKSPACE, {"section": "mine", "cursor": "not-a-cursor"}))
    assert row_cases(page, "rows-mine") == expected[:PAGE_SIZE]


def test_the_query_count_does_not_grow_with_the_cases(
    service_bank: Any,
    make_case: Any,
    frozen_now: Any,
) -> None:
    bank = service_bank
    frozen_now(NOW)

    def add(count: int, start: int) -> None:
        for n in range(count):
            make_case(
                subject=f"Case {start + n}",
                queue=bank.contact_centre,
                party=bank.customer_a if n % 2 else None,
                contact_name="" if n % 2 else f"来电{n}",
                assigned_to=bank.agent_cc if n % 3 == 0 else None,
                received_at=shanghai(2026, 3, 2, 9, 0) + dt.timedelta(minutes=start + n),
            )

    from bankcrm.support.models import Queue

    Queue.objects.filter(pk=bank.contact_centre.pk).update(assignment=Queue.Assignment.MANUAL)
    bank.contact_centre.refresh_from_db()
    add(5, 0)
    client = client_for(bank.agent_cc)
    client.get(WORKSPACE)
    with CaptureQueriesContext(connection) as few:
        response = client.get(WORKSPACE)
    assert len(row_cases(html(response), "workspace-lists")) == 5
    add(95, 5)
    with CaptureQueriesContext(connection) as many:
        response = client.get(WORKSPACE)
    page = html(response)
    # 100 open cases, 34 of them mine: a full first page of each list.
    assert len(row_cases(page, "rows-mine")) == PAGE_SIZE == 25
    assert len(row_cases(page, "rows-queue")) == PAGE_SIZE
    assert len(many) == len(few)


def test_the_availability_switch(ui_world: Any) -> None:
    world = ui_world
    agent = world.bank.agent_cc
    client = client_for(agent)
    page = html(client.get(WORKSPACE))
    assert text_of(by_id(page, "availability-status")) == "You are available for new cases"
    events = AuditEvent.objects.count()
    response = client.post(
        reverse("support:availability"),
        {"is_available": "0"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="availability",
    )
    assert response.status_code == 200
    fragment = html(response)
    assert text_of(by_id(fragment, "availability-status")) == "You are away"
    assert by_id(fragment, "availability-toggle").text == "Become available"
    assert list(QueueMember.objects.filter(user=agent).values_list("is_available", flat=True)) == [
        False
    ]
    assert AuditEvent.objects.count() == events + 1
    # Without script: back to the workspace with a message.
    response = client.post(reverse("support:availability"), {"is_available": "1"})
    assert response.status_code == 302
    assert response["Location"] == WORKSPACE
    assert QueueMember.objects.get(user=agent).is_available is True


def test_a_role_without_customer_service_gets_403(ui_world: Any) -> None:
    analyst = ui_world.bank.bank.analyst  # credit analyst: no support permission
    client = client_for(analyst)
    assert client.get(WORKSPACE).status_code == 403
    before = list(QueueMember.objects.values_list("pk", "is_available"))
    assert client.post(reverse("support:availability"), {"is_available": "0"}).status_code == 403
    assert list(QueueMember.objects.values_list("pk", "is_available")) == before


def test_a_branch_agent_sees_only_their_branch(ui_world: Any) -> None:
    world = ui_world
    response = client_for(world.bank.agent_a).get(WORKSPACE)
    assert response.status_code == 200
    page = html(response)
    assert row_cases(page, "workspace-lists") == []
    assert ServiceCase.objects.count() == 4


def test_clock_texts() -> None:
    from bankcrm.support.sla import SlaClock
    from bankcrm.support.views_workspace import _clock_text, age_text, duration_text

    due = shanghai(2026, 3, 2, 17, 30)
    assert duration_text(0) == "0 min"
    assert duration_text(59) == "59 min"
    assert duration_text(61) == "1 h 01 min"
    assert duration_text(-1350) == "22 h 30 min"
    assert age_text(NOW - dt.timedelta(days=2, hours=3), NOW) == "2 d 3 h"
    assert age_text(None, NOW) == ""
    texts = {
        SlaClock("resolution", 450, 450, 0, due, 100, "breached"): "Overdue",
        SlaClock("resolution", 450, 470, -20, due, 104, "breached"): "20 min overdue",
        SlaClock("resolution", 450, 100, 350, None, 22, "paused"): "Paused, 5 h 50 min left",
        SlaClock("resolution", 450, 500, -50, None, 111, "paused"): "Paused, 50 min overdue",
        SlaClock("resolution", 450, 400, 50, due, 88, "met"): "Met",
        SlaClock("resolution", None, None, None, None, None, "none"): "No SLA",
    }
    assert {clock: _clock_text(clock) for clock in texts} == texts
