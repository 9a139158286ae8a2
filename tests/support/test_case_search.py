"""Finding cases: the search box (reference, subject, customer name in characters and
pinyin, contact e-mail), the list filters, the agent's queue page (most urgent due first,
keyset pages) and the supervisor's figures; pages of cases cost a fixed number of queries
whatever their size."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bankcrm.core.actor import SystemActor
from bankcrm.customers.models import ContactPoint
from bankcrm.support.models import ServiceCase
from bankcrm.support.selectors_cases import (
    agent_queue_page,
    case_list,
    case_list_page,
    case_search,
    supervisor_overview,
)
from bankcrm.support.services_cases import case_transition
from bankcrm.support.sla import sla_status
from tests.factories.customers import PersonFactory

from .conftest_cases import case_setup, make_case  # noqa: F401

pytestmark = pytest.mark.django_db

WEB = SystemActor("support.web_form")


def refs(items: Any) -> list[str]:
    return [case.reference for case in items]


def received(hours_ago: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours_ago)


def test_search_by_reference_subject_name_pinyin_and_email(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    bank = service_bank
    old = make_case(actor=WEB, party=bank.customer_a, subject="信用卡年费", received_at=received(5))
    new = make_case(
        actor=WEB, party=bank.customer_a, subject="Statement copy", received_at=received(1)
    )
    other = make_case(
        actor=WEB,
        subject="Lost card abroad",
        contact_email="Li.Na@Example.cn",
        received_at=received(3),
    )
    agent = bank.agent_cc
    assert refs(case_search(actor=agent, q=old.reference.lower())) == [old.reference]
    assert refs(case_search(actor=agent, q=f"  {other.reference} ")) == [other.reference]
    assert refs(case_search(actor=agent, q="年费")) == [old.reference]
    assert refs(case_search(actor=agent, q="STATEMENT")) == [new.reference]
    # The customer's name: characters, pinyin with or without spaces and tones; newest first.
    for query in ("王小明", "王小", "wangxiaoming", "wang xiao", "Wáng Xiǎo"):
        assert refs(case_search(actor=agent, q=query)) == [new.reference, old.reference], query
    # Contact e-mail: exact, whatever the case of the letters.
    assert refs(case_search(actor=agent, q="li.na@example.CN")) == [other.reference]
    assert case_search(actor=agent, q="li.na@example.org") == []
    # A customer's own e-mail finds their cases too.
    ContactPoint.objects.create(
        party=bank.customer_a, kind=ContactPoint.Kind.EMAIL, value="wxm@example.cn"
    )
    assert refs(case_search(actor=agent, q="wxm@example.cn")) == [new.reference, old.reference]
    assert refs(case_search(actor=agent, q="card")) == [other.reference]
    assert refs(case_search(actor=agent, q="c", limit=1)) == [new.reference]
    assert case_search(actor=agent, q="   ") == []
    assert case_search(actor=agent, q="SC-2026-999999") == []


def test_subject_words_are_looked_for_among_the_newest_cases(
    service_bank: Any,
    make_case: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No index serves a word inside a subject: such words are looked for among the bank's
    newest cases only (a bounded cost at any size); references, customers and e-mail
    addresses find every case."""
    from bankcrm.support import selectors_cases

    bank = service_bank
    old = make_case(actor=WEB, party=bank.customer_a, subject="Mortgage letter",
                    received_at=received(30))  # fmt: skip
    for hours in (3, 2, 1):
        make_case(actor=WEB, subject=f"Card {hours}", received_at=received(hours))
    agent = bank.agent_cc
    assert refs(case_search(actor=agent, q="mortgage")) == [old.reference]
    monkeypatch.setattr(selectors_cases, "SEARCH_WINDOW", 3)
    monkeypatch.setattr(selectors_cases, "_window_cache", {})
    assert case_search(actor=agent, q="mortgage") == []
    assert refs(case_search(actor=agent, q="card")) == [
        c.reference for c in ServiceCase.objects.exclude(pk=old.pk).order_by("-received_at")
    ]
    assert refs(case_search(actor=agent, q=old.reference)) == [old.reference]
    assert refs(case_search(actor=agent, q="王小明")) == [old.reference]


def test_list_filters(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    bank = service_bank
    first = make_case(actor=WEB, party=bank.customer_a, queue="branch_a", received_at=received(50))
    second = make_case(
        actor=bank.agent_cc, case_type="incident", channel="email", description="ATM",
        priority=4, received_at=received(2),
    )  # fmt: skip
    third = make_case(actor=bank.agent_cc, assigned_to=bank.agent_cc2, received_at=received(1))
    case_transition(actor=bank.agent_cc, case=second, transition="start")
    # The urgent incident's first-response due depends on the hour the test runs (business
    # hours): put it a day ahead, so that only the first case is breached at any hour.
    ServiceCase.objects.filter(pk=second.pk).update(
        first_response_due_at=timezone.now() + dt.timedelta(days=1),
        resolution_due_at=timezone.now() + dt.timedelta(days=2),
    )
    agent = bank.agent_cc

    def listed(**filters: Any) -> list[str]:
        return refs(case_list(actor=agent, filters=filters))

    assert listed() == [third.reference, second.reference, first.reference]
    assert listed(queue="branch_a") == [first.reference]
    assert listed(queue=bank.queue_a.pk) == [first.reference]
    assert listed(state="in_progress") == [second.reference]
    assert listed(state=["new"]) == [third.reference, first.reference]
    assert listed(assigned_to="me") == [second.reference]  # round robin gave it to agent_cc
    assert listed(assigned_to="none") == []
    assert listed(assigned_to=bank.agent_cc2.pk) == [third.reference]
    assert listed(case_type="incident", channel="email", priority=4) == [second.reference]
    assert listed(party=bank.customer_a.pk) == [first.reference]
    assert listed(received_from=received(3)) == [third.reference, second.reference]
    assert listed(received_to=received(10)) == [first.reference]
    assert listed(is_open="false") == []
    # Received two days ago and never answered: past its first-response due.
    assert listed(breached=True) == [first.reference]
    assert listed(breached=False) == [third.reference, second.reference]
    ServiceCase.objects.filter(pk=first.pk).update(
        first_responded_at=received(49), resolution_due_at=timezone.now() + dt.timedelta(days=9)
    )
    assert listed(breached=True) == []
    assert listed(q="Card not working") == [third.reference, second.reference, first.reference]
    with pytest.raises(ValidationError) as caught:
        listed(colour="red", priority="high", received_from="last week")
    assert sorted(caught.value.message_dict) == ["colour"]
    with pytest.raises(ValidationError) as caught:
        listed(priority="high")
    assert caught.value.message_dict == {"priority": ["Give a priority from 1 to 4."]}

    page = case_list_page(actor=agent, limit=2)
    rest = case_list_page(actor=agent, limit=2, cursor=page.next_cursor)
    assert refs(page.items) + refs(rest.items) == listed()
    assert rest.next_cursor is None


def test_queue_page_most_urgent_first_with_keyset_pages(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    bank = service_bank
    agent = bank.agent_a
    bank.queue_a.assignment = "manual"  # agents pick cases themselves: nobody is assigned
    bank.queue_a.save()
    cases = [
        make_case(actor=WEB, queue="branch_a", priority=priority, received_at=received(hours))
        for priority, hours in ((1, 1), (4, 2), (2, 3), (3, 4), (2, 5), (1, 6))
    ]
    no_sla = make_case(actor=WEB, queue="branch_a")
    ServiceCase.objects.filter(pk=no_sla.pk).update(
        first_response_due_at=None, resolution_due_at=None, sla_policy=None
    )
    done = make_case(actor=WEB, queue="branch_a", priority=4)
    case_transition(actor=agent, case=done, transition="start")
    case_transition(actor=agent, case=done, transition="resolve", reason="Done")

    rows = ServiceCase.objects.filter(pk__in=[c.pk for c in cases])
    expected = [
        case.reference
        for case in sorted(
            rows,
            key=lambda c: (
                min(d for d in (c.first_response_due_at, c.resolution_due_at) if d),
                str(c.pk),
            ),
        )
    ] + [no_sla.reference]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = agent_queue_page(actor=agent, cursor=cursor, limit=3)
        seen += refs(page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3
    # An answered case is ordered by its resolution due only.
    answered = ServiceCase.objects.get(pk=cases[0].pk)
    ServiceCase.objects.filter(pk=answered.pk).update(first_responded_at=timezone.now())
    page = agent_queue_page(actor=agent, limit=10)
    assert page.items[-2].reference in {c.reference for c in cases}
    assert refs(agent_queue_page(actor=agent, queue=bank.queue_a, mine_only=True).items) == []
    ServiceCase.objects.filter(pk=cases[1].pk).update(assigned_to=agent)
    assert refs(agent_queue_page(actor=agent, mine_only=True).items) == [cases[1].reference]
    with pytest.raises(ValidationError):
        agent_queue_page(actor=agent, cursor="not a cursor")


def test_queue_page_order_is_exact_whatever_the_dues(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    """Random dues, answered and unanswered cases, cases without an SLA, equal dues: the
    pages hold every open case once, in (next due, key) order."""
    import random

    bank = service_bank
    bank.queue_a.assignment = "manual"
    bank.queue_a.save()
    rng = random.Random(20260301)
    base = timezone.now()
    for _index in range(40):
        case = make_case(actor=WEB, queue="branch_a")
        first = base + dt.timedelta(hours=rng.choice([-30, -2, 1, 5, 5, 9, 40]))
        values: dict[str, Any] = {
            "first_response_due_at": first if rng.random() < 0.9 else None,
            "resolution_due_at": (
                first + dt.timedelta(hours=rng.choice([0, 3, 24])) if rng.random() < 0.85 else None
            ),
            "first_responded_at": base if rng.random() < 0.4 else None,
        }
        ServiceCase.objects.filter(pk=case.pk).update(**values)
    rows = list(ServiceCase.objects.filter(queue=bank.queue_a, is_open=True))
    from bankcrm.support.selectors_cases import case_next_due

    expected = [
        c.reference
        for c in sorted(
            rows,
            key=lambda c: (
                case_next_due(c) is None,
                case_next_due(c) or base,
                c.pk,
            ),
        )
    ]
    for size in (1, 7, 50):
        seen: list[str] = []
        cursor = None
        while True:
            page = agent_queue_page(actor=bank.agent_a, cursor=cursor, limit=size)
            seen += refs(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, size


def test_supervisor_overview(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    bank = service_bank
    first = make_case(actor=WEB, received_at=received(30))
    make_case(actor=WEB, received_at=received(2))
    make_case(actor=WEB, queue="branch_a")
    ServiceCase.objects.filter(pk=first.pk).update(
        resolution_breached_at=timezone.now(), assigned_to=bank.agent_cc
    )
    overview = supervisor_overview(actor=bank.supervisor)
    # The head office's branch manager oversees every queue of the units below head office.
    assert [row["queue"].code for row in overview["queues"]] == [
        "branch_a",
        "branch_b",
        "contact_centre",
    ]
    centre = overview["queues"][2]
    assert (centre["open"], centre["breached"], centre["unassigned"]) == (2, 1, 0)
    assert centre["oldest"] == ServiceCase.objects.get(pk=first.pk).received_at
    assert overview["totals"] == {"open": 3, "unassigned": 0, "breached": 1, "warning": 0}
    agents = {row["user"].username: row for row in overview["agents"]}
    assert (agents["agent_cc"]["open"], agents["agent_cc"]["breached"]) == (1, 1)
    assert agents["agent_cc"]["queues"] == ["contact_centre"]
    # An agent oversees nothing; branch A's manager supervises branch A's queue.
    assert supervisor_overview(actor=bank.agent_cc)["queues"] == []
    assert [row["queue"].code for row in supervisor_overview(actor=bank.manager_a)["queues"]] == [
        "branch_a"
    ]


def _page_queries(actor: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        page = agent_queue_page(actor=actor, limit=50)
        for case in page.items:
            sla_status(case)
            (case.case_type.name, case.queue.name, case.assigned_to, case.party)
    return len(queries)


def test_a_page_of_cases_costs_a_fixed_number_of_queries(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    bank = service_bank
    for index in range(3):
        make_case(actor=WEB, party=bank.customer_a, queue="branch_a", received_at=received(index))
    agent = bank.agent_a
    _page_queries(agent)  # the calendar is compiled once per process
    agent = type(agent).objects.get(pk=agent.pk)  # a fresh request's user: roles not cached
    small = _page_queries(agent)
    for index in range(12):
        customer = PersonFactory(owning_unit=bank.branch_a)
        make_case(actor=WEB, party=customer, queue="branch_a", assigned_to=bank.agent_a,
                  received_at=received(index))  # fmt: skip
    agent = type(agent).objects.get(pk=agent.pk)
    # The agent's roles, the agent's queues, the queue read by resolution due and by
    # first-response due, the cases without a due (the page is not full), the page's cases
    # with their type, queue, customer, agent and SLA calendar: nothing per case.
    assert _page_queries(agent) == small == 6

    client = Client()
    client.force_login(bank.agent_a)
    client.get("/api/v1/support/cases")
    with CaptureQueriesContext(connection) as few:
        assert len(client.get("/api/v1/support/cases").json()["items"]) == 15
    for _index in range(10):
        make_case(actor=WEB, party=bank.customer_a, queue="branch_a")
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/v1/support/cases").json()["items"]) == 25
    assert len(many) == len(few)
