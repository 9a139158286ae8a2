"""The satisfaction survey: sent once per resolution after the resolving transaction commits,
with a signed link that expires after SUPPORT_SURVEY_DAYS; re-armed for a new resolution
while unanswered; answered once (CSAT 1–5 required, NPS 0–10 optional, comment encrypted);
tampered and expired links change nothing and say so; the result summarised for the case
page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.events.models import OutboxEvent
from bankcrm.support import services_survey
from bankcrm.support.models import CaseMessage, ResponseTemplate, SatisfactionSurvey
from bankcrm.support.selectors_knowledge import survey_summary
from bankcrm.support.services_survey import (
    SurveyAlreadyAnswered,
    SurveyLinkExpired,
    SurveyLinkInvalid,
    survey_answer,
    survey_from_token,
    survey_send,
    survey_token,
)

from .conftest_knowledge import Notified, knowledge_parts, make_case, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb_parts(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notified]:
    yield from knowledge_parts(monkeypatch)


@pytest.fixture
def resolved(service_bank: Any, kb_parts: Any, settings: Any) -> Any:
    """A contact-centre case resolved by its agent (the survey not sent yet)."""
    settings.PUBLIC_BASE_URL = "https://bank.example"
    return resolve(make_case(), service_bank.agent_cc)


def token_from(link: str) -> str:
    prefix = "https://bank.example/contact/survey/"
    assert link.startswith(prefix) and link.endswith("/")
    return link[len(prefix) : -1]


def token_signed_ago(
    survey: SatisfactionSurvey, days: float, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A genuine token signed ``days`` ago."""
    past = int((timezone.now() - dt.timedelta(days=days)).timestamp())
    with monkeypatch.context() as patch:
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(past))
        return survey_token(survey)


def answered_row() -> tuple[Any, ...]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT csat, nps, comment FROM support_satisfactionsurvey")
        return tuple(cursor.fetchone())


# --- Sending ---------------------------------------------------------------------------------


def test_resolving_a_case_sends_the_survey_after_commit(
    service_bank: Any, kb_parts: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://bank.example"
    case = make_case()
    with django_capture_on_commit_callbacks(execute=True):
        case = resolve(case, service_bank.agent_cc)
    survey = SatisfactionSurvey.objects.get(case=case)
    assert kb_parts.codes[-1] == "survey_invitation"
    link = kb_parts.calls[-1]["extra"]["survey_link"]
    assert survey_from_token(token_from(link)) == survey
    invitation = CaseMessage.objects.get(case=case, template_code="survey_invitation")
    assert link in invitation.body
    assert invitation.to_address == "zhang.wei@example.com"


def test_survey_send_creates_once_with_its_expiry_and_audit(
    resolved: Any, kb_parts: Any, settings: Any
) -> None:
    settings.SUPPORT_SURVEY_DAYS = 3
    survey = survey_send(case=resolved)
    assert survey is not None
    assert survey.expires_at - survey.sent_at == dt.timedelta(days=3)
    assert survey.sent_at >= resolved.resolved_at
    assert (survey.responded_at, survey.csat, survey.nps, survey.comment) == (None, None, None, "")
    event = AuditEvent.objects.get(action="satisfaction_survey.send")
    assert event.actor == "system:support.survey"
    assert event.after["reference"] == resolved.reference
    # Once per resolution.
    assert survey_send(case=resolved) is None
    assert SatisfactionSurvey.objects.count() == 1
    assert kb_parts.codes == ["survey_invitation"]


def test_no_survey_without_resolution_address_or_template(service_bank: Any, kb_parts: Any) -> None:
    open_case = make_case()
    assert survey_send(case=open_case) is None
    silent = resolve(make_case(contact_email=""), service_bank.agent_cc)
    assert survey_send(case=silent) is None
    resolved_case = resolve(make_case(), service_bank.agent_cc)
    ResponseTemplate.objects.filter(code="survey_invitation").update(is_active=False)
    assert survey_send(case=resolved_case) is None
    assert SatisfactionSurvey.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="satisfaction_survey.").exists()


def test_an_unanswered_survey_is_rearmed_for_a_new_resolution(
    resolved: Any, service_bank: Any, kb_parts: Any
) -> None:
    from bankcrm.support.services_cases import case_transition

    first = survey_send(case=resolved)
    assert first is not None
    case = case_transition(actor=service_bank.agent_cc, case=resolved, transition="reopen")
    case = case_transition(
        actor=service_bank.agent_cc,
        case=case,
        transition="resolve",
        reason="Replacement card sent.",
    )
    again = survey_send(case=case)
    assert again is not None and again.pk == first.pk
    assert again.sent_at > first.sent_at
    assert kb_parts.codes == ["survey_invitation", "survey_invitation"]
    assert AuditEvent.objects.filter(action="satisfaction_survey.rearm").count() == 1


def test_an_answered_survey_is_not_sent_again(
    resolved: Any, service_bank: Any, kb_parts: Any
) -> None:
    from bankcrm.support.services_cases import case_transition

    survey = survey_send(case=resolved)
    survey_answer(token=survey_token(survey), csat=5, nps=None, comment="")
    case = case_transition(actor=service_bank.agent_cc, case=resolved, transition="reopen")
    case = case_transition(
        actor=service_bank.agent_cc, case=case, transition="resolve", reason="Done again."
    )
    assert survey_send(case=case) is None
    survey.refresh_from_db()
    assert survey.csat == 5


# --- Tokens ----------------------------------------------------------------------------------


def test_tampered_and_expired_tokens_are_refused(
    resolved: Any, kb_parts: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    survey = survey_send(case=resolved)
    token = survey_token(survey)
    assert survey_from_token(token) == survey
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "", "garbage"):
        with pytest.raises(SurveyLinkInvalid) as caught:
            survey_from_token(bad)
        assert caught.value.status == 400
    # A token signed with another salt (another purpose) is not a survey link.
    other = signing.dumps({"survey": str(survey.pk)}, salt="support.contact.thanks")
    with pytest.raises(SurveyLinkInvalid):
        survey_from_token(other)
    settings.SUPPORT_SURVEY_DAYS = 14
    assert survey_from_token(token_signed_ago(survey, 13.9, monkeypatch)) == survey
    with pytest.raises(SurveyLinkExpired) as caught:
        survey_from_token(token_signed_ago(survey, 14.1, monkeypatch))
    assert caught.value.status == 410


# --- Answering -------------------------------------------------------------------------------


def test_answering_once_stores_encrypted_comment_audit_and_event(
    resolved: Any, kb_parts: Any
) -> None:
    survey = survey_send(case=resolved)
    token = survey_token(survey)
    answered = survey_answer(token=token, csat="4", nps=9, comment="  快速解决，谢谢！ ")
    assert (answered.csat, answered.nps, answered.comment) == (4, 9, "快速解决，谢谢！")
    csat, nps, stored_comment = answered_row()
    assert (csat, nps) == (4, 9)
    assert "快速" not in str(stored_comment) and stored_comment
    event = AuditEvent.objects.get(action="satisfaction_survey.answer")
    assert (event.actor, event.changed_secrets) == ("system:support.survey", ["comment"])
    assert (event.after["csat"], event.after["nps"]) == (4, 9)
    outbox = OutboxEvent.objects.get(type="case.survey_answered")
    assert outbox.payload == {
        "id": str(resolved.pk),
        "reference": resolved.reference,
        "csat": 4,
        "nps": 9,
        "queue": "contact_centre",
    }
    with pytest.raises(SurveyAlreadyAnswered):
        survey_answer(token=token, csat=1, nps=0, comment="changed my mind")
    assert answered_row()[:2] == (4, 9)
    assert OutboxEvent.objects.filter(type="case.survey_answered").count() == 1


@pytest.mark.parametrize(
    ("csat", "nps", "comment", "errors"),
    [
        (None, None, "", {"csat": ["Tell us how satisfied you are (1 to 5)."]}),
        (0, None, "", {"csat": ["Choose a whole number from 1 to 5."]}),
        ("4.5", None, "", {"csat": ["Choose a whole number from 1 to 5."]}),
        (3, 11, "", {"nps": ["Choose a whole number from 0 to 10."]}),
        (3, -1, "", {"nps": ["Choose a whole number from 0 to 10."]}),
        (3, None, "x" * 4001, {"comment": ["Please keep the comment under 4000 characters."]}),
    ],
)
def test_bad_answers_name_the_field_and_store_nothing(
    resolved: Any, kb_parts: Any, csat: Any, nps: Any, comment: str, errors: dict
) -> None:
    survey = survey_send(case=resolved)
    with pytest.raises(ValidationError) as caught:
        survey_answer(token=survey_token(survey), csat=csat, nps=nps, comment=comment)
    assert caught.value.message_dict == errors
    survey.refresh_from_db()
    assert (survey.responded_at, survey.csat) == (None, None)
    assert not OutboxEvent.objects.filter(type="case.survey_answered").exists()


# --- The page --------------------------------------------------------------------------------


def test_the_survey_page_records_one_answer(resolved: Any, kb_parts: Any) -> None:
    survey = survey_send(case=resolved)
    url = f"/contact/survey/{survey_token(survey)}/"
    client = Client()
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Your feedback on case {resolved.reference}." in html
    assert '<html lang="en">' in html
    assert html.count('type="radio" name="csat"') == 5
    assert html.count('type="radio" name="nps"') == 11

    done = client.post(url, {"csat": "5", "nps": "10", "comment": "Very quick."})
    assert done.status_code == 200
    assert "Thank you for your feedback" in done.content.decode()
    survey.refresh_from_db()
    assert (survey.csat, survey.nps, survey.comment) == (5, 10, "Very quick.")

    again = client.post(url, {"csat": "1", "nps": "0", "comment": "Changed"})
    assert again.status_code == 409
    assert "This survey has already been answered" in again.content.decode()
    assert client.get(url).status_code == 200
    survey.refresh_from_db()
    assert (survey.csat, survey.nps, survey.comment) == (5, 10, "Very quick.")


def test_the_survey_page_shows_field_errors_and_stores_nothing(
    resolved: Any, kb_parts: Any
) -> None:
    survey = survey_send(case=resolved)
    response = Client().post(f"/contact/survey/{survey_token(survey)}/", {"nps": "11"})
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "csat": ["Choose how satisfied you are, from 1 to 5."],
        "nps": ["Choose a number from 0 to 10, or leave it empty."],
    }
    html = response.content.decode()
    assert (
        '<li data-field="csat"><a class="alert-link" href="#id_csat">How satisfied are you with '
        "how we handled your request?</a>: Choose how satisfied you are, from 1 to 5. </li>"
    ) in html
    survey.refresh_from_db()
    assert survey.responded_at is None


def test_the_survey_page_follows_the_case_language_until_one_is_chosen(
    service_bank: Any, kb_parts: Any
) -> None:
    case = resolve(make_case(language="zh-hans"), service_bank.agent_cc)
    survey = survey_send(case=case)
    url = f"/contact/survey/{survey_token(survey)}/"
    client = Client()
    assert '<html lang="zh-Hans">' in client.get(url).content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": url})
    assert '<html lang="en">' in client.get(url).content.decode()


def test_expired_and_tampered_links_get_their_own_pages(
    resolved: Any, kb_parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    survey = survey_send(case=resolved)
    client = Client()
    old = token_signed_ago(survey, 15, monkeypatch)
    expired = client.get(f"/contact/survey/{old}/")
    assert expired.status_code == 410
    assert "This survey link has expired" in expired.content.decode()
    posted = client.post(f"/contact/survey/{old}/", {"csat": "5"})
    assert posted.status_code == 410
    bad = client.post(f"/contact/survey/{survey_token(survey)}x/", {"csat": "5"})
    assert bad.status_code == 400
    assert "This survey link is not valid" in bad.content.decode()
    survey.refresh_from_db()
    assert survey.responded_at is None


def test_a_survey_expired_in_the_database_is_refused(resolved: Any, kb_parts: Any) -> None:
    survey = survey_send(case=resolved)
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with pytest.raises(SurveyLinkExpired):
        survey_from_token(survey_token(survey))


# --- The case page's summary -----------------------------------------------------------------


def test_the_summary_for_the_case_page(resolved: Any, kb_parts: Any) -> None:
    assert survey_summary(resolved) is None
    survey = survey_send(case=resolved)
    summary = survey_summary(resolved)
    assert summary is not None
    assert (summary["status"], summary["csat"], summary["comment"]) == ("sent", None, "")
    survey_answer(token=survey_token(survey), csat=2, nps=6, comment="Took two calls.")
    survey.refresh_from_db()
    assert survey_summary(resolved) == {
        "status": "answered",
        "sent_at": survey.sent_at,
        "expires_at": survey.expires_at,
        "responded_at": survey.responded_at,
        "csat": 2,
        "csat_label": "Dissatisfied",
        "nps": 6,
        "nps_group": "detractor",
        "comment": "Took two calls.",
    }
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(
        responded_at=None, expires_at=timezone.now() - dt.timedelta(days=1)
    )
    assert survey_summary(resolved)["status"] == "expired"


def test_the_days_setting_is_read_when_sending(
    resolved: Any, kb_parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services_survey, "survey_days", lambda: 1)
    survey = survey_send(case=resolved)
    assert survey.expires_at - survey.sent_at == dt.timedelta(days=1)
