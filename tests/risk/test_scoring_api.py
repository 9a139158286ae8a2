"""The scoring and monitoring API: scores of values, applications and customers, with
problem+json naming the bad field, 404 out of reach, monitoring reports and override rates."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.risk.models import MonitoringReport, Score
from tests.factories import UserFactory
from tests.factories.lending import LoanApplicationFactory
from tests.lending import conftest as lending_fixtures
from tests.risk.test_monitoring import BASELINE, add_scores
from tests.risk.test_scoring import APPLICATION_MAP, APPLICATION_SPEC, SPEC, make_version, spec_with

# The lending fixtures: a two-branch bank, its staff, customers and products.
advance_application = lending_fixtures.advance_application
bank = lending_fixtures.bank
lending_bank = lending_fixtures.lending_bank
make_application = lending_fixtures.make_application


API = "/api/v1/risk"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def fields(response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


@pytest.fixture
def analyst(lending_bank):
    return client_for(lending_bank.analyst)


def test_scoring_values_with_the_purposes_production_model(lending_bank, analyst):
    make_version()
    response = post(
        analyst,
        f"{API}/score",
        {"purpose": "application", "values": {"age": 22, "housing": "rent"}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "score": 450,
        "probability_of_default": 0.783568,
        "grade": "C",
        "recommendation": "decline",
        "reasons": [
            {"code": "R01", "feature": "age", "text": "Young applicant", "points_lost": 120.0},
            {
                "code": "R02",
                "feature": "housing",
                "text": "Does not own a home",
                "points_lost": 50.0,
            },
        ],
        "model": "retail",
        "version": 1,
        "purpose": "application",
        "subject_kind": "record",
        "subject_id": "",
        "score_id": Score.objects.get().pk,
        "shadow": None,
    }


def test_a_named_version_and_the_shadow_in_the_answer(lending_bank, analyst):
    make_version()
    challenger_spec = copy.deepcopy(SPEC)
    challenger_spec["features"][0]["points"] = [200, 260, 290]
    make_version(version=2, status="approved", shadow=True, spec=challenger_spec)
    response = post(analyst, f"{API}/score", {"model": "retail", "values": {"age": 22}})
    body = response.json()
    # age 22 (180 here, 200 for the challenger) and housing missing (260).
    assert (body["version"], body["score"]) == (1, 440)
    assert (body["shadow"]["version"], body["shadow"]["score"]) == (2, 460)
    response = post(
        analyst, f"{API}/score", {"model": "retail", "version": 2, "values": {"age": 22}}
    )
    assert (response.json()["version"], response.json()["shadow"]) == (2, None)


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"purpose": "application", "values": {"age": "old"}}, "values.age", 422),
        ({"purpose": "application", "values": {"salary": 1}}, "values.salary", 422),
        ({"values": {"age": 30}}, "purpose", 422),
        ({"purpose": "behaviour", "values": {"age": 30}}, "purpose", 422),
        ({"model": "nope", "values": {"age": 30}}, "model", 422),
        ({"model": "retail", "version": 7, "values": {"age": 30}}, "version", 422),
        ({"version": 1, "values": {"age": 30}}, "model", 422),
        ({"purpose": "application", "model": "retail", "values": {}}, "model", 422),
        ({"purpose": "application"}, "values", 422),
        ({"purpose": "application", "values": {}, "party": "8c1f1bde-44a4-4d0b-a1a5-4fbd2d1d2f80"},
         "party", 422),
        ({"purpose": "mortgage", "values": {}}, "body.purpose", 422),
        ({"purpose": "application", "values": {}, "extra": 1}, "body.extra", 422),
        ({"purpose": "application", "application": "not-a-uuid"}, "body.application", 422),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_stores_nothing(lending_bank, analyst, body, field, status):
    make_version()
    response = post(analyst, f"{API}/score", body)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in fields(response)
    assert not Score.objects.exists()


def test_scoring_values_needs_the_scoring_permission(lending_bank):
    make_version()
    response = post(
        client_for(lending_bank.officer_a), f"{API}/score", {"purpose": "application", "values": {}}
    )
    assert response.status_code == 403
    assert not Score.objects.exists()


def test_an_application_is_scored_within_reach_only(
    lending_bank, make_application, advance_application
):
    make_version("retail-app", spec=APPLICATION_SPEC, feature_map=APPLICATION_MAP)
    application = make_application()
    body = {"application": str(application.pk)}
    response = post(client_for(lending_bank.officer_b), f"{API}/score", body)
    assert response.status_code == 404
    response = post(client_for(lending_bank.rm_b), f"{API}/score", body)
    assert response.status_code == 404
    assert not Score.objects.exists()

    response = post(client_for(lending_bank.officer_a), f"{API}/score", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["subject_kind"], answer["subject_id"]) == ("application", str(application.pk))
    assert (answer["model"], answer["score"], answer["grade"]) == ("retail-app", 570, "B")
    assert answer["recommendation"] == "refer"
    stored = Score.objects.get()
    assert (stored.subject_kind, stored.subject_id) == ("application", str(application.pk))


def test_a_customer_is_scored_with_the_behaviour_model_within_reach_only(lending_bank):
    spec = spec_with(housing="party_kind")
    spec["features"][1]["categories"] = [["organisation"], ["person"]]
    make_version("behave", purpose="behaviour", spec=spec)
    body = {"party": str(lending_bank.customer_a.pk)}
    assert post(client_for(lending_bank.rm_b), f"{API}/score", body).status_code == 404
    response = post(client_for(lending_bank.rm_a), f"{API}/score", body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["model"], answer["purpose"], answer["subject_kind"]) == (
        "behave",
        "behaviour",
        "party",
    )
    # Customer A is a person over 35: 300 + 270.
    assert answer["score"] == 570
    assert Score.objects.get().subject_id == str(lending_bank.customer_a.pk)


@pytest.fixture
def model_risk_officer(lending_bank):
    return UserFactory(
        username="mro",
        org_unit=lending_bank.head_office,
        roles=[Role.objects.get(code="model_risk_officer")],
        mfa_enabled=True,  # the role requires two-factor sign-in
    )


def test_monitoring_is_run_and_listed(lending_bank, model_risk_officer):
    version = make_version(baseline=BASELINE)
    add_scores(version, [(450, 22, "own"), (620, 40, "rent")])
    today = timezone.localdate(timezone.now(), timezone=dt.UTC)
    client = client_for(model_risk_officer)
    body = {
        "model": "retail",
        "period_start": (today - dt.timedelta(days=1)).isoformat(),
        "period_end": (today + dt.timedelta(days=1)).isoformat(),
    }
    response = post(client, f"{API}/monitoring", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["model"], created["version"], created["scored"]) == ("retail", 1, 2)
    assert created["level"] == MonitoringReport.objects.get().level
    assert created["has_pdf"] is True

    listed = client.get(f"{API}/monitoring", {"model": "retail"})
    assert [item["id"] for item in listed.json()] == [created["id"]]
    assert client.get(f"{API}/monitoring", {"model": "other"}).json() == []
    one = client.get(f"{API}/monitoring/{created['id']}")
    assert one.json()["details"] == MonitoringReport.objects.get().details
    pdf = client.get(f"{API}/monitoring/{created['id']}/pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"

    reversed_period = {**body, "period_end": (today - dt.timedelta(days=5)).isoformat()}
    response = post(client, f"{API}/monitoring", reversed_period)
    assert (response.status_code, fields(response)) == (422, ["period_end"])
    # A loan officer reads the reports but may not run one; a relationship manager does
    # neither.
    officer = client_for(lending_bank.officer_a)
    assert post(officer, f"{API}/monitoring", body).status_code == 403
    assert [item["id"] for item in officer.get(f"{API}/monitoring").json()] == [created["id"]]
    manager = client_for(lending_bank.rm_a)
    assert manager.get(f"{API}/monitoring").status_code == 403
    assert manager.get(f"{API}/monitoring/{created['id']}").status_code == 404
    assert MonitoringReport.objects.count() == 1


def test_override_rates_by_officer_and_branch(lending_bank, model_risk_officer):
    now = timezone.now()
    for overridden in (True, False):
        LoanApplicationFactory(
            product=lending_bank.product,
            branch=lending_bank.branch_a,
            applicant=lending_bank.customer_a,
            decision="declined",
            decided_by=lending_bank.manager_a,
            decided_at=now,
            model_recommendation="approve",
            model_overridden=overridden,
        )
    today = timezone.localdate(now, timezone=dt.UTC)
    query = {
        "from": (today - dt.timedelta(days=1)).isoformat(),
        "until": (today + dt.timedelta(days=1)).isoformat(),
    }
    response = client_for(model_risk_officer).get(f"{API}/overrides", query)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["decisions"], body["overrides"], body["override_rate"]) == (2, 1, 0.5)
    assert [
        (line["officer_name"], line["declined_against_approve"]) for line in body["by_officer"]
    ] == [(lending_bank.manager_a.get_full_name() or "manager_a", 1)]
    assert [line["branch_name"] for line in body["by_branch"]] == ["Branch A"]
    # Branch B's manager sees none of branch A's decisions.
    other = client_for(lending_bank.manager_b).get(f"{API}/overrides", query).json()
    assert (other["decisions"], other["by_officer"]) == (0, [])
    response = client_for(model_risk_officer).get(f"{API}/overrides", {"from": "2025-06-30"})
    assert (response.status_code, fields(response)) == (422, ["query.until"])
    response = client_for(model_risk_officer).get(
        f"{API}/overrides", {"from": "2025-06-30", "until": "2025-06-01"}
    )
    assert (response.status_code, fields(response)) == (422, ["query.until"])
