"""The lending API: products, reference rates, applications and their steps, documents,
the schedule calculator; scope (404), problem+json errors, masking, audit and events."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.events.models import OutboxEvent
from bankcrm.lending.models import Collateral, LoanApplication, LoanProduct, ReferenceRate
from bankcrm.lending.services_applications import loan_application_notes_update
from tests.factories import UserFactory
from tests.lending.conftest import PDF_BYTES

API = "/api/v1/lending"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def officer(lending_bank):
    return client_for(lending_bank.officer_a)


@pytest.fixture
def manager(lending_bank):
    return client_for(lending_bank.manager_a)


@pytest.fixture
def admin(lending_bank):
    return client_for(lending_bank.admin)


@pytest.fixture
def rm_b(lending_bank):
    return client_for(lending_bank.rm_b)


def new_application(lending_bank, **overrides):
    body = {
        "product": "pl01",
        "applicant": str(lending_bank.customer_a.pk),
        "amount": "50000",
        "term_months": 24,
        "purpose": "Home renovation",
        "monthly_income": "20000",
        "monthly_obligations": "1000",
        "monthly_expenses": "3000",
        "settlement_account": str(lending_bank.account_a.pk),
    }
    body.update(overrides)
    return body


# --- Applications -----------------------------------------------------------------------------


def test_create_and_read_an_application(lending_bank, officer, today):
    response = post(officer, f"{API}/applications", new_application(lending_bank))
    assert response.status_code == 201
    body = response.json()
    assert body["reference"] == "LA-2025-000001"
    assert body["state"] == "draft"
    assert body["applicant_name"] == "王小明"
    assert body["officer"] == lending_bank.officer_a.pk
    assert body["branch_name"] == "Branch A"
    assert body["settlement_account_number"] == f"**** {lending_bank.account_a.number_last4}"
    assert body["amount"] == "50000.0000"
    assert [d["code"] for d in body["documents"]] == ["id_card", "income_proof"]
    assert body["transitions"] == [
        {"code": "submit", "name": "Submit", "blocked": None},
        {"code": "withdraw", "name": "Withdrawn by the customer", "blocked": None},
        {"code": "cancel", "name": "Cancel", "blocked": None},
    ]
    assert body["credit_score_message"] == "No credit model is registered."
    # No identity data of the applicant: the display name only.
    assert "date_of_birth" not in response.content.decode()
    assert "1985" not in response.content.decode()
    by_reference = officer.get(f"{API}/applications/LA-2025-000001")
    assert by_reference.status_code == 200
    assert by_reference.json()["id"] == body["id"]


def test_bad_input_is_a_problem_naming_each_field(lending_bank, officer):
    response = post(
        officer,
        f"{API}/applications",
        new_application(lending_bank, amount="900000", term_months=72),
    )
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json; charset=utf-8"
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == [
        {
            "field": "amount",
            "message": "The amount must be between 10000.00 and 500000.00 CNY.",
            "code": "out_of_range",
        },
        {
            "field": "term_months",
            "message": "The term must be between 6 and 60 months.",
            "code": "out_of_range",
        },
    ]
    response = post(officer, f"{API}/applications", new_application(lending_bank, ammount="1"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.ammount"
    assert LoanApplication.objects.count() == 0


def test_the_whole_journey_through_the_api(lending_bank, officer, manager, today):
    pk = post(officer, f"{API}/applications", new_application(lending_bank)).json()["id"]
    base = f"{API}/applications/{pk}"

    response = post(officer, f"{base}/transition", {"transition": "submit"})
    assert response.status_code == 200
    assert response.json()["result"] == "done"
    assert response.json()["application"]["state"] == "submitted"
    assert OutboxEvent.objects.filter(type="loan_application.submitted", object_pk=pk).count() == 1

    response = post(officer, f"{base}/transition", {"transition": "complete_documents"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "",
            "message": "Documents missing: Identity card; Proof of income.",
            "code": "workflow_condition_failed",
        }
    ]
    for document in officer.get(f"{base}/documents").json():
        upload = officer.post(
            f"{base}/documents/{document['id']}/upload",
            {"file": SimpleUploadedFile("scan.pdf", PDF_BYTES, content_type="application/pdf")},
        )
        assert upload.status_code == 200
        assert upload.json()["status"] == "received"
        verified = post(officer, f"{base}/documents/{document['id']}/verify", {})
        assert verified.json()["status"] == "verified"
    assert [d["expires_on"] for d in officer.get(f"{base}/documents").json()] == [
        None,
        "2025-09-14",
    ]
    for step in ("complete_documents", "start_underwriting"):
        assert post(officer, f"{base}/transition", {"transition": step}).status_code == 200

    underwriting = manager.post(f"{base}/underwrite")
    assert underwriting.status_code == 200
    assert underwriting.json()["recommendation"] == "approve"
    assert underwriting.json()["facts"]["dti"] == "16.08"

    response = post(
        manager,
        f"{base}/transition",
        {"transition": "approve", "reason": "Affordable.", "options": {"amount": "45000"}},
    )
    assert response.status_code == 200
    application = response.json()["application"]
    assert (application["state"], application["approved_amount"]) == ("approved", "45000.0000")
    assert application["offer_apr"] == "6.000000"
    assert application["offer_expires_on"] == "2025-07-16"
    for step in ("accept_offer", "sign_contract"):
        assert post(officer, f"{base}/transition", {"transition": step}).status_code == 200

    response = post(
        officer,
        f"{base}/transition",
        {"transition": "disburse", "options": {"disbursed_on": "2025-06-20"}},
    )
    assert response.status_code == 200
    assert response.json()["result"] == "disbursed"
    assert response.json()["loan_reference"].startswith("LN-2025-")
    assert response.json()["application"]["state"] == "disbursed"


def test_an_illegal_step_is_a_problem(lending_bank, officer):
    pk = post(officer, f"{API}/applications", new_application(lending_bank)).json()["id"]
    response = post(officer, f"{API}/applications/{pk}/transition", {"transition": "accept_offer"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "",
            "message": "The step “accept_offer” is not possible from the state “draft”. "
            "Possible steps from here: “submit”, “withdraw”, “cancel”.",
            "code": "workflow_illegal_transition",
        }
    ]
    assert LoanApplication.objects.get(pk=pk).state == "draft"


def test_the_submitter_deciding_is_forbidden(
    lending_bank, officer, make_application, advance_application
):
    application = advance_application(make_application(), "underwriting")
    response = post(
        officer,
        f"{API}/applications/{application.pk}/decide",
        {"decision": "approved", "reason": "Mine"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert response.json()["detail"] == (
        "You submitted this application, so you may not decide on it: another person must."
    )
    application.refresh_from_db()
    assert application.state == "underwriting"


def test_two_approvers_through_the_api(
    lending_bank, manager, make_application, advance_application
):
    application = advance_application(
        make_application(amount="400000", monthly_income="100000"), "underwriting"
    )
    base = f"{API}/applications/{application.pk}"
    assert manager.post(f"{base}/underwrite").status_code == 200
    response = post(manager, f"{base}/decide", {"decision": "approved", "reason": "Good"})
    assert response.status_code == 200
    assert response.json()["result"] == "pending_approval"
    approval = response.json()["approval"]
    assert response.json()["application"]["state"] == "underwriting"
    assert manager.get(base).json()["pending_approval"] == approval

    second = client_for(lending_bank.manager_a2)
    response = post(second, f"{base}/decide", {"decision": "approved", "reason": "Agree"})
    assert response.status_code == 200
    assert response.json()["result"] == "done"
    assert response.json()["application"]["state"] == "approved"
    assert response.json()["application"]["decided_by"] == lending_bank.manager_a2.get_full_name()


def test_another_branch_gets_404_everywhere_and_nothing_changes(
    lending_bank, rm_b, make_application, advance_application
):
    application = advance_application(make_application(), "submitted")
    document = application.documents.get(code="id_card")
    base = f"{API}/applications/{application.pk}"
    for url in (
        base,
        f"{API}/applications/{application.reference}",
        f"{base}/documents",
        f"{base}/parties",
        f"{base}/collateral",
        f"{base}/documents/{document.pk}/content",
    ):
        response = rm_b.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    for url, body in (
        (f"{base}/transition", {"transition": "withdraw", "reason": "x"}),
        (f"{base}/decide", {"decision": "declined", "reason": "x"}),
        (f"{base}/documents/{document.pk}/verify", {}),
        (f"{base}/documents/{document.pk}/reject", {"reason": "x"}),
        (f"{base}/parties", {"party": str(lending_bank.customer_b.pk), "role": "guarantor"}),
        (
            f"{base}/collateral",
            {
                "type": "deposit",
                "description": "x",
                "value": "1",
                "valuation_date": "2025-01-01",
            },
        ),
    ):
        assert post(rm_b, url, body).status_code == 404, url
    assert rm_b.post(f"{base}/underwrite").status_code == 404
    assert patch(rm_b, base, {"amount": "20000"}).status_code == 404
    upload = rm_b.post(
        f"{base}/documents/{document.pk}/upload",
        {"file": SimpleUploadedFile("x.pdf", PDF_BYTES, content_type="application/pdf")},
    )
    assert upload.status_code == 404
    assert rm_b.get(f"{API}/applications").json() == {"items": [], "next_cursor": None}
    application.refresh_from_db()
    document.refresh_from_db()
    assert (application.state, application.amount, application.underwriting) == (
        "submitted",
        Decimal("50000"),
        {},
    )
    assert document.status == "missing"
    assert not Collateral.objects.exists()


def test_list_filters_and_pages(lending_bank, officer, make_application, advance_application):
    first = make_application()
    second = advance_application(make_application(), "submitted")
    third = make_application(product=lending_bank.mortgage, amount="200000", term_months=120)
    listed = officer.get(f"{API}/applications").json()
    assert [item["id"] for item in listed["items"]] == [
        str(third.pk),
        str(second.pk),
        str(first.pk),
    ]
    assert [
        i["id"] for i in officer.get(f"{API}/applications?state=submitted").json()["items"]
    ] == [str(second.pk)]
    by_product = officer.get(f"{API}/applications?product={lending_bank.mortgage.pk}").json()
    assert [item["id"] for item in by_product["items"]] == [str(third.pk)]
    page = officer.get(f"{API}/applications?limit=2").json()
    assert [item["id"] for item in page["items"]] == [str(third.pk), str(second.pk)]
    rest = officer.get(f"{API}/applications?limit=2&cursor={page['next_cursor']}").json()
    assert [item["id"] for item in rest["items"]] == [str(first.pk)]
    assert rest["next_cursor"] is None
    bad = officer.get(f"{API}/applications?cursor=nonsense")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"


def test_update_through_the_api(lending_bank, officer, make_application):
    application = make_application()
    response = patch(
        officer, f"{API}/applications/{application.pk}", {"term_months": 36, "purpose": "Car"}
    )
    assert response.status_code == 200
    assert (response.json()["term_months"], response.json()["purpose"]) == (36, "Car")
    assert AuditEvent.objects.get(action="loan_application.update").after["term_months"] == 36


def test_notes_are_masked_unless_unmasked_with_a_reason(lending_bank, make_application):
    application = make_application()
    loan_application_notes_update(
        actor=lending_bank.analyst, application=application, notes="Salary confirmed by phone."
    )
    url = f"{API}/applications/{application.pk}"
    manager = client_for(lending_bank.manager_a)
    body = manager.get(url).json()
    assert (body["analyst_notes"], body["analyst_notes_masked"]) == ("Sa****", True)
    missing_reason = manager.get(f"{url}?unmask=true")
    assert missing_reason.status_code == 422
    assert missing_reason.json()["errors"][0]["field"] == "reason"
    clear = manager.get(f"{url}?unmask=true&reason=Credit+committee").json()
    assert (clear["analyst_notes"], clear["analyst_notes_masked"]) == (
        "Salary confirmed by phone.",
        False,
    )
    unmasked = AuditEvent.objects.get(action="pii.unmask")
    assert unmasked.reason == "Credit committee"
    # The credit analyst works on masked identities.
    analyst = client_for(lending_bank.analyst).get(f"{url}?unmask=true&reason=Curious")
    assert analyst.status_code == 403


def test_parties_and_collateral_endpoints(lending_bank, officer, make_application, today):
    application = make_application()
    base = f"{API}/applications/{application.pk}"
    response = post(
        officer,
        f"{base}/parties",
        {
            "party": str(lending_bank.co_applicant_a.pk),
            "role": "co_applicant",
            "monthly_income": "6000",
        },
    )
    assert response.status_code == 201
    assert response.json()["party_name"] == "王丽"
    party_pk = response.json()["id"]
    response = post(
        officer,
        f"{base}/collateral",
        {
            "type": "vehicle",
            "description": "Car",
            "value": "80000",
            "valuation_date": "2025-06-01",
            "haircut_percent": "25",
        },
    )
    assert response.status_code == 201
    assert response.json()["counted_value"] == "60000.00"
    item_pk = response.json()["id"]
    changed = patch(officer, f"{base}/collateral/{item_pk}", {"haircut_percent": "20"})
    assert changed.json()["counted_value"] == "64000.00"
    assert officer.delete(f"{base}/collateral/{item_pk}?reason=Sold").status_code == 204
    assert officer.delete(f"{base}/parties/{party_pk}").status_code == 204
    assert officer.get(f"{base}/parties").json() == []
    assert officer.get(f"{base}/collateral").json() == []


def test_documents_upload_checks_reject_and_download(lending_bank, officer, make_application):
    application = make_application()
    base = f"{API}/applications/{application.pk}"
    document = application.documents.get(code="income_proof")
    url = f"{base}/documents/{document.pk}"
    refused = officer.post(
        f"{url}/upload",
        {"file": SimpleUploadedFile("payslip.pdf", b"MZ\x90\x00", content_type="application/pdf")},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "field": "content",
            "message": "Only PDF, JPEG, PNG, TIFF, Word (.docx) and Excel (.xlsx) files are "
            "accepted.",
            "code": "file_type_not_allowed",
        }
    ]
    officer.post(
        f"{url}/upload",
        {"file": SimpleUploadedFile("payslip.pdf", PDF_BYTES, content_type="application/pdf")},
    )
    rejected = post(officer, f"{url}/reject", {"reason": "Unreadable"})
    assert (rejected.json()["status"], rejected.json()["note"]) == ("rejected", "Unreadable")
    download = officer.get(f"{url}/content")
    assert download.status_code == 200
    assert download.content == PDF_BYTES
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == 'attachment; filename="payslip.pdf"'
    assert AuditEvent.objects.filter(action="loan_application.document_download").count() == 1
    added = post(officer, f"{base}/documents", {"code": "tax_return", "name": "Tax return"})
    assert added.status_code == 201
    assert (added.json()["code"], added.json()["is_required"]) == ("tax_return", False)


# --- Products and reference rates -------------------------------------------------------------


def test_products_list_get_create_update(lending_bank, admin):
    listed = admin.get(f"{API}/products").json()
    assert [p["code"] for p in listed] == ["mg01", "pl01"]
    product = admin.get(f"{API}/products/pl01").json()
    assert (product["current_rate"], product["current_rate_problem"]) == ("6.000000", "")
    body = {
        "code": "sme01",
        "name": "Working capital",
        "type": "sme_working_capital",
        "min_amount": "50000",
        "max_amount": "2000000",
        "min_term_months": 6,
        "max_term_months": 36,
        "nominal_rate": "4.8",
        "authority_limits": [
            {"up_to": "500000", "roles": ["branch_manager"], "approvers": 1},
            {"up_to": None, "roles": ["branch_manager"], "approvers": 2},
        ],
    }
    created = post(admin, f"{API}/products", body)
    assert created.status_code == 201
    assert created.json()["authority_limits"][0] == {
        "up_to": "500000",
        "roles": ["branch_manager"],
        "approvers": 1,
    }
    updated = patch(admin, f"{API}/products/sme01", {"offer_valid_days": 45})
    assert updated.json()["offer_valid_days"] == 45


def test_product_errors_name_each_json_item(lending_bank, admin):
    body = {
        "code": "sme02",
        "name": "Working capital",
        "type": "sme_working_capital",
        "min_amount": "50000",
        "max_amount": "2000000",
        "min_term_months": 6,
        "max_term_months": 36,
        "authority_limits": [{"up_to": None, "roles": ["wizard"], "approvers": 5}],
    }
    response = post(admin, f"{API}/products", body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "authority_limits.0.roles",
            "message": "Unknown roles: wizard.",
            "code": "invalid_choice",
        },
        {
            "field": "authority_limits.0.approvers",
            "message": "Enter 1 or 2 approvers.",
            "code": "invalid_choice",
        },
    ]
    assert not LoanProduct.objects.filter(code="sme02").exists()


def test_product_changes_need_the_permission(lending_bank):
    agent = UserFactory(
        username="agent",
        org_unit=lending_bank.branch_a,
        roles=[Role.objects.get(code="service_agent")],
    )
    client = client_for(agent)
    response = patch(client, f"{API}/products/pl01", {"name": "Hacked"})
    assert response.status_code == 404  # products are not even visible without lending rights
    assert client.get(f"{API}/reference-rates").status_code == 403
    assert LoanProduct.objects.get(code="pl01").name == "Personal loan"


def test_reference_rates(lending_bank, admin):
    response = post(
        admin,
        f"{API}/reference-rates",
        {"code": "lpr5y", "name": "5-year LPR", "effective_from": "2025-05-20", "rate": "3.5"},
    )
    assert response.status_code == 201
    listed = admin.get(f"{API}/reference-rates?code=lpr5y").json()
    assert [(r["effective_from"], r["rate"]) for r in listed] == [
        ("2025-05-20", "3.500000"),
        ("2020-01-01", "3.600000"),
    ]
    again = post(
        admin,
        f"{API}/reference-rates",
        {"code": "lpr5y", "name": "5-year LPR", "effective_from": "2025-05-20", "rate": "3.4"},
    )
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "effective_from"
    assert ReferenceRate.objects.filter(code="lpr5y").count() == 2


# --- Schedule calculator ----------------------------------------------------------------------


def test_the_schedule_calculator(lending_bank, officer):
    response = post(
        officer,
        f"{API}/schedules",
        {
            "amount": "50000",
            "rate": "6",
            "months": 24,
            "method": "annuity",
            "day_count": "30360",
            "start": "2025-06-16",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k != "lines"} == {
        "currency": "CNY",
        "method": "annuity",
        "day_count": "30360",
        "frequency": "monthly",
        "annual_rate": "6",
        "maturity_date": "2027-06-16",
        "total_principal": "50000.00",
        "total_interest": "3184.73",
        "total_fees": "0.00",
        "total_payable": "53184.73",
        "upfront_fee": "0.00",
        "net_disbursed": "50000.00",
        "apr": "6.0000",
        "effective_rate": "6.1678",
    }
    assert len(body["lines"]) == 24
    assert body["lines"][0] == {
        "number": 1,
        "due_date": "2025-07-16",
        "days": 30,
        "opening_balance": "50000.00",
        "instalment": "2216.03",
        "principal": "1966.03",
        "interest": "250.00",
        "fee": "0.00",
        "closing_balance": "48033.97",
        "is_prepayment": False,
    }


def test_the_calculator_uses_a_products_terms(lending_bank, officer):
    response = post(
        officer,
        f"{API}/schedules",
        {"amount": "50000", "months": 24, "product": "pl01", "start": "2025-06-16"},
    )
    assert response.status_code == 200
    assert (response.json()["annual_rate"], response.json()["day_count"]) == ("6.000000", "30360")
    assert response.json()["lines"][0]["instalment"] == "2216.03"


def test_the_calculator_names_bad_fields(lending_bank, officer):
    response = post(
        officer,
        f"{API}/schedules",
        {"amount": "-5", "rate": "6", "periods": 0, "method": "balloon", "day_count": "30360"},
    )
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["amount", "method", "periods"]
    neither = post(officer, f"{API}/schedules", {"amount": "1000", "rate": "6"})
    assert neither.json()["errors"][0]["field"] == "months"


def test_dates_in_step_options_are_checked(
    lending_bank, officer, make_application, advance_application
):
    application = advance_application(make_application(), "contract_signed")
    response = post(
        officer,
        f"{API}/applications/{application.pk}/transition",
        {"transition": "disburse", "options": {"disbursed_on": "20 June"}},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "options.disbursed_on", "message": "Enter a date.", "code": "invalid"}
    ]
    application.refresh_from_db()
    assert application.state == "contract_signed"
