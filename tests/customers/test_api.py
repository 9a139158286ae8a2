"""Customers API: scope (404 for another branch), masking, audited unmasking, CRUD."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.customers.models import ContactPoint, Identifier, Interaction, Party
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.customers import (
    ContactPointFactory,
    IdentifierFactory,
    InteractionFactory,
    make_resident_id,
)

API = "/api/v1/customers"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def rm_a(bank):
    return _client(bank.rm_a)


def test_another_branchs_customer_is_not_found_on_every_route(bank, rm_a):
    other = bank.customer_b
    IdentifierFactory(party=other)
    ContactPointFactory(party=other)
    interaction = InteractionFactory(party=other)
    base = f"{API}/{other.pk}"
    for url in (
        base, f"{base}/360", f"{base}/identifiers", f"{base}/contact-points",
        f"{base}/relationships", f"{base}/interactions", f"{API}/interactions/{interaction.pk}",
        f"{API}/tasks?party={other.pk}",
    ):  # fmt: skip
        response = rm_a.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    response = rm_a.patch(base, {"segment": "private"}, content_type="application/json")
    assert response.status_code == 404
    response = rm_a.post(
        f"{base}/interactions", {"kind": "call", "subject": "x"}, content_type="application/json"
    )
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.segment == "mass"
    assert Interaction.objects.filter(party=other).count() == 1
    listed = rm_a.get(f"{API}/").json()
    assert [item["id"] for item in listed["items"]] == [str(bank.customer_a.pk)]


def test_create_person_then_read_masked(bank, rm_a):
    response = rm_a.post(
        f"{API}/",
        {
            "kind": "person", "segment": "affluent", "owning_unit": bank.branch_a.pk,
            "portfolio": bank.portfolio_a.pk,
            "person": {
                "native_name": "欧阳娜娜", "date_of_birth": "1990-05-06", "gender": "female",
            },
        },
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["display_name"] == "欧阳娜娜"
    assert body["person"]["date_of_birth"] == "1990-**-**"
    assert body["relationship_manager"] == bank.rm_a.get_full_name()
    pk = body["id"]
    response = rm_a.post(
        f"{API}/{pk}/identifiers",
        {"type": "cn_resident_id", "number": make_resident_id(dt.date(1990, 5, 6), sequence=24)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["number"].startswith("110105")
    assert "*" in response.json()["number"]


def test_validation_errors_name_the_field(bank, rm_a):
    response = rm_a.post(
        f"{API}/{bank.customer_a.pk}/identifiers",
        {"type": "cn_resident_id", "number": "110105198503141234"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "number"
    assert Identifier.objects.count() == 0


def test_unmask_needs_reason_and_is_audited(bank, rm_a):
    contact = ContactPointFactory(party=bank.customer_a, value="+8613800138000")
    url = f"{API}/{bank.customer_a.pk}/contact-points"
    masked = rm_a.get(url).json()
    assert masked[0]["value"] == "+86 138****8000"
    assert masked[0]["is_masked"] is True
    assert rm_a.get(f"{url}?unmask=true").status_code == 422
    assert not AuditEvent.objects.filter(action="pii.unmask").exists()
    clear = rm_a.get(f"{url}?unmask=true&reason=Customer+called").json()
    assert clear[0]["value"] == "+8613800138000"
    event = AuditEvent.objects.get(action="pii.unmask")
    assert (event.object_pk, event.reason, event.after) == (
        str(contact.pk),
        "Customer called",
        {"field": "value"},
    )


def test_a_role_that_may_not_unmask_gets_403_and_nothing_is_logged(bank):
    ContactPointFactory(party=bank.customer_a, value="+8613800138000")
    analyst = _client(bank.analyst)
    url = f"{API}/{bank.customer_a.pk}/contact-points?unmask=true&reason=curious"
    assert analyst.get(url).status_code == 403
    assert not AuditEvent.objects.filter(action="pii.unmask").exists()


def test_360_endpoint(bank, rm_a):
    account = AccountFactory(owner=bank.customer_a, branch=bank.branch_a, balance=Decimal("88"))
    TransactionFactory(account=account, amount=Decimal("-12.50"), kind="fee")
    body = rm_a.get(f"{API}/{bank.customer_a.pk}/360").json()
    assert body["total_assets_base"] == "88.00"
    assert body["holdings"][0]["number"] == f"**** {account.number_last4}"
    assert body["recent_transactions"][0]["amount"] == "-12.5000"


def test_interactions_and_tasks_round_trip(bank, rm_a):
    base = f"{API}/{bank.customer_a.pk}"
    response = rm_a.post(
        f"{base}/interactions",
        {"kind": "meeting", "subject": "Wealth review", "body": "Risk appetite: low"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["body"] != "Risk appetite: low"
    response = rm_a.post(
        f"{API}/tasks", {"title": "Send brochure", "party": str(bank.customer_a.pk)},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201
    task_id = response.json()["id"]
    assert rm_a.post(f"{API}/tasks/{task_id}/complete").json()["status"] == "done"
    assert Party.objects.get(pk=bank.customer_a.pk).last_contacted_at is not None
    assert ContactPoint.objects.count() == 0
