"""The service agent's journey in a real browser: sign in, open Customer service › Service
workspace, open a phone case for a customer found by name, reply to the customer (recorded:
the caller has no e-mail on the case), move the case to "waiting on the customer" and
resolve it with a resolution note. At desktop and phone sizes, screenshots kept: the case
page shows the conversation and the customer side by side from 992 px, one column at 375 px
(never wider than the window)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db.migrations import RunPython
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Role
from bankcrm.core.models import BusinessCalendar
from bankcrm.support.models import CaseMessage, ServiceCase
from tests.factories import OrgUnitFactory, PortfolioFactory, UserFactory
from tests.factories.customers import PersonFactory
from tests.factories.support import QueueFactory, QueueMemberFactory

from .conftest import screenshot
from .test_shell import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = (375, 812)

# The migrations whose data the journey needs (a browser test's database is flushed between
# tests, seeds included): the roles, the "CN" business calendar, the case types with their
# workflows and SLA policies, the complaint codes and the response templates.
SEEDS = (
    "bankcrm.access.migrations.0003_seed_bank_roles",
    "bankcrm.access.migrations.0004_lending_role_permissions",
    "bankcrm.access.migrations.0005_model_risk_role",
    "bankcrm.access.migrations.0006_compliance_permissions",
    "bankcrm.access.migrations.0007_support_permissions",
    "bankcrm.core.migrations.0005_business_calendar_cn_2026",
    "bankcrm.support.migrations.0002_case_setup_seed",
    "bankcrm.support.migrations.0003_complaint_codes",
    "bankcrm.support.migrations.0004_response_templates",
)


def _seed() -> None:
    """Run the forward data operations of the seeding migrations again."""
    for name in SEEDS:
        migration = importlib.import_module(name).Migration
        for operation in migration.operations:
            if isinstance(operation, RunPython):
                operation.code(django_apps, None)


@pytest.fixture
def service_world(transactional_db):
    _seed()
    import bankcrm.support.services_cases  # noqa: F401  (the workflow guards)

    head = OrgUnitFactory(code="HO", name="Head office", kind=OrgUnit.Kind.HEAD_OFFICE)
    branch = OrgUnitFactory(code="BR-A", name="Branch A", parent=head)

    def staff(username: str, role: str, unit=head):
        first, last = username.split(".")
        return UserFactory(
            username=username,
            first_name=first.title(),
            last_name=last.title(),
            org_unit=unit,
            roles=[Role.objects.get(code=role)],
            password_changed_at=timezone.now(),
        )

    agent = staff("li.na", "service_agent")
    rm = staff("wei.zhang", "relationship_manager", branch)
    portfolio = PortfolioFactory(manager=rm, org_unit=branch)
    customer = PersonFactory(display_name="王小明", owning_unit=branch, portfolio=portfolio)
    queue = QueueFactory(
        code="contact_centre",
        name="Contact centre",
        name_zh="客服中心",
        org_unit=head,
        calendar=BusinessCalendar.objects.get(code="CN"),
    )
    QueueMemberFactory(queue=queue, user=agent, languages=["zh-hans", "en"])
    return {"agent": agent, "customer": customer, "queue": queue}


def _state(page) -> str:
    return page.locator("#case-state").inner_text().strip()


def _step(page, code: str, state: str) -> None:
    page.locator(f"#step-{code} button").click()
    page.wait_for_function(f"document.querySelector('#case-state').innerText.trim() === {state!r}")


def _journey(page, world, size: str) -> None:
    width = 375 if size == "375" else 1920
    sign_in(page, "li.na")
    if size == "375":
        page.locator("#bc-nav-toggle").click()
    page.locator('#bc-sidenav a[data-nav-key="support.workspace"]').click()
    page.wait_for_url("**/support/")
    assert page.locator("#availability-status").inner_text() == "You are available for new cases"
    assert page.locator("#section-mine-empty").is_visible()
    screenshot(page, f"support-workspace-empty-{size}")

    # Open a phone case for the customer on the line.
    page.locator("#case-new-link").click()
    page.wait_for_url("**/support/cases/new/")
    page.get_by_label("Customer name, pinyin, phone, document or account number").fill("王小明")
    choice = page.get_by_label("王小明", exact=False).first
    choice.wait_for(state="visible")
    choice.check()
    page.get_by_label("Type (required)", exact=True).select_option("inquiry")
    assert page.get_by_label("Channel (required)", exact=True).input_value() == "phone"
    page.get_by_label("Subject (required)", exact=True).fill("Card declined abroad")
    page.get_by_label("What the customer asks or reports").fill(
        "The customer's debit card was declined at a shop in Singapore."
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"support-case-new-{size}")
    page.locator("#case-save").click()
    page.wait_for_url("**/support/cases/*/")
    case = ServiceCase.objects.get(subject="Card declined abroad")
    assert page.locator("#case-reference").inner_text() == case.reference
    assert _state(page) == "New"
    assert page.locator("#case-customer-name").inner_text() == "王小明"
    assert page.locator("#case-channel").inner_text() == "Phone"
    # The round robin gave the case to the only available agent.
    assert page.locator("#case-assignee").inner_text().strip() == "Li Na"

    # Two columns on a wide screen, one on a phone, never wider than the window.
    main = page.locator("#case-main").bounding_box()
    side = page.locator("#case-side").bounding_box()
    if size == "1920":
        assert side["x"] > main["x"] + main["width"] - 1
        assert abs(side["y"] - main["y"]) < 2
    else:
        assert side["y"] >= main["y"] + main["height"] - 1
        assert abs(side["x"] - main["x"]) < 2
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"support-case-{size}")

    # Reply to the customer (answered on the phone: recorded), in place.
    page.locator("#reply-body").fill("Your card is now enabled for payments abroad.")
    page.locator("#reply-send").click()
    page.locator('#messages li[data-direction="outbound"]').wait_for(state="visible")
    assert page.locator("#conversation-notice").inner_text() == "The reply is recorded."
    assert "Recorded" in page.locator('#messages li[data-direction="outbound"]').inner_text()
    # The first-response clock stopped in time (out-of-band update of the SLA box).
    page.wait_for_function(
        "document.querySelector('#case-sla-first_response [data-sla-clock]')"
        ".dataset.state === 'met'"
    )

    # Work the case, wait for the customer (the clock stands still), resolve it.
    _step(page, "start", "In progress")
    _step(page, "wait_for_customer", "Waiting on the customer")
    assert (
        page.locator("#case-sla-resolution [data-sla-clock]").get_attribute("data-state")
        == "paused"
    )
    reason = page.locator("#step-resolve-reason")
    reason.fill("Card enabled abroad; the customer confirmed a test payment.")
    page.locator("#step-resolve button").click()
    page.wait_for_function("document.querySelector('#case-state').innerText.trim() === 'Resolved'")
    assert "the customer confirmed a test payment" in page.locator("#case-resolution").inner_text()
    page.locator("#case-history").scroll_into_view_if_needed()
    screenshot(page, f"support-case-resolved-{size}")

    case.refresh_from_db()
    assert (case.state, case.is_open, case.channel) == ("resolved", False, "phone")
    assert case.first_responded_at is not None
    reply = CaseMessage.objects.get(case=case, direction="outbound")
    assert (reply.status, reply.author.username) == ("recorded", "li.na")

    # Back in the workspace the case is gone from the open cases.
    page.goto("/support/")
    assert page.locator("#section-mine-empty").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_an_agent_takes_a_phone_case_to_resolution(browser_page, service_world):
    _journey(browser_page, service_world, "1920")


@pytest.mark.parametrize("viewport", [PHONE])
def test_the_same_journey_on_a_phone(browser_page, service_world):
    _journey(browser_page, service_world, "375")
