"""Response templates: placeholders checked when a template is saved (each unknown one named,
nothing stored), rendered for a case in its language with exact values (dates in the bank's
zone, a complaint's statutory deadline), never failing on a missing value; the five seeded
templates are bilingual, valid and render completely; edits are audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.audit.models import AuditEvent
from bankcrm.support import services_knowledge
from bankcrm.support.models import ResponseTemplate
from bankcrm.support.services_knowledge import (
    PLACEHOLDERS,
    template_create,
    template_problems,
    template_render,
    template_update,
)

from .conftest import utc
from .conftest_knowledge import Notified, knowledge_parts, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb_parts(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notified]:
    yield from knowledge_parts(monkeypatch)


SEEDED = [
    "acknowledgement",
    "complaint_acknowledgement",
    "resolution",
    "survey_invitation",
    "waiting_on_customer",
]
ALL_PLACEHOLDERS = " ".join(f"{{{name}}}" for name in PLACEHOLDERS)


@pytest.fixture
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    today = dt.date(2026, 3, 2)
    monkeypatch.setattr(services_knowledge, "bank_today", lambda: today)
    return today


def _template(**values: Any) -> ResponseTemplate:
    defaults = {"code": "all_values", "name": "All values", "body_en": "x", "body_zh": "x"}
    return ResponseTemplate.objects.create(**{**defaults, **values})


# --- Placeholders ----------------------------------------------------------------------------


def test_known_placeholders_and_literal_braces_are_fine() -> None:
    assert template_problems(ALL_PLACEHOLDERS) == []
    assert template_problems("Fees {{in braces}} stay; {case_reference}.") == []
    assert template_problems("") == []


def test_unknown_placeholders_are_named_once_each() -> None:
    problems = template_problems("Dear {customer}, see {customer} and {Case_Reference}.")
    assert len(problems) == 2
    assert problems[0].startswith("Unknown placeholder {customer}; use one of: {case_reference},")
    assert problems[1].startswith("Unknown placeholder {Case_Reference};")


def test_lone_braces_are_reported() -> None:
    assert template_problems("Dear {customer_name") == [
        "A “{” opens no placeholder; write {{ for a brace."
    ]
    assert template_problems("Dear customer_name}") == [
        "A “}” closes no placeholder; write }} for a brace."
    ]


# --- Rendering -------------------------------------------------------------------------------


def test_every_placeholder_renders_exactly_in_english_and_chinese(
    service_bank: Any, kb_parts: Any, fixed_today: dt.date, settings: Any
) -> None:
    settings.BANK_NAME = "Bank of Example"
    agent = service_bank.agent_cc
    agent.first_name, agent.last_name = "Mei", "Chen"
    agent.save(update_fields=["first_name", "last_name"])
    case = make_case(subject="Card blocked after travel", contact_name="Zhang Wei")
    case.assigned_to = agent
    # 17:00 UTC is 01:00 the next day in Shanghai: the bank's date is the 5th.
    case.resolution_due_at = utc(2026, 3, 4, 17, 0)
    template = _template(
        subject_en="[{case_reference}] {case_subject}",
        body_en=ALL_PLACEHOLDERS,
        subject_zh="{case_reference}",
        body_zh=ALL_PLACEHOLDERS,
    )

    subject, body = template_render(
        template=template, case=case, language="en", extra={"survey_link": "https://x/s/1/"}
    )
    assert subject == f"[{case.reference}] Card blocked after travel"
    assert body == (
        f"{case.reference} Card blocked after travel Zhang Wei Mei Chen Bank of Example "
        "5 Mar 2026 https://x/s/1/ Contact centre 2 Mar 2026"
    )
    subject_zh, body_zh = template_render(template=template, case=case, language="zh-hans")
    assert subject_zh == case.reference
    assert body_zh == (
        f"{case.reference} Card blocked after travel Zhang Wei Mei Chen Bank of Example "
        "2026年3月5日  客服中心 2026年3月2日"
    )


def test_language_defaults_to_the_case_and_falls_back_to_the_other_text(
    service_bank: Any, kb_parts: Any
) -> None:
    case = make_case(language="zh-hans")
    template = _template(
        subject_en="Hello", body_en="Reference {case_reference}", body_zh="", subject_zh=""
    )
    assert template_render(template=template, case=case) == (
        "Hello",
        f"Reference {case.reference}",
    )
    template.body_zh = "编号 {case_reference}"
    template.save()
    assert template_render(template="all_values", case=case) == ("Hello", f"编号 {case.reference}")


def test_missing_values_and_unknown_placeholders_render_empty(
    service_bank: Any, kb_parts: Any
) -> None:
    case = make_case(contact_name="")
    case.assigned_to = None
    case.resolution_due_at = None
    # Written past the service (an old row): rendering still never fails.
    template = _template(
        body_en="[{customer_name}][{agent_name}][{due_date}][{survey_link}][{nonsense}]{{x}}{"
    )
    assert template_render(template=template, case=case, language="en") == (
        "",
        "[][][][][]{x}{",
    )


def test_customer_name_comes_from_the_linked_customer(service_bank: Any, kb_parts: Any) -> None:
    case = make_case(party=service_bank.customer_a, contact_name="Someone Else")
    template = _template(body_en="Dear {customer_name}")
    assert template_render(template=template, case=case, language="en")[1] == "Dear 王小明"


def test_a_complaint_due_date_is_its_statutory_deadline(service_bank: Any, kb_parts: Any) -> None:
    case = make_case(case_type="complaint")
    deadline = case.complaint.deadline
    case.resolution_due_at = utc(2030, 1, 1, 0, 0)
    template = _template(body_en="By {due_date}", body_zh="于{due_date}前")
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    expected_en = f"By {deadline.day} {months[deadline.month - 1]} {deadline.year}"
    assert template_render(template=template, case=case, language="en")[1] == expected_en
    assert template_render(template=template, case=case, language="zh-hans")[1] == (
        f"于{deadline.year}年{deadline.month}月{deadline.day}日前"
    )


def test_a_value_is_never_read_as_a_template(service_bank: Any, kb_parts: Any) -> None:
    case = make_case(subject="Why {bank_name}? {{literal}}")
    template = _template(body_en="{case_subject}")
    assert template_render(template=template, case=case, language="en")[1] == (
        "Why {bank_name}? {{literal}}"
    )


def test_an_unknown_template_code_raises_does_not_exist(service_bank: Any, kb_parts: Any) -> None:
    case = make_case()
    with pytest.raises(ResponseTemplate.DoesNotExist):
        template_render(template="no_such_template", case=case)


# --- Seeded templates ------------------------------------------------------------------------


def test_the_seeded_templates_are_bilingual_valid_and_render_completely(
    service_bank: Any, kb_parts: Any
) -> None:
    seeded = ResponseTemplate.objects.filter(code__in=SEEDED).order_by("code")
    assert [template.code for template in seeded] == SEEDED
    complaint_type = ResponseTemplate.objects.get(code="complaint_acknowledgement").case_type
    assert complaint_type is not None and complaint_type.code == "complaint"
    case = make_case(case_type="complaint")
    for template in seeded:
        assert template.is_active
        for name in ("subject_en", "subject_zh", "body_en", "body_zh"):
            text = getattr(template, name)
            assert text, (template.code, name)
            assert template_problems(text) == [], (template.code, name)
            assert "{case_reference}" in text, (template.code, name)
        for language in ("en", "zh-hans"):
            subject, body = template_render(
                template=template,
                case=case,
                language=language,
                extra={"survey_link": "https://bank.example/contact/survey/t/"},
            )
            assert case.reference in subject
            assert case.reference in body
            assert "{" not in body and "}" not in body, (template.code, language)
    invitation = ResponseTemplate.objects.get(code="survey_invitation")
    assert "{survey_link}" in invitation.body_en and "{survey_link}" in invitation.body_zh


# --- Create and update -----------------------------------------------------------------------


def test_create_checks_every_field_and_names_the_unknown_placeholder(
    service_bank: Any, kb_parts: Any
) -> None:
    before = ResponseTemplate.objects.count()
    with pytest.raises(ValidationError) as caught:
        template_create(
            actor=service_bank.manager_a,
            code="Bad Code",
            name="",
            body_en="Dear {customer}",
            body_zh="",
            subject_zh="{case_reference",
        )
    errors = caught.value.message_dict
    assert sorted(errors) == ["body_en", "body_zh", "code", "name", "subject_zh"]
    assert errors["body_en"][0].startswith("Unknown placeholder {customer};")
    assert errors["body_zh"] == ["Write the Chinese text."]
    assert errors["code"] == ["Use lower-case letters, digits and _ only (at most 64)."]
    assert errors["subject_zh"] == ["A “{” opens no placeholder; write {{ for a brace."]
    assert ResponseTemplate.objects.count() == before


def test_create_and_update_are_audited(service_bank: Any, kb_parts: Any) -> None:
    template = template_create(
        actor=service_bank.manager_a,
        code="card_replacement",
        name="Card replacement",
        case_type="service_request",
        subject_en="Your new card ({case_reference})",
        body_en="Dear {customer_name}, your new card is on its way.",
        body_zh="尊敬的{customer_name}：您的新卡已寄出。",
    )
    created = AuditEvent.objects.get(action="response_template.create", object_pk=str(template.pk))
    assert created.actor == "manager_a"
    assert created.after["code"] == "card_replacement"
    assert created.after["case_type"] == template.case_type.pk

    updated = template_update(
        actor=service_bank.manager_a,
        template=template,
        changes={
            "body_en": "Dear {customer_name}, your new card was posted today.",
            "is_active": False,
        },
    )
    assert (updated.body_en, updated.is_active) == (
        "Dear {customer_name}, your new card was posted today.",
        False,
    )
    event = AuditEvent.objects.get(action="response_template.update", object_pk=str(template.pk))
    assert event.before == {
        "body_en": "Dear {customer_name}, your new card is on its way.",
        "is_active": True,
    }
    assert event.after == {
        "body_en": "Dear {customer_name}, your new card was posted today.",
        "is_active": False,
    }


def test_update_refuses_a_code_change_and_unknown_placeholders(
    service_bank: Any, kb_parts: Any
) -> None:
    template = ResponseTemplate.objects.get(code="resolution")
    body = template.body_en
    with pytest.raises(ValidationError) as caught:
        template_update(
            actor=service_bank.manager_a,
            template=template,
            changes={"code": "resolved", "body_en": "Hi {first_name}"},
        )
    assert caught.value.message_dict["code"] == ["A template's code cannot be changed."]
    assert caught.value.message_dict["body_en"][0].startswith("Unknown placeholder {first_name};")
    template.refresh_from_db()
    assert (template.code, template.body_en) == ("resolution", body)
    assert not AuditEvent.objects.filter(action="response_template.update").exists()


def test_only_those_who_may_add_or_change_templates_do(service_bank: Any, kb_parts: Any) -> None:
    with pytest.raises(PermissionDenied):
        template_create(actor=service_bank.auditor, code="x", name="X", body_en="a", body_zh="b")
    with pytest.raises(PermissionDenied):
        template_update(
            actor=service_bank.compliance,
            template=ResponseTemplate.objects.get(code="resolution"),
            changes={"name": "Renamed"},
        )
    assert not ResponseTemplate.objects.filter(code="x").exists()
    assert ResponseTemplate.objects.get(code="resolution").name == "Request resolved"
