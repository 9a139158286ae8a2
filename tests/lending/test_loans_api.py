"""The loans API: lists, pages, schedule, repayments, requests, summary; every route scoped
(another branch's loan answers 404 and nothing changes)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.lending.models import Instalment, Loan, Repayment
from bankcrm.lending.services_loans import delinquency_recalculate
from tests.lending.test_loans import book_loan, pay

pytestmark = pytest.mark.django_db

API = "/api/v1/loans"
D = Decimal


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, url: str, body: dict) -> object:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_list_filters_and_pages(lending_bank):
    loans = [book_loan(lending_bank, disbursed_on=dt.date(2024, 1, 10 + day)) for day in range(3)]
    Loan.objects.filter(pk=loans[0].pk).update(bucket="31-60")
    client = _client(lending_bank.officer_a)
    page = client.get(f"{API}/?limit=2").json()
    assert [item["reference"] for item in page["items"]] == ["LN-2024-000003", "LN-2024-000002"]
    rest = client.get(f"{API}/?limit=2&cursor={page['next_cursor']}").json()
    assert [item["reference"] for item in rest["items"]] == ["LN-2024-000001"]
    assert rest["next_cursor"] is None
    bucket = client.get(f"{API}/?bucket=31-60").json()["items"]
    assert [item["reference"] for item in bucket] == ["LN-2024-000001"]
    assert bucket[0]["borrower_name"] == "王小明"
    assert D(bucket[0]["principal"]) == D("12000.00")
    assert client.get(f"{API}/?bucket=worse").status_code == 422
    # Another branch's officer sees none of them.
    assert _client(lending_bank.officer_b).get(f"{API}/").json()["items"] == []


def test_get_schedule_and_repayments(lending_bank):
    loan = book_loan(lending_bank)
    pay(loan, dt.date(2024, 2, 15), "1066.19")
    client = _client(lending_bank.officer_a)
    assert _post(client, f"{API}/match-repayments", {"loan": loan.reference}).json() == {
        "matched": 1
    }
    body = client.get(f"{API}/{loan.reference}").json()
    assert body["id"] == str(loan.pk)
    assert D(body["outstanding_principal"]) == D("11053.81")
    schedule = client.get(f"{API}/{loan.pk}/schedule").json()
    assert len(schedule) == 12
    assert (schedule[0]["due_on"], D(schedule[0]["amount_paid"])) == ("2024-02-15", D("1066.19"))
    repayments = client.get(f"{API}/{loan.pk}/repayments").json()
    assert [(D(r["interest"]), D(r["principal"])) for r in repayments] == [
        (D("120.00"), D("946.19"))
    ]


def test_post_repayment_prepay_and_requests(lending_bank):
    loan = book_loan(lending_bank)
    client = _client(lending_bank.officer_a)
    response = _post(
        client,
        f"{API}/{loan.pk}/repayments",
        {"amount": "2132.38", "received_on": "2024-03-15", "reason": "Cash at the counter."},
    )
    assert response.status_code == 201
    response = _post(
        client,
        f"{API}/{loan.pk}/prepay",
        {"amount": "3000.00", "on": "2024-04-01", "mode": "reduce_term"},
    )
    assert response.status_code == 200
    assert response.json()["maturity_date"] == "2024-10-15"

    response = _post(
        client,
        f"{API}/{loan.pk}/restructure",
        {"annual_rate": "6", "term_months": 24, "method": "annuity", "reason": "Hardship."},
    )
    assert response.status_code == 202
    assert response.json()["action"] == "lending.restructure"
    response = _post(client, f"{API}/{loan.pk}/write-off", {"reason": "Insolvent."})
    assert response.status_code == 202
    assert PendingApproval.objects.count() == 2

    bad = _post(client, f"{API}/{loan.pk}/prepay", {"amount": "-1", "on": "2024-04-02"})
    assert bad.status_code == 422
    assert {error["field"] for error in bad.json()["errors"]} == {"amount"}


def test_delinquency_summary_and_early_warnings(lending_bank):
    loan = book_loan(lending_bank)
    book_loan(lending_bank, disbursed_on=dt.date(2024, 9, 1))
    delinquency_recalculate(actor=SystemActor("test"), as_of=dt.date(2024, 9, 30))
    client = _client(lending_bank.rm_a)
    rows = client.get(f"{API}/delinquency").json()
    assert [(row["branch_code"], row["bucket"], row["count"]) for row in rows] == [
        ("BRA", "current", 1),
        ("BRA", "90+", 1),
    ]
    assert D(rows[1]["arrears"]) == D("8529.52")
    # The buckets of another day, from the oldest unpaid due dates.
    later = client.get(f"{API}/delinquency?as_of=2024-10-31").json()
    assert [(row["bucket"], row["count"]) for row in later] == [("1-30", 1), ("90+", 1)]
    warnings = client.get(f"{API}/early-warnings").json()
    assert [(w["reference"], w["to_bucket"]) for w in warnings] == [(loan.reference, "90+")]
    other = _client(lending_bank.rm_b)
    assert other.get(f"{API}/delinquency").json() == []
    assert other.get(f"{API}/early-warnings").json() == []


def _state() -> tuple:
    return (
        list(Loan.objects.order_by("pk").values_list("status", "outstanding_principal")),
        Instalment.objects.filter(is_current=True).count(),
        Repayment.objects.count(),
        PendingApproval.objects.count(),
        AuditEvent.objects.count(),
    )


def test_every_route_answers_404_for_another_branchs_loan(lending_bank):
    loan = book_loan(lending_bank)
    pay(loan, dt.date(2024, 2, 15), "1066.19")
    client = _client(lending_bank.officer_b)
    before = _state()
    for key in (loan.pk, loan.reference):
        for suffix in ("", "/schedule", "/repayments"):
            assert client.get(f"{API}/{key}{suffix}").status_code == 404
        posts = {
            "/repayments": {"amount": "10", "received_on": "2024-03-01", "reason": "x"},
            "/prepay": {"amount": "10", "on": "2024-03-01"},
            "/restructure": {
                "annual_rate": "5",
                "term_months": 12,
                "method": "annuity",
                "reason": "x",
            },
            "/write-off": {"reason": "x"},
        }
        for suffix, body in posts.items():
            response = _post(client, f"{API}/{key}{suffix}", body)
            assert response.status_code == 404, suffix
    assert _post(client, f"{API}/match-repayments", {"loan": str(loan.pk)}).status_code == 404
    assert _state() == before
    # Matching everything the caller may change leaves the other branch's loan alone.
    assert _post(client, f"{API}/match-repayments", {}).json() == {"matched": 0}
    assert Repayment.objects.count() == 0


def test_a_relationship_manager_of_another_portfolio_reads_nothing(lending_bank):
    loan = book_loan(lending_bank)
    client = _client(lending_bank.rm_b)
    before = _state()
    assert client.get(f"{API}/{loan.pk}").status_code == 404
    assert _post(client, f"{API}/{loan.pk}/write-off", {"reason": "x"}).status_code == 404
    assert _state() == before
    # The borrower's own relationship manager may read it (their portfolio).
    assert _client(lending_bank.rm_a).get(f"{API}/{loan.pk}").status_code == 200
