# ruff: noqa: F811 - the shared fixtures are imported by name
"""The customer 360's service panel: the customer's recent cases the viewer may see
(reference, type, state, SLA state, received) each linking to its page, and "New case" for
those who may open cases; nothing for a role without customer service."""

from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from bankcrm.support.views_customer import customer_panel_context

from .conftest_ui import (  # noqa: F401  (fixtures)
    by_id,
    case_setup,
    client_for,
    frozen_now,
    has_id,
    html,
    make_case,
    text_of,
    ui_world,
)

pytestmark = pytest.mark.django_db


def rendered(user: Any, party: Any) -> Any:
    """The panel as the customer page includes it, parsed."""
    import lxml.html

    request = RequestFactory().get(reverse("customers:detail", args=[party.pk]))
    request.user = user
    context = {**customer_panel_context(user, party), "party": party}
    return lxml.html.fromstring(
        f"<div>{render_to_string('support/partials/customer_cases.html', context, request)}</div>"
    )


def cells(panel: Any) -> list[list[str]]:
    return [
        [text_of(cell) for cell in row.xpath("./td")]
        for row in by_id(panel, "support-cases-table").xpath(".//tr[@data-case]")
    ]


def test_an_agent_sees_the_customers_cases_and_may_open_one(ui_world: Any) -> None:
    world = ui_world
    customer = world.bank.customer_a
    context = customer_panel_context(world.bank.agent_cc, customer)["support"]
    assert [row.case.reference for row in context["rows"]] == [
        world.mine.reference,
        world.breached.reference,
    ]
    assert [row.sla_state for row in context["rows"]] == ["running", "breached"]
    assert (context["open"], context["may_add"]) == (2, True)
    panel = rendered(world.bank.agent_cc, customer)
    assert cells(panel) == [
        [f"{world.mine.reference} Card blocked abroad", "Inquiry", "New", "On track", "2 Mar 2026"],
        [
            f"{world.breached.reference} Money sent to the wrong account",
            "Inquiry",
            "New",
            "Breached",
            "2 Mar 2026",
        ],
    ]
    link = panel.xpath(f'//a[text()="{world.mine.reference}"]')[0]
    assert link.get("href") == reverse("support:case_detail", args=[world.mine.pk])
    assert text_of(by_id(panel, "support-cases-open")) == "2 open"
    new_case = by_id(panel, "support-case-new")
    assert new_case.get("href") == f"{reverse('support:case_create')}?party={customer.pk}"
    # The button opens the new case form with the customer chosen.
    page = html(client_for(world.bank.agent_cc).get(new_case.get("href")))
    assert by_id(page, f"party-{customer.pk}").get("checked") is not None


def test_a_relationship_manager_sees_their_customers_cases(ui_world: Any) -> None:
    world = ui_world
    context = customer_panel_context(world.bank.rm_a, world.bank.customer_a)["support"]
    assert {row.case.reference for row in context["rows"]} == {
        world.mine.reference,
        world.breached.reference,
    }
    assert context["may_add"] is True


def test_an_auditor_reads_without_the_new_case_button(ui_world: Any) -> None:
    world = ui_world
    panel = rendered(world.bank.auditor, world.bank.customer_a)
    assert len(cells(panel)) == 2
    assert not has_id(panel, "support-case-new")


def test_other_customers_and_other_branches_stay_hidden(ui_world: Any) -> None:
    world = ui_world
    # 王小明's cases belong to branch A (his branch), whichever queue works them: branch A's
    # agent sees them, branch B's does not.
    context = customer_panel_context(world.bank.agent_a, world.bank.customer_a)["support"]
    assert len(context["rows"]) == 2
    panel = rendered(world.bank.agent_b, world.bank.customer_a)
    assert text_of(by_id(panel, "support-cases-none")) == "No service cases."
    context = customer_panel_context(world.bank.agent_cc, world.bank.customer_b)["support"]
    assert [row.case.reference for row in context["rows"]] == [world.other_branch.reference]


def test_nothing_for_a_role_without_customer_service(ui_world: Any) -> None:
    world = ui_world
    assert customer_panel_context(world.bank.bank.analyst, world.bank.customer_a) == {
        "support": None
    }
