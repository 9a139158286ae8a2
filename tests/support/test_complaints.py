"""Complaints: the seeded classification and deadline rule, the statutory deadline (calendar
and working days, day 1 being the day after receipt), opening, updating and extending a
complaint, the complaint panel of the case page and the complaint API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from bankcrm.audit.models import AuditEvent
from bankcrm.core.models import BusinessCalendar
from bankcrm.core.timefmt import bank_today
from bankcrm.events.models import OutboxEvent
from bankcrm.support import services_complaints
from bankcrm.support.models import Complaint, ComplaintCode, ComplaintDeadlineRule
from bankcrm.support.services_complaints import (
    complaint_deadline,
    complaint_extend,
    complaint_open,
    complaint_update,
)
from bankcrm.support.views_complaints import complaint_panel_context

from .conftest import shanghai, utc
from .conftest_complaints import client_for, open_complaint

pytestmark = pytest.mark.django_db


def _rule(code: str = "cn_15_30") -> ComplaintDeadlineRule:
    return ComplaintDeadlineRule.objects.get(code=code)


def _days_ago(days: int) -> dt.datetime:
    """Noon (Shanghai) ``days`` bank days before today."""
    day = bank_today() - dt.timedelta(days=days)
    return shanghai(day.year, day.month, day.day, 12, 0)


# --- Seeded data ---------------------------------------------------------------------------


def test_migration_seeds_codes_and_the_default_rule() -> None:
    kinds = {
        kind: set(ComplaintCode.objects.filter(kind=kind).values_list("code", flat=True))
        for kind in ("category", "product", "root_cause")
    }
    assert {"debit_card", "credit_card", "personal_loan", "wealth_management", "payment",
            "savings", "personal_info", "other"} <= kinds["category"]  # fmt: skip
    assert {"credit_card", "mortgage", "other"} <= kinds["product"]
    assert {"service_quality", "process", "system_failure", "disclosure", "fees",
            "marketing", "contract", "other"} <= kinds["root_cause"]  # fmt: skip
    credit = ComplaintCode.objects.get(kind="category", code="credit_card")
    assert (credit.name, credit.name_zh) == ("Credit cards", "信用卡")
    assert ComplaintCode.objects.get(kind="root_cause", code="process").name_zh == "业务办理流程"
    rule = ComplaintDeadlineRule.objects.get(is_default=True)
    assert (rule.code, rule.days, rule.day_kind, rule.extended_days) == (
        "cn_15_30", 15, "calendar", 30,
    )  # fmt: skip
    # The rule says how it counts: day 1 is the day after receipt.
    assert "day 1 being the day after receipt" in rule.name
    assert "收到投诉之日起15日内" in rule.name and "次日起算" in rule.name


# --- Deadlines -------------------------------------------------------------------------------


def test_calendar_deadline_counts_from_the_day_after_receipt() -> None:
    rule = _rule()
    received = dt.date(2026, 9, 28)
    # Day 1 is 29 September: the 15th day is 13 October.
    assert complaint_deadline(rule=rule, received_on=received) == dt.date(2026, 10, 13)
    assert complaint_deadline(rule=rule, received_on=received, extended=True) == dt.date(
        2026, 10, 28
    )


def test_business_day_deadline_skips_national_day_and_counts_the_adjusted_saturday() -> None:
    calendar = BusinessCalendar.objects.get(code="CN")
    rule = ComplaintDeadlineRule.objects.create(
        code="cn_working_15", name="15 working days", days=15, day_kind="business",
        extended_days=30, calendar=calendar,
    )  # fmt: skip
    received = dt.date(2026, 9, 28)  # a Monday
    # Working days after receipt: 29, 30 Sep; 1–7 Oct are holidays; 8, 9 Oct; Saturday 10 Oct
    # is an adjusted working day; then 12–16, 19–23 Oct.
    short = ComplaintDeadlineRule(
        code="x", name="x", days=5, day_kind="business", calendar=calendar
    )
    assert complaint_deadline(rule=short, received_on=received) == dt.date(2026, 10, 10)
    assert complaint_deadline(rule=rule, received_on=received) == dt.date(2026, 10, 23)
    # 30 working days: 24 Oct – 13 Nov give the remaining 15.
    assert complaint_deadline(rule=rule, received_on=received, extended=True) == dt.date(
        2026, 11, 13
    )


def test_business_day_rule_without_calendar_uses_the_default_calendar() -> None:
    rule = ComplaintDeadlineRule(code="y", name="y", days=3, day_kind="business")
    # Received on the last working day before National Day: 8, 9, 10 October.
    assert complaint_deadline(rule=rule, received_on=dt.date(2026, 9, 30)) == dt.date(2026, 10, 10)


def test_a_rule_without_extension_cannot_extend() -> None:
    rule = ComplaintDeadlineRule(code="z", name="z", days=15, extended_days=0)
    with pytest.raises(ValueError):
        complaint_deadline(rule=rule, received_on=dt.date(2026, 9, 28), extended=True)


# --- Opening ---------------------------------------------------------------------------------


def test_open_records_the_facts_deadline_audit_and_event(service_bank) -> None:
    sb = service_bank
    # 27 Sep 17:30 UTC is 28 Sep 01:30 in Shanghai: received on the bank's 28 September.
    complaint = open_complaint(
        sb, received_at=utc(2026, 9, 27, 17, 30), root_cause="fees", category="credit_card",
        product="credit_card",
    )  # fmt: skip
    assert complaint.received_on == dt.date(2026, 9, 28)
    assert complaint.deadline == dt.date(2026, 10, 13)
    assert complaint.deadline_rule.code == "cn_15_30"
    assert (complaint.category.code, complaint.product.code, complaint.root_cause.code) == (
        "credit_card", "credit_card", "fees",
    )  # fmt: skip
    assert complaint.redress_status == "none" and complaint.escalated_at is None
    audit = AuditEvent.objects.get(action="complaint.open", object_pk=str(complaint.pk))
    assert audit.after["deadline"] == "2026-10-13"
    assert audit.actor == "agent_cc"
    event = OutboxEvent.objects.get(type="complaint.opened", object_pk=str(complaint.pk))
    assert event.payload == {
        "complaint": complaint.pk,
        "case": str(complaint.case_id),
        "reference": complaint.case.reference,
        "deadline": "2026-10-13",
        "category": "credit_card",
        "product": "credit_card",
        "received_on": "2026-09-28",
    }


def test_open_names_each_bad_field_and_writes_nothing(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(2))
    case = complaint.case
    complaint.delete()
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as caught:
        complaint_open(
            actor=sb.agent_cc, case=case, category="loans", product="", root_cause="rudeness",
            received_on=bank_today() + dt.timedelta(days=1), rule="nfra_99",
        )  # fmt: skip
    assert set(caught.value.message_dict) == {
        "category", "product", "root_cause", "received_on", "rule",
    }  # fmt: skip
    assert caught.value.message_dict["category"] == [
        "“loans” is not an active regulatory category code."
    ]
    assert caught.value.message_dict["received_on"] == [
        "A complaint cannot be received in the future."
    ]
    assert not Complaint.objects.filter(case=case).exists()
    assert AuditEvent.objects.count() == before


def test_open_refuses_a_retired_code_and_a_second_complaint(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(1))
    ComplaintCode.objects.filter(kind="product", code="fund").update(is_active=False)
    with pytest.raises(ValidationError) as caught:
        complaint_open(actor=sb.agent_cc, case=complaint.case, category="other", product="fund")
    assert caught.value.message_dict == {
        "case": ["This case already has its complaint details."],
        "product": ["“fund” is not an active product code."],
    }


# --- Updating --------------------------------------------------------------------------------


def test_update_changes_outcome_root_cause_answer_date_and_audits(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(5))
    answered = bank_today() - dt.timedelta(days=1)
    updated = complaint_update(
        actor=sb.agent_a,
        complaint=complaint,
        changes={"root_cause": "process", "outcome": "upheld", "answered_on": answered,
                 "product": "mobile_banking"},
    )  # fmt: skip
    updated.refresh_from_db()
    assert (updated.root_cause.code, updated.outcome, updated.answered_on) == (
        "process", "upheld", answered,
    )  # fmt: skip
    assert updated.product.code == "mobile_banking"
    audit = AuditEvent.objects.get(action="complaint.update", object_pk=str(complaint.pk))
    credit_card = ComplaintCode.objects.get(kind="product", code="credit_card")
    assert audit.before == {
        "root_cause": None, "outcome": "", "answered_on": None, "product": credit_card.pk,
    }  # fmt: skip
    assert audit.after["outcome"] == "upheld"
    assert audit.actor == "agent_a"


def test_update_refuses_unknown_fields_and_impossible_dates(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(5))
    with pytest.raises(ValidationError) as caught:
        complaint_update(
            actor=sb.agent_a,
            complaint=complaint,
            changes={"deadline": "2030-01-01", "answered_on": complaint.received_on
                     - dt.timedelta(days=1), "outcome": "maybe"},
        )  # fmt: skip
    assert caught.value.message_dict == {
        "deadline": ["This field cannot be changed here."],
        "answered_on": [
            f"The answer cannot come before the complaint was received "
            f"({complaint.received_on.isoformat()})."
        ],
        "outcome": ["Choose one of the outcomes."],
    }
    complaint.refresh_from_db()
    assert complaint.outcome == "" and complaint.answered_on is None


def test_update_is_out_of_reach_for_another_branch_and_for_relationship_managers(
    service_bank,
) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(5))
    with pytest.raises(Complaint.DoesNotExist):
        complaint_update(actor=sb.agent_b, complaint=complaint, changes={"outcome": "upheld"})
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):  # an RM may open complaints but not change them
        complaint_update(actor=sb.rm_a, complaint=complaint, changes={"outcome": "upheld"})
    complaint.refresh_from_db()
    assert complaint.outcome == ""


# --- Extension -------------------------------------------------------------------------------


def test_extend_once_with_a_reason_on_the_exact_dates(service_bank, monkeypatch) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=shanghai(2026, 9, 28, 10, 0))
    assert complaint.deadline == dt.date(2026, 10, 13)
    monkeypatch.setattr(services_complaints, "bank_today", lambda: dt.date(2026, 10, 9))
    with pytest.raises(ValidationError) as caught:
        complaint_extend(actor=sb.agent_a, complaint=complaint, reason="  ")
    assert caught.value.message_dict == {"reason": ["Say why the complaint needs more time."]}
    extended = complaint_extend(
        actor=sb.agent_a, complaint=complaint, reason="Card scheme investigation pending"
    )
    assert extended.deadline == dt.date(2026, 10, 28)
    assert extended.extended_by == sb.agent_a and extended.extended_at is not None
    assert extended.extension_reason == "Card scheme investigation pending"
    audit = AuditEvent.objects.get(action="complaint.extend", object_pk=str(complaint.pk))
    assert (audit.before["deadline"], audit.after["deadline"]) == ("2026-10-13", "2026-10-28")
    assert audit.reason == "Card scheme investigation pending"
    event = OutboxEvent.objects.get(type="complaint.extended")
    assert event.payload["previous_deadline"] == "2026-10-13"
    assert event.payload["deadline"] == "2026-10-28"
    with pytest.raises(ValidationError) as again:
        complaint_extend(actor=sb.agent_a, complaint=complaint, reason="More time")
    assert again.value.message_dict == {"reason": ["The deadline has already been extended once."]}
    complaint.refresh_from_db()
    assert complaint.deadline == dt.date(2026, 10, 28)


def test_extend_refused_after_the_deadline_and_without_an_extendable_rule(
    service_bank, monkeypatch
) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=shanghai(2026, 9, 28, 10, 0))
    monkeypatch.setattr(services_complaints, "bank_today", lambda: dt.date(2026, 10, 14))
    with pytest.raises(ValidationError) as late:
        complaint_extend(actor=sb.agent_a, complaint=complaint, reason="Need more time")
    assert late.value.message_dict == {
        "reason": ["The deadline has passed; it can no longer be extended."]
    }
    fixed = ComplaintDeadlineRule.objects.create(code="fixed_15", name="15 days", days=15)
    Complaint.objects.filter(pk=complaint.pk).update(deadline_rule=fixed)
    monkeypatch.setattr(services_complaints, "bank_today", lambda: dt.date(2026, 10, 1))
    with pytest.raises(ValidationError) as no_rule:
        complaint_extend(actor=sb.agent_a, complaint=complaint, reason="Need more time")
    assert no_rule.value.message_dict == {
        "reason": ["The deadline rule of this complaint allows no extension."]
    }
    complaint.refresh_from_db()
    assert complaint.deadline == dt.date(2026, 10, 13) and complaint.extended_at is None


# --- The complaint panel ---------------------------------------------------------------------


def test_panel_context_counts_the_days_left_and_offers_the_extension(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(3))
    context = complaint_panel_context(sb.agent_a, complaint.case)
    assert context["complaint"] == complaint
    assert context["complaint_days_left"] == 12
    assert context["complaint_is_overdue"] is False
    assert context["complaint_may_extend"] is True
    assert context["complaint_may_set_redress"] is True
    assert context["complaint_urls"]["extend"] == reverse(
        "support:complaint_extend", args=[complaint.case_id]
    )
    complaint_extend(actor=sb.agent_a, complaint=complaint, reason="Waiting for the card scheme")
    context = complaint_panel_context(sb.agent_a, complaint.case)
    assert context["complaint_days_left"] == 27
    assert context["complaint_may_extend"] is False
    assert context["complaint_extension_refusal"] == "The deadline has already been extended once."
    # Read-only viewers see the facts but no form; other branches see nothing.
    viewer = complaint_panel_context(sb.rm_a, complaint.case)
    assert viewer["complaint"] == complaint and viewer["complaint_may_change"] is False
    assert viewer["complaint_may_extend"] is False
    assert complaint_panel_context(sb.agent_b, complaint.case)["complaint"] is None


def test_panel_renders_overdue_in_red_without_the_extension_form(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(20))
    response = client_for(sb.agent_a).get(
        reverse("support:complaint_panel", args=[complaint.case_id]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        '<span class="badge text-bg-danger" id="complaint-deadline-badge">Overdue by 5 days' in html
    )
    assert 'id="complaint-extend"' not in html
    assert 'id="complaint-redress-form"' in html
    assert "<html" not in html  # the partial only


def test_panel_page_is_404_for_another_branch(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(3))
    url = reverse("support:complaint_panel", args=[complaint.case_id])
    assert client_for(sb.agent_b).get(url).status_code == 404
    extend = reverse("support:complaint_extend", args=[complaint.case_id])
    response = client_for(sb.agent_b).post(extend, {"extend-reason": "More time"})
    assert response.status_code == 404
    complaint.refresh_from_db()
    assert complaint.extended_at is None


def test_panel_extend_form_over_htmx_and_without_script(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(3))
    url = reverse("support:complaint_extend", args=[complaint.case_id])
    client = client_for(sb.agent_a)
    refused = client.post(url, {"extend-reason": ""}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400
    assert "Say why the complaint needs more time." in refused.content.decode()
    done = client.post(
        url, {"extend-reason": "Waiting for the card scheme"}, HTTP_HX_REQUEST="true"
    )
    assert done.status_code == 200
    html = done.content.decode()
    assert "The deadline was extended." in html
    assert "27 days left" in html
    assert 'id="complaint-extend"' not in html
    complaint.refresh_from_db()
    assert complaint.deadline == bank_today() - dt.timedelta(days=3) + dt.timedelta(days=30)
    update = client.post(
        reverse("support:complaint_update", args=[complaint.case_id]),
        {"complaint-category": "credit_card", "complaint-product": "credit_card",
         "complaint-root_cause": "fees", "complaint-outcome": "partly_upheld",
         "complaint-answered_on": ""},
    )  # fmt: skip
    assert update.status_code == 302
    complaint.refresh_from_db()
    assert (complaint.root_cause.code, complaint.outcome) == ("fees", "partly_upheld")


# --- API -------------------------------------------------------------------------------------


def test_api_reads_patches_and_extends(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(3))
    client = client_for(sb.agent_a)
    base = f"/api/v1/support/cases/{complaint.case_id}/complaint"
    got = client.get(base).json()
    assert got["reference"] == complaint.case.reference
    assert got["days_left"] == 12 and got["is_overdue"] is False
    assert got["category"] == {"code": "credit_card", "name": "Credit cards", "name_zh": "信用卡"}
    patched = client.patch(
        base, json.dumps({"outcome": "not_upheld", "root_cause": "contract"}),
        content_type="application/json",
    )  # fmt: skip
    assert patched.status_code == 200
    assert patched.json()["outcome"] == "not_upheld"
    assert patched.json()["root_cause"]["code"] == "contract"
    bad = client.post(
        f"{base}/extend", json.dumps({"reason": " "}), content_type="application/json"
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "body.reason", "message": "Say why the complaint needs more time.",
         "code": "complaint_invalid"},
    ]  # fmt: skip
    ok = client.post(
        f"{base}/extend", json.dumps({"reason": "Branch CCTV review"}),
        content_type="application/json",
    )  # fmt: skip
    assert ok.status_code == 200 and ok.json()["extended"] is True
    assert ok.json()["days_left"] == 27
    assert client_for(sb.agent_b).get(base).status_code == 404


def test_api_lists_complaints_of_a_period_in_scope(service_bank) -> None:
    sb = service_bank
    first = open_complaint(sb, received_at=shanghai(2026, 10, 5, 9, 0))
    open_complaint(sb, received_at=shanghai(2026, 11, 2, 9, 0))
    open_complaint(sb, party="customer_b", received_at=shanghai(2026, 10, 6, 9, 0))
    rows = (
        client_for(sb.agent_a)
        .get("/api/v1/support/complaints", {"date_from": "2026-10-01", "date_to": "2026-10-31"})
        .json()
    )
    assert [row["reference"] for row in rows] == [first.case.reference]
    everyone = (
        client_for(sb.supervisor)
        .get("/api/v1/support/complaints", {"date_from": "2026-10-01", "date_to": "2026-10-31"})
        .json()
    )
    assert [row["received_on"] for row in everyone] == ["2026-10-05", "2026-10-06"]


def test_the_case_page_shows_the_complaint_panel(service_bank) -> None:
    sb = service_bank
    complaint = open_complaint(sb, received_at=_days_ago(3))
    response = client_for(sb.agent_a).get(reverse("support:case_detail", args=[complaint.case_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="complaint-panel"' in html
    assert "12 days left" in html
    assert reverse("support:complaint_extend", args=[complaint.case_id]) in html
