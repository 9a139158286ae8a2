# ruff: noqa: F811 - the shared fixtures are imported by name
"""The customer's preference page: the signed link opens it without signing in, a tampered
link answers 400 and an expired one 410 (nothing changed), switching a choice off withdraws
and on grants (source preference page), CSRF is enforced, and the page speaks Chinese to a
Chinese national and English on request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from bankcrm.customers import services_consent
from bankcrm.customers.models import Consent, ConsentEvent, ContactPoint, Party
from bankcrm.customers.selectors_consent import consent_is_granted
from tests.customers.conftest import Bank, bank  # noqa: F401
from tests.factories.customers import ConsentFactory, ContactPointFactory

pytestmark = pytest.mark.django_db

EMAIL = "wang.xiaoming@example.com"
MASKED_EMAIL = "w***@example.com"
MASKED_PHONE = "+86 139****5678"


@dataclass
class Customer:
    party: Party
    email: ContactPoint
    phone: ContactPoint
    token: str
    url: str


@pytest.fixture
def customer(bank: Bank) -> Customer:
    party = bank.customer_a  # nationality CN (the factory's)
    email = ContactPointFactory(party=party, kind="email", value=EMAIL, is_primary=True)
    phone = ContactPointFactory(party=party, kind="phone", value="+8613912345678", is_primary=True)
    ConsentFactory(party=party, purpose="email_marketing", contact_point=email)
    ConsentFactory(party=party, purpose="profiling", contact_point=None)
    token = services_consent.preference_token(party=party)
    return Customer(party, email, phone, token, f"/preferences/{token}/")


def state() -> list[tuple[Any, ...]]:
    rows = Consent.objects.order_by("pk").values_list("purpose", "contact_point_id", "status")
    return [*rows, ConsentEvent.objects.count()]


def test_signed_link_opens_the_page_with_masked_contacts(customer: Customer, settings):
    settings.PUBLIC_BASE_URL = "http://testserver"
    link = services_consent.preference_link(party=customer.party, language="en")
    response = Client().get(link.removeprefix("http://testserver"))
    assert response.status_code == 200
    body = response.content.decode()
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Content-Language"] == "en"
    assert '<meta name="robots" content="noindex, nofollow">' in body
    assert MASKED_EMAIL in body and MASKED_PHONE in body
    assert EMAIL not in body and "13912345678" not in body
    assert "csrfmiddlewaretoken" in body
    # Wording version 1 of e-mail marketing, in English, and the current choices ticked.
    assert "by e-mail to this address" in body
    assert f'value="email_marketing:{customer.email.pk}" id' in body
    checked = f'value="email_marketing:{customer.email.pk}" id="choice-1-1" checked'
    assert checked in body
    assert f'value="sms_marketing:{customer.phone.pk}" id="choice-2-1">' in body
    assert 'value="profiling" id="choice-4-1" checked' in body


def test_chinese_national_gets_the_chinese_page_and_can_switch(customer: Customer):
    client = Client()
    body = client.get(customer.url).content.decode()
    assert '<html lang="zh-Hans">' in body
    assert "本人同意银行通过此电子邮箱" in body
    assert "by e-mail to this address" not in body
    english = client.get(customer.url + "?lang=en")
    assert english["Content-Language"] == "en"
    assert "by e-mail to this address" in english.content.decode()
    customer.party.person.nationality = "GB"
    customer.party.person.save()
    assert '<html lang="en">' in client.get(customer.url).content.decode()
    assert "本人同意" in client.get(customer.url + "?lang=zh-hans").content.decode()


def test_switching_off_withdraws_and_on_grants(customer: Customer):
    client = Client(enforce_csrf_checks=True)
    page = client.get(customer.url)
    csrf = page.cookies["csrftoken"].value
    response = client.post(
        customer.url + "?lang=en",
        {
            "csrfmiddlewaretoken": csrf,
            "lang": "en",
            # e-mail switched off (left out), SMS on, profiling kept on.
            "choice": [f"sms_marketing:{customer.phone.pk}", "profiling"],
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 choices changed." in body
    party_id = customer.party.pk
    assert not consent_is_granted(
        party_id=party_id, purpose="email_marketing", contact_point_id=customer.email.pk
    )
    assert consent_is_granted(
        party_id=party_id, purpose="sms_marketing", contact_point_id=customer.phone.pk
    )
    assert consent_is_granted(party_id=party_id, purpose="profiling")
    assert not consent_is_granted(party_id=party_id, purpose="phone_marketing")
    email = Consent.objects.get(purpose="email_marketing")
    sms = Consent.objects.get(purpose="sms_marketing")
    assert (email.status, email.source) == ("withdrawn", "preference_page")
    assert (sms.status, sms.source, sms.text.version) == ("granted", "preference_page", 1)
    events = list(
        ConsentEvent.objects.filter(source="preference_page")
        .order_by("id")
        .values_list("consent__purpose", "status", "recorded_by_label", "note")
    )
    assert events == [
        ("email_marketing", "withdrawn", "customer", "language=en"),
        ("sms_marketing", "granted", "customer", "language=en"),
    ]


def test_post_without_csrf_token_is_refused(customer: Customer):
    before = state()
    response = Client(enforce_csrf_checks=True).post(customer.url, {"choice": []})
    assert response.status_code == 403
    assert state() == before


def test_tampered_link_answers_400_and_changes_nothing(customer: Customer):
    before = state()
    tampered = customer.token[:-2] + ("AA" if customer.token[-2:] != "AA" else "BB")
    for url in (f"/preferences/{tampered}/", "/preferences/not-a-token/"):
        response = Client().get(url)
        assert response.status_code == 400
        assert 'data-expired="false"' in response.content.decode()
        response = Client().post(url, {"choice": []})
        assert response.status_code == 400
    # A genuine signature for another salt is not a preference link either.
    from django.core import signing

    other = signing.dumps({"p": str(customer.party.pk)}, salt="support.survey", compress=True)
    assert Client().get(f"/preferences/{other}/").status_code == 400
    assert state() == before


def test_expired_link_answers_410_and_changes_nothing(customer: Customer, settings):
    settings.MARKETING_PREFERENCE_LINK_DAYS = 30
    before = state()
    later = time.time() + 31 * 86400
    with mock.patch("django.core.signing.time.time", return_value=later):
        response = Client().get(customer.url)
        assert response.status_code == 410
        assert 'data-expired="true"' in response.content.decode()
        response = Client().post(customer.url, {"choice": []})
        assert response.status_code == 410
    assert state() == before
    within = time.time() + 29 * 86400
    with mock.patch("django.core.signing.time.time", return_value=within):
        assert Client().get(customer.url).status_code == 200


def test_unknown_choice_in_the_service_names_it_and_changes_nothing(customer: Customer):
    from django.core.exceptions import ValidationError

    before = state()
    with pytest.raises(ValidationError) as caught:
        services_consent.preferences_apply(
            token=customer.token,
            choices={"profiling": False, "postal_marketing": True},
            language="en",
        )
    assert list(caught.value.error_dict) == ["postal_marketing"]
    assert state() == before
