"""The offer catalogue: pages, services (audited) and the API."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from bankcrm.audit.models import AuditEvent
from bankcrm.marketing.models import ProductOffer
from bankcrm.marketing.services_offers import offer_create, offer_update
from tests.factories.marketing import ProductOfferFactory

from .conftest import MarketingBank
from .test_nbo_fixtures import Nbo, client_for, nbo  # noqa: F401

API = "/api/v1/marketing"


def form_data(**changes: Any) -> dict[str, Any]:
    data = {
        "code": "td12-spring",
        "product": "TD12",
        "name": "Spring term deposit",
        "name_zh": "春季定期存款",
        "terms_en": "3.1 per cent a year.",
        "terms_zh": "年利率3.1%。",
        "valid_from": "2026-03-01",
        "valid_until": "2026-05-31",
        "value": "800.50",
        "currency": "CNY",
        "eligibility": '{"all": [{"field": "person.age", "op": "gte", "value": 18}]}',
        "is_next_best_offer": "on",
        "is_active": "on",
    }
    data.update(changes)
    return data


def test_marketer_adds_an_offer_through_the_page(marketing_bank: MarketingBank) -> None:
    client = client_for(marketing_bank.marketer)
    assert client.get(reverse("marketing:offer_create")).status_code == 200
    answer = client.post(reverse("marketing:offer_create"), form_data())
    assert answer.status_code == 302
    offer = ProductOffer.objects.get()
    assert offer.code == "td12-spring"
    assert offer.product == marketing_bank.deposit
    assert (offer.valid_from, offer.valid_until) == (dt.date(2026, 3, 1), dt.date(2026, 5, 31))
    assert offer.value == Decimal("800.50")
    assert offer.eligibility == {"all": [{"field": "person.age", "op": "gte", "value": 18}]}
    assert (offer.is_next_best_offer, offer.is_active, offer.created_by) == (
        True,
        True,
        marketing_bank.marketer,
    )
    event = AuditEvent.objects.get(action="product_offer.create")
    assert event.object_pk == str(offer.pk)
    page = client.get(reverse("marketing:offer_list")).content.decode()
    assert 'data-offer="td12-spring"' in page


def test_bad_eligibility_rules_are_named_and_nothing_saved(marketing_bank: MarketingBank) -> None:
    client = client_for(marketing_bank.marketer)
    bad = '{"all": [{"field": "nonsense", "op": "eq", "value": 1}]}'
    answer = client.post(reverse("marketing:offer_create"), form_data(eligibility=bad))
    assert answer.status_code == 400
    form = answer.context["form"]
    assert list(form.errors) == ["eligibility"]
    assert "nonsense" in " ".join(form.errors["eligibility"])
    answer = client.post(reverse("marketing:offer_create"), form_data(eligibility="{not json"))
    assert answer.status_code == 400
    assert list(answer.context["form"].errors) == ["eligibility"]
    assert ProductOffer.objects.count() == 0
    assert not AuditEvent.objects.filter(action="product_offer.create").exists()


def test_dates_and_code_are_checked(marketing_bank: MarketingBank) -> None:
    ProductOfferFactory(code="taken", product=marketing_bank.deposit)
    with pytest.raises(ValidationError) as caught:
        offer_create(
            actor=marketing_bank.marketer,
            code="taken",
            product="NOPE",
            name="X",
            valid_from=dt.date(2026, 5, 1),
            valid_until=dt.date(2026, 4, 1),
            value=Decimal(-1),
        )
    assert sorted(caught.value.message_dict) == ["code", "product", "valid_until", "value"]
    assert ProductOffer.objects.count() == 1


def test_marketer_edits_an_offer(marketing_bank: MarketingBank) -> None:
    offer = ProductOfferFactory(code="td", product=marketing_bank.deposit, value=Decimal(800))
    client = client_for(marketing_bank.marketer)
    url = reverse("marketing:offer_edit", args=[offer.pk])
    assert client.get(url).status_code == 200
    answer = client.post(url, form_data(code="td", value="900", is_active="", eligibility=""))
    assert answer.status_code == 302
    offer.refresh_from_db()
    assert (offer.value, offer.is_active, offer.eligibility) == (Decimal("900"), False, {})
    event = AuditEvent.objects.get(action="product_offer.update")
    assert event.before["value"] == "800.0000"
    assert event.after["value"] == "900.0000"


def test_rm_may_see_but_not_change_the_catalogue(marketing_bank: MarketingBank) -> None:
    offer = ProductOfferFactory(code="td", product=marketing_bank.deposit, value=Decimal(800))
    client = client_for(marketing_bank.rm_a)
    page = client.get(reverse("marketing:offer_list"))
    assert page.status_code == 200
    assert 'id="offer-new"' not in page.content.decode()
    assert client.get(reverse("marketing:offer_create")).status_code == 403
    answer = client.post(reverse("marketing:offer_create"), form_data())
    assert answer.status_code == 403
    answer = client.post(reverse("marketing:offer_edit", args=[offer.pk]), form_data(value="1"))
    assert answer.status_code == 403
    offer.refresh_from_db()
    assert offer.value == Decimal(800)
    assert ProductOffer.objects.count() == 1
    with pytest.raises(PermissionDenied):
        offer_update(actor=marketing_bank.rm_a, offer=offer, value=Decimal(1))


def test_api_offers_crud(marketing_bank: MarketingBank) -> None:
    client = client_for(marketing_bank.marketer)
    body = {
        "code": "td-api",
        "product": "TD12",
        "name": "API deposit",
        "value": "750",
        "eligibility": {"all": [{"field": "person.age", "op": "gte", "value": 18}]},
    }
    answer = client.post(f"{API}/offers", json.dumps(body), content_type="application/json")
    assert answer.status_code == 201, answer.content
    created = answer.json()
    assert (created["code"], created["product"], created["value"]) == ("td-api", "TD12", "750.0000")
    answer = client.patch(
        f"{API}/offers/{created['id']}",
        json.dumps({"value": "760", "is_active": False}),
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert (answer.json()["value"], answer.json()["is_active"]) == ("760.0000", False)
    assert [row["code"] for row in client.get(f"{API}/offers").json()] == ["td-api"]
    assert client.get(f"{API}/offers?active=true").json() == []
    bad = {**body, "code": "td-bad", "eligibility": {"all": [{"field": "x"}]}}
    answer = client.post(f"{API}/offers", json.dumps(bad), content_type="application/json")
    assert answer.status_code == 422
    assert answer["Content-Type"].startswith("application/problem+json")
    assert [error["field"] for error in answer.json()["errors"]] == ["eligibility"]
    assert ProductOffer.objects.count() == 1


def test_api_rm_may_not_create_offers(marketing_bank: MarketingBank) -> None:
    client = client_for(marketing_bank.rm_a)
    body = {"code": "td-api", "product": "TD12", "name": "API deposit"}
    answer = client.post(f"{API}/offers", json.dumps(body), content_type="application/json")
    assert answer.status_code == 403
    assert ProductOffer.objects.count() == 0


def test_api_next_best_offers_and_decisions(nbo: Nbo) -> None:  # noqa: F811
    client = client_for(nbo.bank.rm_a)
    url = f"{API}/customers/{nbo.customer.pk}/next-best-offers"
    answer = client.get(url)
    assert answer.status_code == 200
    data = answer.json()
    assert data["blocked"] == ""
    assert [(o["offer"], o["expected_value"]) for o in data["offers"]] == [
        ("wealth", "500.00"),
        ("td12", "240.00"),
        ("card", "100.00"),
    ]
    decisions = f"{API}/customers/{nbo.customer.pk}/offer-decisions"
    answer = client.post(
        decisions,
        json.dumps({"offer": "card", "decision": "dismissed"}),
        content_type="application/json",
    )
    assert answer.status_code == 422
    assert [error["field"] for error in answer.json()["errors"]] == ["reason"]
    answer = client.post(
        decisions,
        json.dumps({"offer": "card", "decision": "dismissed", "reason": "bad_timing"}),
        content_type="application/json",
    )
    assert answer.status_code == 201
    assert (answer.json()["decision"], answer.json()["reason"]) == ("dismissed", "bad_timing")
    assert [o["offer"] for o in client.get(url).json()["offers"]] == ["wealth", "td12", "loan"]
    other = client_for(nbo.bank.rm_b)
    assert other.get(url).status_code == 404
    answer = other.post(
        decisions,
        json.dumps({"offer": "wealth", "decision": "accepted"}),
        content_type="application/json",
    )
    assert answer.status_code == 404
    assert nbo.customer.offer_decisions.count() == 1


def test_offer_list_queries_do_not_grow_with_the_offers(marketing_bank: MarketingBank) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(marketing_bank.marketer)
    client.get(reverse("marketing:offer_list"))  # session and permission caches warm

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("marketing:offer_list")).status_code == 200
        return len(queries)

    ProductOfferFactory.create_batch(2, product=marketing_bank.deposit)
    few = count()
    ProductOfferFactory.create_batch(6, product=marketing_bank.current)
    assert count() == few
