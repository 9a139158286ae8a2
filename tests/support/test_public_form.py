"""The public web form under /contact/: open without signing in, its own minimal layout (the
bank's name, a language switch, local Bootstrap only, a label for every input), a case opened
through the case service with the acknowledgement e-mail and the reference on the thank-you
page; bad submissions re-rendered with each field's error and nothing created; honeypot, CSRF
and the per-address hourly limit (429, nothing created)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from bankcrm.support.models import CaseMessage, CaseType, Complaint, ServiceCase

from .conftest_knowledge import Notified, knowledge_parts

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb_parts(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notified]:
    yield from knowledge_parts(monkeypatch)


URL = "/contact/"
VALID = {
    "name": "Zhang Wei",
    "email": "zhang.wei@example.com",
    "phone": "138 0013 8000",
    "case_type": "inquiry",
    "subject": "Card blocked abroad",
    "message": "My debit card stopped working in Singapore yesterday.",
    "language": "en",
    "website": "",
}


class _Controls(HTMLParser):
    """The form controls of a page and the labels' targets."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.label_targets: set[str] = set()
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in ("input", "select", "textarea"):
            self.controls.append({"tag": tag, **values})
        elif tag == "label" and values.get("for"):
            self.label_targets.add(values["for"])
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href", ""))
        elif tag == "script":
            self.scripts.append(values.get("src", "inline"))


def controls_of(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    return parser


def post(client: Client, data: dict[str, str], ip: str = "203.0.113.7") -> Any:
    return client.post(URL, data, REMOTE_ADDR=ip)


# --- The page --------------------------------------------------------------------------------


def test_the_form_is_public_with_its_own_layout(
    service_bank: Any, kb_parts: Any, settings: Any
) -> None:
    settings.BANK_NAME = "Bank of Example"
    response = Client().get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        '<span class="fs-5 fw-semibold text-break" id="public-bank-name">Bank of Example</span>'
        in html
    )
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "bc-sidenav" not in html and "Main navigation" not in html
    page = controls_of(html)
    assert page.stylesheets == ["/static/bootstrap/css/bootstrap.min.css"]
    assert page.scripts == []
    assert re.findall(r"(?:https?:)?//[^\s\"'<>]+", html) == []
    # The language switch posts to Django's set_language.
    assert (
        '<form method="post" action="/i18n/setlang/" class="d-flex gap-1" id="public-language">'
        in html
    )
    # Every visible input has its label.
    visible = [
        control for control in page.controls if control.get("type") not in ("hidden", "submit")
    ]
    assert [control["name"] for control in visible] == [
        "name",
        "email",
        "phone",
        "case_type",
        "subject",
        "message",
        "language",
        "website",
    ]
    for control in visible:
        assert control["id"] in page.label_targets, control
    assert 'name="csrfmiddlewaretoken"' in html
    # The honeypot is hidden from people and screen readers.
    assert '<div class="d-none" aria-hidden="true">' in html


def test_only_the_public_types_the_form_can_open_are_offered(
    service_bank: Any, kb_parts: Any
) -> None:
    CaseType.objects.filter(code="service_request").update(required_fields=["party"])
    CaseType.objects.filter(code="complaint").update(required_fields=["party|contact_email"])
    html = Client().get(URL).content.decode()
    options = re.findall(r'<option value="([a-z_]*)"', html.split('name="case_type"')[1])
    assert options[:3] == ["", "inquiry", "complaint"]
    CaseType.objects.filter(code="service_request").update(required_fields=[])
    html = Client().get(URL).content.decode()
    options = re.findall(r'<option value="([a-z_]*)"', html.split('name="case_type"')[1])
    assert options[:4] == ["", "inquiry", "service_request", "complaint"]


def test_the_language_switch_turns_the_page_into_chinese(service_bank: Any, kb_parts: Any) -> None:
    client = Client()
    switched = client.post("/i18n/setlang/", {"language": "zh-hans", "next": URL})
    assert (switched.status_code, switched["Location"]) == (302, URL)
    html = client.get(URL).content.decode()
    assert '<html lang="zh-Hans">' in html
    assert (
        'value="zh-hans" lang="zh-Hans"\n                  class="btn btn-outline-light active"'
        in html
    )
    # Case types are named in Chinese, and the answer's language defaults to Chinese.
    assert '<option value="inquiry">咨询</option>' in html
    assert '<option value="zh-hans" selected>' in html


# --- Opening a case --------------------------------------------------------------------------


def test_a_valid_submission_opens_a_case_and_acknowledges_it(
    service_bank: Any, kb_parts: Any
) -> None:
    client = Client()
    response = post(client, VALID)
    assert response.status_code == 302
    assert response["Location"].startswith("/contact/thanks/?r=")
    case = ServiceCase.objects.get()
    assert (case.channel, case.case_type.code, case.queue.code, case.language) == (
        "web_form",
        "inquiry",
        "contact_centre",
        "en",
    )
    assert (case.subject, case.description) == (VALID["subject"], VALID["message"])
    assert (case.contact_name, case.contact_email, case.contact_phone) == (
        "Zhang Wei",
        "zhang.wei@example.com",
        "138 0013 8000",
    )
    assert case.party_id is None and case.opened_by_id is None
    inbound = CaseMessage.objects.get(case=case, direction="inbound")
    assert (inbound.channel, inbound.from_address, inbound.body) == (
        "web_form",
        "zhang.wei@example.com",
        VALID["message"],
    )
    assert kb_parts.codes == ["acknowledgement"]
    ack = CaseMessage.objects.get(case=case, direction="outbound")
    assert (ack.template_code, ack.to_address) == ("acknowledgement", "zhang.wei@example.com")
    assert ack.subject.endswith(f"We have received your request {case.reference}")
    assert f"registered it under the reference {case.reference}" in ack.body

    thanks = client.get(response["Location"])
    assert thanks.status_code == 200
    reference = f'id="case-reference">{case.reference}</p>'
    assert reference in thanks.content.decode()


def test_a_complaint_opens_a_regulated_complaint_with_its_own_acknowledgement(
    service_bank: Any, kb_parts: Any
) -> None:
    response = post(Client(), {**VALID, "case_type": "complaint", "language": "zh-hans"})
    assert response.status_code == 302
    complaint = Complaint.objects.select_related("category", "product", "case").get()
    assert (complaint.category.code, complaint.product.code) == ("other", "other")
    assert complaint.case.language == "zh-hans"
    assert kb_parts.codes == ["complaint_acknowledgement"]
    ack = CaseMessage.objects.get(case=complaint.case, direction="outbound")
    assert f"投诉编号为 {complaint.case.reference}" in ack.body


def test_a_tampered_thanks_link_shows_no_reference(service_bank: Any, kb_parts: Any) -> None:
    response = Client().get("/contact/thanks/", {"r": "SC-2026-000001:forged"})
    assert response.status_code == 200
    assert 'id="case-reference"' not in response.content.decode()


# --- Bad submissions -------------------------------------------------------------------------


def test_a_bad_submission_names_each_field_and_creates_nothing(
    service_bank: Any, kb_parts: Any
) -> None:
    response = post(
        Client(),
        {
            "email": "not-an-address",
            "phone": "call me",
            "case_type": "x",
            "subject": "   ",
            "language": "fr",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors == {
        "name": ["Enter your name."],
        "email": ["Enter a valid e-mail address, such as name@example.com."],
        "phone": [
            "Enter the phone number with digits only, e.g. 138 0013 8000 or +86 21 1234 5678."
        ],
        "case_type": ["Choose what your message is about from the list."],
        "subject": ["Enter a subject: a few words about your message."],
        "message": ["Write your message."],
        "language": ["Choose the language of our answer from the list."],
    }
    html = response.content.decode()
    # The summary on top names and links each field; each input points at its error.
    assert (
        '<li data-field="email"><a class="alert-link" href="#id_email">E-mail address</a>' in html
    )
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_email_error"' in html
    assert 'value="not-an-address"' in html
    assert ServiceCase.objects.count() == 0
    assert CaseMessage.objects.count() == 0
    assert kb_parts.codes == []


def test_a_refusal_of_the_case_service_lands_on_the_fields(
    service_bank: Any, kb_parts: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from bankcrm.support import services_cases

    real = services_cases.case_create

    def refuse(**kwargs: Any) -> Any:
        raise ValidationError(
            {"contact_email": ["This address is blocked."], "queue": ["No queue takes it."]}
        )

    monkeypatch.setattr(services_cases, "case_create", refuse)
    settings.SUPPORT_WEB_FORM_PER_HOUR = 1
    response = post(Client(), VALID)
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "email": ["This address is blocked."],
        "__all__": ["No queue takes it."],
    }
    assert kb_parts.codes == []
    # A refused submission does not use up the address's hourly limit.
    monkeypatch.setattr(services_cases, "case_create", real)
    assert post(Client(), VALID).status_code == 302
    assert post(Client(), VALID).status_code == 429
    assert ServiceCase.objects.count() == 1


def test_the_honeypot_answers_thanks_and_creates_nothing(service_bank: Any, kb_parts: Any) -> None:
    response = post(Client(), {**VALID, "website": "http://spam.example"})
    assert (response.status_code, response["Location"]) == (302, "/contact/thanks/")
    assert ServiceCase.objects.count() == 0
    assert kb_parts.codes == []


def test_the_form_is_csrf_protected(service_bank: Any, kb_parts: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post(URL, VALID).status_code == 403
    assert ServiceCase.objects.count() == 0
    client.get(URL)
    token = client.cookies["csrftoken"].value
    response = client.post(URL, {**VALID, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert ServiceCase.objects.count() == 1


def test_an_acknowledgement_that_fails_does_not_lose_the_case(
    service_bank: Any, kb_parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bankcrm.support import services_mail

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("template engine down")

    monkeypatch.setattr(services_mail, "case_email_notify", broken)
    response = post(Client(), VALID)
    assert response.status_code == 302
    assert ServiceCase.objects.count() == 1


# --- Rate limit ------------------------------------------------------------------------------


def test_the_hourly_limit_per_address_answers_429_and_creates_nothing(
    service_bank: Any, kb_parts: Any, settings: Any
) -> None:
    settings.SUPPORT_WEB_FORM_PER_HOUR = 2
    client = Client()
    assert post(client, VALID).status_code == 302
    assert post(client, {**VALID, "website": "bot"}).status_code == 302  # counted too
    refused = post(client, VALID)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "3600"
    html = refused.content.decode()
    assert "Too many messages from your connection" in html
    assert "we accept at most 2 messages an hour from one connection" in html
    assert ServiceCase.objects.count() == 1
    # Another address is not limited; invalid submissions are not counted.
    assert post(client, {**VALID, "name": ""}, ip="198.51.100.4").status_code == 400
    assert post(client, VALID, ip="198.51.100.4").status_code == 302
    assert post(client, VALID, ip="198.51.100.4").status_code == 302
    assert post(client, VALID, ip="198.51.100.4").status_code == 429
    assert ServiceCase.objects.count() == 3
    assert kb_parts.codes == ["acknowledgement"] * 3
