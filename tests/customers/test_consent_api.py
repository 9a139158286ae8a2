# ruff: noqa: F811 - the shared fixtures are imported by name
"""Consents API: record (201) and list (200), the consent texts, 404 for another branch's
customer, and problem+json naming the field for invalid input (nothing changed)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.customers.models import Consent, ConsentEvent, ContactPoint
from tests.customers.conftest import Bank, bank  # noqa: F401
from tests.factories.customers import ContactPointFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/customers"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def email(bank: Bank) -> ContactPoint:
    return ContactPointFactory(
        party=bank.customer_a, kind="email", value="wang.xiaoming@example.com", is_primary=True
    )


def state() -> tuple[Any, ...]:
    return (
        list(Consent.objects.values_list("pk", "status")),
        ConsentEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def test_record_and_list(bank: Bank, email: ContactPoint):
    client = _client(bank.rm_a)
    url = f"{API}/{bank.customer_a.pk}/consents"
    response = client.post(
        url,
        {"purpose": "email_marketing", "source": "branch", "contact_point": str(email.pk)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["purpose"] == "email_marketing"
    assert created["status"] == "granted"
    assert created["contact_point"] == str(email.pk)
    assert created["contact_point_kind"] == "email"
    assert created["contact_point_value"] == "w***@example.com"
    assert created["text_version"] == 1
    assert created["lawful_basis"] == "consent"
    response = client.post(
        url,
        {"purpose": "profiling", "status": "refused", "source": "paper_form",
         "lawful_basis": "legitimate_interest", "text_version": 1},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201
    listed = client.get(url)
    assert listed.status_code == 200
    assert [(c["purpose"], c["status"], c["contact_point_value"]) for c in listed.json()] == [
        ("email_marketing", "granted", "w***@example.com"),
        ("profiling", "refused", None),
    ]


def test_consent_texts(bank: Bank):
    response = _client(bank.rm_a).get(f"{API}/consent-texts")
    assert response.status_code == 200
    texts = response.json()
    assert [(t["purpose"], t["version"], t["is_current"]) for t in texts] == [
        ("email_marketing", 1, True),
        ("phone_marketing", 1, True),
        ("profiling", 1, True),
        ("sms_marketing", 1, True),
        ("third_party_sharing", 1, True),
    ]
    assert texts[0]["effective_from"].startswith("2026-01-01T00:00:00")
    one = _client(bank.rm_a).get(f"{API}/consent-texts?purpose=profiling").json()
    assert [t["purpose"] for t in one] == ["profiling"]


def test_another_branchs_customer_is_not_found(bank: Bank):
    point = ContactPointFactory(party=bank.customer_b, kind="email", value="li@example.com")
    before = state()
    client = _client(bank.rm_a)
    url = f"{API}/{bank.customer_b.pk}/consents"
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"
    response = client.post(
        url,
        {"purpose": "email_marketing", "source": "branch", "contact_point": str(point.pk)},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert state() == before


def _problem(response) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()


def test_invalid_input_is_problem_json_naming_the_field(bank: Bank, email: ContactPoint):
    other = ContactPointFactory(party=bank.customer_b, kind="email", value="li@example.com")
    client = _client(bank.rm_a)
    url = f"{API}/{bank.customer_a.pk}/consents"
    before = state()
    cases = [
        ({"purpose": "sms_marketing", "source": "branch", "contact_point": str(email.pk)},
         "contact_point", "wrong_kind"),
        ({"purpose": "email_marketing", "source": "branch"}, "contact_point", "required"),
        ({"purpose": "profiling", "source": "branch", "contact_point": str(email.pk)},
         "contact_point", "not_allowed"),
        # Another branch's contact point is out of reach: it does not exist for the caller.
        ({"purpose": "email_marketing", "source": "branch", "contact_point": str(other.pk)},
         "contact_point", "invalid"),
        ({"purpose": "profiling", "source": "pigeon"}, "source", "invalid_choice"),
        ({"purpose": "profiling", "source": "branch", "text_version": 7},
         "text_version", "invalid"),
    ]  # fmt: skip
    for body, field, code in cases:
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 422, body
        problem = _problem(response)
        assert problem["code"] == "validation_error"
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [(field, code)], body
    response = client.post(url, {"source": "branch"}, content_type="application/json")
    assert response.status_code == 422
    assert [e["field"] for e in _problem(response)["errors"]] == ["body.purpose"]
    response = client.post(url, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert _problem(response)["code"] == "malformed_json"
    assert state() == before
