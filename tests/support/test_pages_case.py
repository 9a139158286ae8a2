# ruff: noqa: F811 - the shared fixtures are imported by name
"""The case page and the case list: the conversation beside the customer's summary (through
the customers and banking selectors, masked and scoped), the SLA clocks, the quick actions
each through one service (a refusal shown on its field, nothing changed), HTMX notes and
replies, opening a case for a caller, the list's filters and search; 404 for a case out of
reach, 403 for a role without customer service."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from bankcrm.audit.models import AuditEvent
from bankcrm.support.models import CaseLink, CaseMessage, ServiceCase
from tests.factories.banking import AccountFactory, ProductFactory

from .conftest import shanghai
from .conftest_cases import stored
from .conftest_ui import (  # noqa: F401  (fixtures)
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


def case_url(case: Any, name: str = "case_detail") -> str:
    return reverse(f"support:{name}", args=[case.pk])


def htmx(target: str) -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target}


# --- Reading --------------------------------------------------------------------------------


def test_the_case_page_for_an_agent(ui_world: Any) -> None:
    world = ui_world
    response = client_for(world.bank.agent_cc).get(case_url(world.mine))
    assert response.status_code == 200
    page = html(response)
    assert text_of(by_id(page, "case-title")) == f"{world.mine.reference} · Card blocked abroad"
    assert text_of(by_id(page, "case-state")) == "New"
    assert text_of(by_id(page, "case-type")) == "Inquiry"
    assert text_of(by_id(page, "case-priority")) == "Normal"
    assert text_of(by_id(page, "case-channel")) == "Phone"
    assert text_of(by_id(page, "case-queue")) == "Contact centre"
    # Two columns from 992 px: the conversation left, the customer right.
    assert "col-lg-7" in by_id(page, "case-main").get("class")
    assert "col-lg-5" in by_id(page, "case-side").get("class")
    assert has_id(by_id(page, "case-main"), "case-conversation")
    assert has_id(by_id(page, "case-side"), "case-customer")
    # Both clocks, in business time.
    first = by_id(page, "case-sla-first_response")
    # Due Tuesday and Thursday 09:30 in Shanghai, shown in the agent's zone (UTC here).
    assert text_of(first) == "First response On track 4 h 45 min left due 3 Mar 2026, 01:30"
    assert text_of(by_id(page, "case-sla-resolution")) == (
        "Resolution On track 19 h 45 min left due 5 Mar 2026, 01:30"
    )
    # The steps open to an agent from "new".
    steps = [form.get("id") for form in page.xpath('//*[@id="step-buttons"]//form')]
    assert steps == ["step-triage", "step-start", "step-cancel"]
    assert by_id(page, "step-cancel-reason").get("required") is not None
    # The reply boxes the knowledge base picker writes into.
    assert by_id(page, "reply-body").tag == "textarea"
    assert by_id(page, "reply-subject").get("name") == "subject"
    assert by_id(page, "reply-template-code").get("name") == "template_code"
    assert has_id(page, "case-kb-picker")
    assert text_of(by_id(page, "messages-empty")) == "No messages yet."


def test_the_customer_summary_goes_through_the_customer_selectors(ui_world: Any) -> None:
    world = ui_world
    product = ProductFactory(code="CUR", name="Current account", category="current")
    AccountFactory(
        owner=world.bank.customer_a,
        branch=world.bank.branch_a,
        product=product,
        number="6222021000001234",
    )
    page = html(client_for(world.bank.agent_cc).get(case_url(world.mine)))
    assert text_of(by_id(page, "case-customer-name")) == "王小明"
    assert by_id(page, "case-customer-name").get("href") == reverse(
        "customers:detail", args=[world.bank.customer_a.pk]
    )
    assert text_of(by_id(page, "case-customer-rm")) == world.bank.rm_a.get_full_name()
    assert text_of(by_id(page, "case-customer-badges")).startswith("Mass retail Person")
    accounts = by_id(page, "case-customer-accounts").xpath("./li")
    assert [text_of(item) for item in accounts] == ["Current account **** 1234 CNY 10,000.00"]
    # The account number itself never reaches the page.
    assert "6222021000001234" not in page.text_content()
    # The customer's other open case, not this one.
    assert [a.text for a in by_id(page, "case-customer-cases").xpath(".//a")] == [
        world.breached.reference
    ]
    # An agent holds no compliance permission: no KYC band.
    assert not has_id(page, "case-customer-kyc")


def test_a_branch_manager_sees_the_kyc_band(ui_world: Any) -> None:
    world = ui_world
    page = html(client_for(world.bank.supervisor).get(case_url(world.mine)))
    assert text_of(by_id(page, "case-customer-kyc")) == "Not rated"


def test_a_case_without_customer_shows_the_contact_masked_and_a_search(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    page = html(client.get(case_url(world.warning)))
    contact = [text_of(item) for item in by_id(page, "case-contact").xpath(".//dd")]
    assert contact == ["张*", "—", "138****5678"]
    assert "13812345678" not in page.text_content()
    assert has_id(page, "case-link-customer")
    # The search (HTMX) offers the customers the agent may see.
    response = client.get(
        reverse("support:case_customer_search"), {"q": "王小明"}, **htmx("customer-results")
    )
    assert response.status_code == 200
    radios = html(response).xpath('//input[@name="party"]')
    assert [radio.get("value") for radio in radios] == [str(world.bank.customer_a.pk)]
    # Without script the same search runs on the case page.
    page = html(client.get(case_url(world.warning), {"q": "王小明"}))
    assert [r.get("value") for r in by_id(page, "party-form").xpath('.//input[@name="party"]')] == [
        str(world.bank.customer_a.pk)
    ]
    response = client.post(
        case_url(world.warning, "case_party_set"), {"party": str(world.bank.customer_a.pk)}
    )
    assert response.status_code == 302
    world.warning.refresh_from_db()
    assert world.warning.party_id == world.bank.customer_a.pk
    assert world.warning.org_unit_id == world.bank.branch_a.pk


def test_linking_a_customer_out_of_reach_names_the_field(ui_world: Any) -> None:
    world = ui_world
    before = stored(ServiceCase, world.warning.pk)
    response = client_for(world.bank.agent_a).post(
        case_url(world.warning, "case_party_set"), {"party": str(world.bank.customer_b.pk)}
    )
    # agent_a does not see the contact centre's cases at all.
    assert response.status_code == 404
    response = client_for(world.bank.agent_cc).post(
        case_url(world.warning, "case_party_set"), {"party": "not-a-key"}
    )
    assert response.status_code == 400
    page = html(response)
    assert text_of(by_id(page, "party_party_error")) == "Search for the customer and choose one."
    assert stored(ServiceCase, world.warning.pk) == before


def test_a_case_of_another_branch_is_404(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_a)
    assert client.get(case_url(world.other_branch)).status_code == 404
    for name in ("case_transition", "case_note_add", "case_reply", "case_take"):
        response = client.post(case_url(world.other_branch, name), {"transition": "start"})
        assert response.status_code == 404, name
    assert ServiceCase.objects.get(pk=world.other_branch.pk).state == "new"
    assert not CaseMessage.objects.filter(case=world.other_branch).exists()


def test_a_role_without_customer_service_gets_403(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.bank.analyst)
    for url in (
        reverse("support:case_list"),
        reverse("support:case_create"),
        case_url(world.mine),
        reverse("support:case_customer_search"),
    ):
        assert client.get(url).status_code == 403, url
    before = stored(ServiceCase, world.mine.pk)
    assert client.post(case_url(world.mine, "case_take")).status_code == 403
    assert stored(ServiceCase, world.mine.pk) == before


def test_an_auditor_reads_but_has_no_actions(ui_world: Any) -> None:
    world = ui_world
    auditor = world.bank.auditor
    auditor.mfa_enabled = True  # the auditor's role signs in with a second factor
    auditor.save(update_fields=["mfa_enabled"])
    response = client_for(auditor).get(case_url(world.mine))
    assert response.status_code == 200
    page = html(response)
    assert not has_id(page, "case-actions")
    assert not has_id(page, "reply-form")
    assert not has_id(page, "case-steps")
    response = client_for(auditor).post(case_url(world.mine, "case_take"))
    assert response.status_code == 403


# --- Quick actions --------------------------------------------------------------------------


def test_workflow_steps_and_a_reason_asked_where_required(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    response = client.post(case_url(world.mine, "case_transition"), {"transition": "start"})
    assert response.status_code == 302
    assert response["Location"] == case_url(world.mine)
    world.mine.refresh_from_db()
    assert world.mine.state == "in_progress"
    before = stored(ServiceCase, world.mine.pk)
    response = client.post(
        case_url(world.mine, "case_transition"), {"transition": "resolve", "reason": " "}
    )
    assert response.status_code == 400
    page = html(response)
    assert text_of(by_id(page, "step-resolve-reason-error")) == (
        "Say why you take the step “Resolve”."
    )
    assert by_id(page, "step-resolve-reason").get("aria-invalid") == "true"
    assert text_of(by_id(page, "step-errors")) == "Reason: Say why you take the step “Resolve”."
    assert stored(ServiceCase, world.mine.pk) == before
    response = client.post(
        case_url(world.mine, "case_transition"),
        {"transition": "resolve", "reason": "Card unblocked for travel."},
    )
    assert response.status_code == 302
    world.mine.refresh_from_db()
    assert (world.mine.state, world.mine.is_open) == ("resolved", False)
    assert world.mine.resolution_note == "Card unblocked for travel."


def test_a_step_not_open_from_the_state_is_refused(ui_world: Any) -> None:
    world = ui_world
    before = stored(ServiceCase, world.mine.pk)
    response = client_for(world.bank.agent_cc).post(
        case_url(world.mine, "case_transition"), {"transition": "close"}
    )
    assert response.status_code == 400
    assert "is not possible from the state" in text_of(by_id(html(response), "step-errors"))
    assert stored(ServiceCase, world.mine.pk) == before


def test_take_and_assign(ui_world: Any) -> None:
    world = ui_world
    bank = world.bank
    response = client_for(bank.agent_cc2).post(case_url(world.warning, "case_take"))
    assert response.status_code == 302
    world.warning.refresh_from_db()
    assert world.warning.assigned_to == bank.agent_cc2
    client = client_for(bank.agent_cc)
    page = html(client.get(case_url(world.warning)))
    choices = [o.get("value") for o in by_id(page, "assign_assignee").xpath(".//option")]
    assert choices == ["", str(bank.agent_cc.pk), str(bank.agent_cc2.pk)]
    response = client.post(case_url(world.warning, "case_assign"), {"assignee": ""})
    assert response.status_code == 302
    world.warning.refresh_from_db()
    assert world.warning.assigned_to is None
    response = client.post(
        case_url(world.warning, "case_assign"), {"assignee": str(bank.agent_b.pk)}
    )
    assert response.status_code == 400
    assert "is not one of the available choices" in text_of(
        by_id(html(response), "assign_assignee_error")
    )


def test_priority_change_reapplies_the_sla(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    response = client.post(
        case_url(world.mine, "case_update"),
        {
            "subject": "Card blocked abroad",
            "priority": "4",
            "queue": str(world.bank.contact_centre.pk),
        },
    )
    assert response.status_code == 302
    world.mine.refresh_from_db()
    assert (world.mine.priority, world.mine.first_response_target_minutes) == (4, 60)
    before = stored(ServiceCase, world.mine.pk)
    response = client.post(
        case_url(world.mine, "case_update"),
        {"subject": " ", "priority": "2", "queue": str(world.bank.contact_centre.pk)},
    )
    assert response.status_code == 400
    assert text_of(by_id(html(response), "update_subject_error")) == "This field is required."
    assert stored(ServiceCase, world.mine.pk) == before


def test_link_an_account_of_the_customer(ui_world: Any) -> None:
    world = ui_world
    product = ProductFactory(code="SAV", name="Savings account", category="savings")
    account = AccountFactory(
        owner=world.bank.customer_a, branch=world.bank.branch_a, product=product,
        number="6222021000005678",
    )  # fmt: skip
    other = AccountFactory(owner=world.bank.customer_b, branch=world.bank.branch_b)
    client = client_for(world.bank.agent_cc)
    page = html(client.get(case_url(world.mine)))
    values = [
        o.get("value") for o in by_id(page, "link_record").xpath(".//option") if o.get("value")
    ]
    assert values == [f"account:{account.pk}"]
    response = client.post(
        case_url(world.mine, "case_link_add"), {"record": f"account:{account.pk}"}
    )
    assert response.status_code == 302
    link = CaseLink.objects.get(case=world.mine)
    assert (link.kind, link.object_pk) == ("account", str(account.pk))
    page = html(client.get(case_url(world.mine)))
    assert [
        row.get("data-link") for row in by_id(page, "case-links").xpath(".//li[@data-link]")
    ] == ["account"]
    # Another customer's account is not offered, and posting it anyway is refused.
    response = client.post(case_url(world.mine, "case_link_add"), {"record": f"account:{other.pk}"})
    assert response.status_code == 400
    assert "is not one of the available choices" in text_of(
        by_id(html(response), "link_record_error")
    )
    assert CaseLink.objects.filter(case=world.mine).count() == 1
    response = client.post(reverse("support:case_link_remove", args=[world.mine.pk, link.pk]))
    assert response.status_code == 302
    assert not CaseLink.objects.filter(case=world.mine).exists()


def test_merge_a_duplicate_by_reference(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    before = stored(ServiceCase, world.breached.pk)
    response = client.post(
        case_url(world.breached, "case_merge"), {"into": "SC-2026-999999", "reason": "Same call"}
    )
    assert response.status_code == 400
    assert text_of(by_id(html(response), "merge_into_error")) == (
        "No case you may see has the reference SC-2026-999999."
    )
    response = client.post(case_url(world.breached, "case_merge"), {"into": "SC-1", "reason": "x"})
    assert text_of(by_id(html(response), "merge_into_error")) == (
        "Give a case reference such as SC-2026-000123."
    )
    assert stored(ServiceCase, world.breached.pk) == before
    response = client.post(
        case_url(world.breached, "case_merge"),
        {"into": world.mine.reference.lower(), "reason": "The same card, called twice."},
    )
    assert response.status_code == 302
    assert response["Location"] == case_url(world.mine)
    world.breached.refresh_from_db()
    assert world.breached.merged_into_id == world.mine.pk
    page = html(client.get(case_url(world.breached)))
    assert text_of(by_id(page, "case-merged-into")) == f"Merged into {world.mine.reference}"
    assert not has_id(page, "case-actions")


# --- The conversation -----------------------------------------------------------------------


def test_a_note_with_htmx_and_without(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    response = client.post(
        case_url(world.mine, "case_note_add"),
        {"text": "Called the customer back."},
        **htmx("case-conversation"),
    )
    assert response.status_code == 200
    fragment = html(response)
    notes = by_id(fragment, "case-conversation").xpath('.//li[@data-direction="note"]')
    assert [text_of(n.xpath('.//*[contains(@class, "bc-message-body")]')[0]) for n in notes] == [
        "Called the customer back."
    ]
    assert text_of(by_id(fragment, "conversation-notice")) == "The note is added."
    # An empty note: the field says what is missing (HTMX swaps 200 answers only).
    response = client.post(
        case_url(world.mine, "case_note_add"), {"text": ""}, **htmx("case-conversation")
    )
    assert response.status_code == 200
    assert text_of(by_id(html(response), "note_text_error")) == "This field is required."
    response = client.post(case_url(world.mine, "case_note_add"), {"text": ""})
    assert response.status_code == 400
    assert text_of(by_id(html(response), "note_text_error")) == "This field is required."
    response = client.post(case_url(world.mine, "case_note_add"), {"text": "Second note."})
    assert response.status_code == 302
    assert CaseMessage.objects.filter(case=world.mine, direction="note").count() == 2


def test_a_reply_is_recorded_and_stops_the_first_response_clock(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    events = AuditEvent.objects.count()
    response = client.post(
        case_url(world.mine, "case_reply"),
        {"body": "Your card is unblocked for travel.", "subject": ""},
        **htmx("case-conversation"),
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    page = html(response)
    assert text_of(by_id(page, "conversation-notice")) == "The reply is recorded."
    message = CaseMessage.objects.get(case=world.mine, direction="outbound")
    assert (message.status, message.body, message.author) == (
        "recorded", "Your card is unblocked for travel.", world.bank.agent_cc,
    )  # fmt: skip
    # The SLA clocks come along, out of band: the first response is met.
    assert 'id="case-sla" class="d-flex flex-wrap gap-3"' in fragment
    assert 'hx-swap-oob="true"' in fragment
    assert text_of(by_id(page, "case-sla-first_response")) == (
        "First response Met due 3 Mar 2026, 01:30"
    )
    assert AuditEvent.objects.count() > events
    response = client.post(case_url(world.mine, "case_reply"), {"body": "  "})
    assert response.status_code == 400
    assert text_of(by_id(html(response), "reply_body_error")) == "This field is required."


# --- Opening a case --------------------------------------------------------------------------


def test_open_a_phone_case_for_a_customer(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    page = html(
        client.get(reverse("support:case_create"), {"party": str(world.bank.customer_a.pk)})
    )
    chosen = by_id(page, f"party-{world.bank.customer_a.pk}")
    assert chosen.get("checked") is not None
    assert by_id(page, "case_channel").xpath(".//option[@selected]")[0].get("value") == "phone"
    response = client.post(
        reverse("support:case_create"),
        {
            "party": str(world.bank.customer_a.pk),
            "case_type": "service_request",
            "channel": "phone",
            "subject": "Replace a worn card",
            "description": "The chip no longer reads.",
            "language": "zh-hans",
        },
    )
    assert response.status_code == 302
    case = ServiceCase.objects.get(subject="Replace a worn card")
    assert response["Location"] == case_url(case)
    assert (case.party_id, case.channel, case.case_type.code, case.opened_by) == (
        world.bank.customer_a.pk, "phone", "service_request", world.bank.agent_cc,
    )  # fmt: skip


def test_opening_a_case_names_each_bad_field(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    count = ServiceCase.objects.count()
    response = client.post(
        reverse("support:case_create"),
        {"case_type": "service_request", "channel": "phone", "subject": "", "language": "en"},
    )
    assert response.status_code == 400
    page = html(response)
    assert text_of(by_id(page, "case_subject_error")) == "This field is required."
    # The service's own check (a service request needs the customer) on the form.
    response = client.post(
        reverse("support:case_create"),
        {"case_type": "service_request", "channel": "phone", "subject": "Card", "language": "en"},
    )
    assert response.status_code == 400
    page = html(response)
    assert text_of(by_id(page, "case_party_error")) != ""
    response = client.post(
        reverse("support:case_create"),
        {"case_type": "complaint", "channel": "branch", "subject": "Fees", "language": "en",
         "description": "Charged twice", "party": str(world.bank.customer_a.pk)},
    )  # fmt: skip
    assert response.status_code == 400
    page = html(response)
    assert text_of(by_id(page, "case_complaint_category_error")) == (
        "A complaint needs this for the regulator's returns."
    )
    assert ServiceCase.objects.count() == count


# --- The list --------------------------------------------------------------------------------


def test_the_case_list_filters_and_searches(ui_world: Any) -> None:
    world = ui_world
    client = client_for(world.bank.agent_cc)
    response = client.get(reverse("support:case_list"))
    assert response.status_code == 200
    page = html(response)
    # Newest first (the three others came in at 09:00); agent_cc, at head office, sees
    # branch B's case through their unit.
    rows = row_cases(page, "case-table")
    assert rows[0] == world.mine.reference
    assert set(rows[1:]) == {
        world.warning.reference, world.breached.reference, world.other_branch.reference,
    }  # fmt: skip
    page = html(client.get(reverse("support:case_list"), {"assigned": "me"}))
    assert row_cases(page, "case-table") == [world.mine.reference]
    page = html(client.get(reverse("support:case_list"), {"breached": "on"}))
    assert row_cases(page, "case-table") == [world.breached.reference]
    page = html(client.get(reverse("support:case_list"), {"q": world.warning.reference}))
    assert row_cases(page, "case-table") == [world.warning.reference]
    response = client.get(
        reverse("support:case_list"), {"q": "wrong account"}, **htmx("case-table")
    )
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert row_cases(html(response), "case-table") == [world.breached.reference]
    # The search with a filter: both apply.
    page = html(client.get(reverse("support:case_list"), {"q": "account", "priority": "2"}))
    assert row_cases(page, "case-table") == []
    page = html(client.get(reverse("support:case_list"), {"q": "account", "priority": "4"}))
    assert row_cases(page, "case-table") == [world.breached.reference]
    page = html(
        client.get(
            reverse("support:case_list"),
            {"customer": str(world.bank.customer_a.pk), "status": "all"},
        )
    )
    assert row_cases(page, "case-table") == [world.mine.reference, world.breached.reference]
    response = client.get(
        reverse("support:case_list"), {"received_to": "2026-03-01", "received_from": "2026-03-02"}
    )
    assert text_of(by_id(html(response), "filter-errors")) == (
        "Received until: The end of the period is before its start."
    )
    # A branch agent sees their branch only.
    page = html(client_for(world.bank.agent_b).get(reverse("support:case_list")))
    assert row_cases(page, "case-table") == [world.other_branch.reference]


# --- Complaint panel and survey --------------------------------------------------------------


def test_a_complaint_shows_the_complaint_panel(ui_world: Any, make_case: Any) -> None:
    world = ui_world
    complaint = make_case(
        case_type="complaint",
        subject="Charged twice for a transfer",
        description="The fee was taken twice on 1 March.",
        party=world.bank.customer_a,
        queue=world.bank.contact_centre,
        assigned_to=world.bank.agent_cc,
        complaint={"category": "other", "product": "other"},
        received_at=shanghai(2026, 3, 2, 10, 0),
    )
    page = html(client_for(world.bank.agent_cc).get(case_url(complaint)))
    panel = by_id(page, "case-complaint")
    assert has_id(panel, "complaint-panel")
    assert text_of(by_id(panel, "complaint-received-on")) == "2 Mar 2026"
    assert text_of(by_id(page, "case-type")) == "Complaint"
    assert text_of(by_id(page, "case-description")) == (
        "Description The fee was taken twice on 1 March."
    )
    # Not a complaint: no panel.
    page = html(client_for(world.bank.agent_cc).get(case_url(world.mine)))
    assert not has_id(page, "case-complaint")


def test_the_survey_result_once_answered(ui_world: Any) -> None:
    from bankcrm.support.models import SatisfactionSurvey

    world = ui_world
    survey = SatisfactionSurvey.objects.create(
        case=world.mine,
        sent_at=shanghai(2026, 3, 2, 12, 0),
        expires_at=shanghai(2026, 3, 16, 12, 0),
    )
    page = html(client_for(world.bank.agent_cc).get(case_url(world.mine)))
    assert by_id(page, "case-survey").get("data-status") == "sent"
    assert text_of(by_id(page, "survey-pending")) == (
        "Sent on 2 Mar 2026; not answered yet (the link works until 16 Mar 2026)."
    )
    survey.responded_at = shanghai(2026, 3, 2, 13, 0)
    survey.csat, survey.nps, survey.comment = 4, 9, "Quick and polite."
    survey.save()
    page = html(client_for(world.bank.agent_cc).get(case_url(world.mine)))
    assert text_of(by_id(page, "survey-csat")) == "4 · Satisfied"
    assert text_of(by_id(page, "survey-nps")) == "9"
    assert text_of(by_id(page, "survey-comment")) == "Quick and polite."


def test_a_customer_out_of_the_agents_reach_stays_masked(ui_world: Any, make_case: Any) -> None:
    world = ui_world
    bank = world.bank
    # A case of branch B's customer worked in branch A's queue: agent_a sees the case
    # through the queue, not the customer.
    from bankcrm.core.actor import SYSTEM

    case = make_case(
        actor=SYSTEM,
        subject="Card delivered to the wrong branch",
        party=bank.customer_b,
        queue=bank.queue_a,
        assigned_to=bank.agent_a,
        received_at=shanghai(2026, 3, 2, 9, 0),
    )
    client = client_for(bank.agent_a)
    page = html(client.get(case_url(case)))
    assert text_of(by_id(page, "case-customer-name")) == "李**"
    assert has_id(page, "case-customer-out-of-reach")
    assert "李大伟" not in page.text_content()
    row = html(client.get("/support/")).xpath(f'//tr[@data-case="{case.reference}"]')[0]
    assert text_of(row.xpath("./td")[1]) == "李**"
    assert not row.xpath(".//a[contains(@href, '/customers/')]")
