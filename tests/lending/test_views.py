"""The lending pages: the board, the application list and form, the application page and
its panels, loans, delinquency, products and the calculator.

Each page renders for the roles that use it with exact figures; another branch's
application or loan is a 404 on every page and action and nothing changes; bad input shows
the field's error and changes nothing; lists keep a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.lending import services_applications as services
from bankcrm.lending.models import (
    ApplicationParty,
    Collateral,
    Instalment,
    Loan,
    LoanApplication,
    LoanProduct,
)
from bankcrm.lending.services_loans import (
    delinquency_recalculate,
    loan_book,
    repayment_record,
)
from tests.factories import UserFactory
from tests.factories.lending import LoanApplicationFactory
from tests.lending.conftest import PDF_BYTES

pytestmark = pytest.mark.django_db

D = Decimal


def login(client, user):
    client.force_login(user)
    return client


def text(response) -> str:
    """The page's visible text, tags removed and spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", html.replace("&nbsp;", " ")).strip()


def section(response, element_id: str) -> str:
    """The text of the element with ``id`` (up to its closing tag of the same name)."""
    html = response.content.decode()
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', html)
    assert match, f"no element #{element_id}"
    tag = match.group(1)
    depth, position = 0, match.start()
    for item in re.finditer(rf"<(/?){tag}\b[^>]*>", html[match.start() :]):
        depth += -1 if item.group(1) else 1
        if depth == 0:
            position = match.start() + item.end()
            break
    fragment = html[match.start() : position]
    fragment = re.sub(r"<[^>]+>", " ", fragment)
    return re.sub(r"\s+", " ", fragment).strip()


def detail_url(application) -> str:
    return reverse("lending:application_detail", args=[application.pk])


def agent(lb):
    return UserFactory(
        username="agent_a", org_unit=lb.branch_a, roles=[Role.objects.get(code="service_agent")]
    )


def administrator(lb):
    """The bank's administrator (who keeps the loan products), enrolled in two-factor
    sign-in as the role requires."""
    return UserFactory(
        username="admin_ho",
        org_unit=lb.head_office,
        roles=[Role.objects.get(code="administrator")],
        mfa_enabled=True,
    )


def app_row(lb, state="submitted", amount="50000.00", **extra):
    return LoanApplicationFactory(
        product=extra.pop("product", lb.product),
        branch=extra.pop("branch", lb.branch_a),
        applicant=extra.pop("applicant", lb.customer_a),
        state=state,
        amount=D(amount),
        **extra,
    )


def book(lb, actor=None, **overrides):
    """CNY 12,000 at 12 % over 12 months (annuity 30/360) to customer A, 15 January 2024."""
    values = {
        "product": lb.product,
        "borrower": lb.customer_a,
        "account": lb.account_a,
        "branch": lb.branch_a,
        "principal": D("12000.00"),
        "currency": "CNY",
        "annual_rate": D("12"),
        "term_months": 12,
        "method": "annuity",
        "day_count": "30360",
        "frequency": "monthly",
        "disbursed_on": dt.date(2024, 1, 15),
    }
    values.update(overrides)
    return loan_book(actor=actor or lb.officer_a, **values)


# --- The board ----------------------------------------------------------------------------


def test_board_shows_counts_amounts_and_breaches(client, lending_bank):
    lb = lending_bank
    now = timezone.now()
    late = app_row(lb, "submitted", "50000.00", state_due_at=now - dt.timedelta(hours=2))
    app_row(lb, "submitted", "30000.00", state_due_at=now + dt.timedelta(hours=5))
    app_row(lb, "underwriting", "120000.00")
    app_row(lb, "declined", "9000.00")
    response = login(client, lb.officer_a).get(reverse("lending:board"))
    assert response.status_code == 200
    column = section(response, "column-submitted")
    assert column.startswith("Submitted 2 CNY 80,000.00 1 past SLA SLA 8 h")
    assert "王**" in column and "王小明" not in column
    html = response.content.decode()
    card = re.search(rf'<article[^>]*data-reference="{late.reference}"', html).group(0)
    assert "bc-breached" in card
    assert "SLA breached" in section(response, "column-submitted")
    assert section(response, "column-underwriting").startswith("Underwriting 1 CNY 120,000.00")
    assert "Declined 1 CNY 9,000.00" in section(response, "pipeline-closed")
    assert section(response, "pipeline-summary") == "3 open applications · 1 past its SLA"


@pytest.mark.parametrize("role", ["branch_manager", "credit_analyst", "relationship_manager"])
def test_board_renders_for_lending_roles(client, lending_bank, role):
    lb = lending_bank
    app_row(lb, "underwriting", "70000.00")
    user = {
        "branch_manager": lb.manager_a,
        "credit_analyst": lb.analyst,
        "relationship_manager": lb.rm_a,
    }[role]
    response = login(client, user).get(reverse("lending:board"))
    assert response.status_code == 200
    assert section(response, "column-underwriting").startswith("Underwriting 1 CNY 70,000.00")


def test_board_is_refused_without_lending_rights(client, lending_bank):
    response = login(client, agent(lending_bank)).get(reverse("lending:board"))
    assert response.status_code == 403


def test_board_filters_refresh_the_columns_only(client, lending_bank):
    lb = lending_bank
    app_row(lb, "submitted", "10000.00", officer=lb.officer_a)
    app_row(lb, "submitted", "20000.00", officer=lb.officer_a2)
    login(client, lb.manager_a)
    response = client.get(
        reverse("lending:board"),
        {"officer": lb.officer_a2.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="pipeline-board",
    )
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert section(response, "column-submitted").startswith("Submitted 1 CNY 20,000.00")


def test_board_reports_bad_filters(client, lending_bank):
    response = login(client, lending_bank.manager_a).get(
        reverse("lending:board"), {"min_age_days": "-1"}
    )
    assert response.status_code == 200
    assert "In the state for at least (days): Ensure this value is greater than or equal to 0." in (
        section(response, "board-filter-errors")
    )
    assert 'id="pipeline-columns"' not in response.content.decode()


def test_board_query_count_does_not_grow(client, lending_bank, django_assert_num_queries):
    lb = lending_bank
    login(client, lb.manager_a)
    for state in ("submitted", "underwriting", "approved"):
        app_row(lb, state)
    client.get(reverse("lending:board"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("lending:board"))
    for state in ("submitted", "underwriting", "approved", "referred", "draft"):
        for _ in range(4):
            app_row(lb, state)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("lending:board"))
    assert len(many) == len(few)


# --- Application list -------------------------------------------------------------------------


def test_application_list_filters_and_scope(client, lending_bank):
    lb = lending_bank
    a = app_row(lb, "submitted", "11000.00")
    b = app_row(lb, "declined", "12000.00")
    c = app_row(lb, "submitted", "13000.00", branch=lb.branch_b, applicant=lb.customer_b)
    login(client, lb.officer_a)
    response = client.get(reverse("lending:application_list"))
    body = text(response)
    assert a.reference in body and b.reference in body and c.reference not in body
    response = client.get(reverse("lending:application_list"), {"state": "open"})
    body = text(response)
    assert a.reference in body and b.reference not in body
    response = client.get(reverse("lending:application_list"), {"q": b.reference})
    assert section(response, "application-table").count("LA-") == 1


def test_application_list_query_count_is_fixed(client, lending_bank):
    lb = lending_bank
    login(client, lb.manager_a)
    for _ in range(3):
        app_row(lb, officer=lb.officer_a)
    client.get(reverse("lending:application_list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("lending:application_list"))
    for _ in range(20):
        app_row(lb, officer=lb.officer_a2)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("lending:application_list"))
    assert len(many) == len(few)


# --- The application form ---------------------------------------------------------------


def create_data(lb, **overrides):
    data = {
        "applicant": str(lb.customer_a.pk),
        "product": str(lb.product.pk),
        "amount": "60,000.00",
        "term_months": "36",
        "purpose": "Car purchase",
        "monthly_income": "25000",
        "monthly_obligations": "",
        "monthly_expenses": "4000",
        "settlement_account": str(lb.account_a.pk),
    }
    data.update(overrides)
    return data


def test_create_an_application(client, lending_bank):
    lb = lending_bank
    login(client, lb.officer_a)
    response = client.get(reverse("lending:application_create"), {"applicant": lb.customer_a.pk})
    assert response.status_code == 200
    assert "王小明" in section(response, "applicant-results")
    accounts = section(response, "settlement-account-field")
    assert f"**** {lb.account_a.number[-4:]}" in accounts

    response = client.post(reverse("lending:application_create"), create_data(lb))
    application = LoanApplication.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(application)
    assert (application.amount, application.term_months, application.purpose) == (
        D("60000.00"),
        36,
        "Car purchase",
    )
    assert application.monthly_obligations == D("0")
    assert application.settlement_account == lb.account_a
    assert (application.officer, application.state) == (lb.officer_a, "draft")
    assert sorted(application.documents.values_list("code", flat=True)) == [
        "id_card",
        "income_proof",
    ]


def test_create_reports_field_errors_and_creates_nothing(client, lending_bank):
    lb = lending_bank
    login(client, lb.officer_a)
    response = client.post(
        reverse("lending:application_create"),
        create_data(lb, amount="-5", term_months="", monthly_income="lots"),
    )
    assert response.status_code == 400
    body = text(response)
    assert "Enter an amount above zero." in section(response, "id_amount_error")
    assert section(response, "id_term_months_error") == "This field is required."
    assert section(response, "id_monthly_income_error") == "Enter an amount such as 1,200.50."
    assert LoanApplication.objects.count() == 0
    assert "Car purchase" not in body and 'value="Car purchase"' in response.content.decode()


def test_create_reports_the_services_errors_on_the_fields(client, lending_bank):
    lb = lending_bank
    login(client, lb.officer_a)
    response = client.post(reverse("lending:application_create"), create_data(lb, amount="5"))
    assert response.status_code == 400
    assert "10000" in section(response, "id_amount_error")
    assert LoanApplication.objects.count() == 0


def test_create_cannot_pick_another_branchs_customer(client, lending_bank):
    lb = lending_bank
    login(client, lb.officer_a)
    response = client.post(
        reverse("lending:application_create"),
        create_data(lb, applicant=str(lb.customer_b.pk), settlement_account=""),
    )
    assert response.status_code == 400
    assert section(response, "id_applicant_error") == "Search for the applicant and choose one."
    assert LoanApplication.objects.count() == 0


def test_applicant_search_lists_choices_within_reach(client, lending_bank):
    lb = lending_bank
    login(client, lb.officer_a)
    response = client.get(reverse("lending:applicant_search"), {"q": "王"})
    html = response.content.decode()
    assert f'value="{lb.customer_a.pk}"' in html and "王小明" in html
    assert 'name="applicant"' in html
    response = client.get(reverse("lending:applicant_search"), {"q": "李大伟"})
    assert "No customer you may see matches this search." in text(response)


# --- The application page ---------------------------------------------------------------


def test_application_page_for_each_role(client, lending_bank, make_application):
    lb = lending_bank
    application = make_application()
    for user in (lb.officer_a, lb.manager_a, lb.analyst, lb.rm_a):
        response = login(client, user).get(detail_url(application))
        assert response.status_code == 200, user
        header = section(response, "application-header")
        assert header.startswith(f"{application.reference} Draft")
        assert "Applicant 王**" in header
        assert "Amount and term CNY 50,000.00 · 24 months" in header
        assert "Personal loan" in header
        assert "王小明" not in header
        assert section(response, "credit-score") == "Credit score: No credit model is registered."
    response = login(client, agent(lb)).get(detail_url(application))
    assert response.status_code == 403


def test_another_branch_gets_404_everywhere_and_nothing_changes(
    client, lending_bank, make_application
):
    lb = lending_bank
    application = make_application()
    document = application.documents.get(code="id_card")
    collateral = Collateral.objects.create(
        application=application,
        type="deposit",
        description="Deposit",
        value=D("10000"),
        currency="CNY",
        valuation_date=dt.date(2025, 1, 1),
    )
    party = ApplicationParty.objects.create(
        application=application, party=lb.co_applicant_a, role="co_applicant"
    )
    before = (AuditEvent.objects.count(), application.state, document.status)
    login(client, lb.officer_b)
    pk = application.pk
    calls = [
        ("get", detail_url(application), {}),
        ("post", reverse("lending:application_transition", args=[pk]), {"transition": "submit"}),
        ("post", reverse("lending:application_underwrite", args=[pk]), {}),
        ("post", reverse("lending:application_notes", args=[pk]), {"notes": "x"}),
        (
            "post",
            reverse("lending:application_decide", args=[pk]),
            {"decision": "declined", "reason": "x"},
        ),
        ("post", reverse("lending:document_add", args=[pk]), {"name": "Extra"}),
        (
            "post",
            reverse("lending:document_upload", args=[pk, document.pk]),
            {"file": SimpleUploadedFile("a.pdf", PDF_BYTES, "application/pdf")},
        ),
        ("post", reverse("lending:document_verify", args=[pk, document.pk]), {}),
        ("post", reverse("lending:document_reject", args=[pk, document.pk]), {"reason": "x"}),
        ("get", reverse("lending:document_download", args=[pk, document.pk]), {}),
        (
            "post",
            reverse("lending:party_add", args=[pk]),
            {"party": str(lb.customer_b.pk), "role": "guarantor"},
        ),
        ("post", reverse("lending:party_remove", args=[pk, party.pk]), {}),
        ("post", reverse("lending:collateral_add", args=[pk]), {"type": "deposit"}),
        ("get", reverse("lending:collateral_edit", args=[pk, collateral.pk]), {}),
        ("post", reverse("lending:collateral_remove", args=[pk, collateral.pk]), {}),
    ]
    for method, url, data in calls:
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (method, url)
    application.refresh_from_db()
    document.refresh_from_db()
    assert (AuditEvent.objects.count(), application.state, document.status) == before
    assert Collateral.objects.filter(pk=collateral.pk).exists()
    assert ApplicationParty.objects.filter(pk=party.pk).exists()


def test_steps_show_blocked_ones_with_their_reason(client, lending_bank, make_application):
    lb = lending_bank
    application = make_application()
    login(client, lb.officer_a)
    response = client.post(
        reverse("lending:application_transition", args=[application.pk]),
        {"transition": "submit"},
    )
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.state == "submitted"
    response = client.get(detail_url(application))
    html = response.content.decode()
    button = re.search(r'<form[^>]*id="step-complete_documents".*?</form>', html, re.S).group(0)
    assert "disabled" in button
    assert section(response, "step-complete_documents-blocked") == (
        "Documents missing: Identity card; Proof of income."
    )
    # Withdrawing needs a reason: the page asks for it, and refuses without one.
    assert 'id="step-withdraw-reason"' in html
    response = client.post(
        reverse("lending:application_transition", args=[application.pk]),
        {"transition": "withdraw", "reason": ""},
    )
    assert response.status_code == 400
    assert "Say why you take the step" in section(response, "step-errors")
    application.refresh_from_db()
    assert application.state == "submitted"


def test_documents_upload_verify_reject_and_download(client, lending_bank, make_application):
    lb = lending_bank
    application = make_application()
    document = application.documents.get(code="income_proof")
    login(client, lb.officer_a)
    upload = SimpleUploadedFile("payslip.pdf", PDF_BYTES, content_type="application/pdf")
    response = client.post(
        reverse("lending:document_upload", args=[application.pk, document.pk]), {"file": upload}
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert (document.status, document.file_name) == ("received", "payslip.pdf")

    response = client.post(
        reverse("lending:document_verify", args=[application.pk, document.pk]),
        {"expires_on": "2099-12-31"},
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert (document.status, document.expires_on) == ("verified", dt.date(2099, 12, 31))
    page = client.get(detail_url(application))
    assert "valid until 31 Dec 2099" in section(page, f"document-{document.pk}")

    response = client.get(reverse("lending:document_download", args=[application.pk, document.pk]))
    assert response.status_code == 200
    assert response.content == PDF_BYTES
    assert response["Content-Disposition"] == 'attachment; filename="payslip.pdf"'
    assert AuditEvent.objects.filter(action="loan_application.document_download").count() == 1

    response = client.post(
        reverse("lending:document_reject", args=[application.pk, document.pk]),
        {"reason": "Older than three months"},
    )
    assert response.status_code == 302
    page = client.get(detail_url(application))
    assert "Rejected: Older than three months" in section(page, f"document-{document.pk}")


def test_a_bad_upload_is_reported_on_its_line_and_changes_nothing(
    client, lending_bank, make_application
):
    lb = lending_bank
    application = make_application()
    document = application.documents.get(code="id_card")
    login(client, lb.officer_a)
    upload = SimpleUploadedFile("id.pdf", b"not a pdf at all", content_type="application/pdf")
    response = client.post(
        reverse("lending:document_upload", args=[application.pk, document.pk]), {"file": upload}
    )
    assert response.status_code == 400
    assert section(response, f"document-{document.pk}-errors")
    document.refresh_from_db()
    assert (document.status, document.file_name) == ("missing", "")
    response = client.post(reverse("lending:document_verify", args=[application.pk, document.pk]))
    assert response.status_code == 400
    assert section(response, f"document-{document.pk}-errors") == (
        "Upload the document before verifying it."
    )


def test_parties_and_collateral_panels(client, lending_bank, make_application):
    lb = lending_bank
    application = make_application()
    login(client, lb.officer_a)
    # The customer search of the parties panel (without script): the applicant is not
    # offered as a party to their own application.
    page = client.get(detail_url(application), {"party_q": "王"})
    results = section(page, "party-results")
    assert "王丽" in results and "王小明" not in results
    assert f'name="party" value="{lb.co_applicant_a.pk}"' in page.content.decode()
    response = client.post(
        reverse("lending:party_add", args=[application.pk]),
        {"party": str(lb.co_applicant_a.pk), "role": "guarantor", "guaranteed_amount": "20000"},
    )
    assert response.status_code == 302
    row = ApplicationParty.objects.get(application=application)
    assert (row.party, row.role, row.guaranteed_amount) == (
        lb.co_applicant_a,
        "guarantor",
        D("20000"),
    )
    response = client.post(
        reverse("lending:collateral_add", args=[application.pk]),
        {
            "type": "deposit",
            "description": "Term deposit pledged",
            "value": "80,000",
            "valuation_date": "2025-01-10",
            "haircut_percent": "20",
        },
    )
    assert response.status_code == 302
    page = client.get(detail_url(application))
    summary = section(page, "collateral-summary")
    # 80,000 less 20 % counts 64,000: LTV 50,000 / 64,000 = 78.13 %.
    # (half-up, as the underwriting rounds)
    assert summary.startswith("Counted value CNY 64,000.00 Loan-to-value (LTV) 78.13 %")
    assert "Guarantor" in section(page, "party-table")

    item = Collateral.objects.get(application=application)
    response = client.post(
        reverse("lending:collateral_edit", args=[application.pk, item.pk]),
        {
            "type": "deposit",
            "description": "Term deposit pledged",
            "value": "100000",
            "valuation_date": "2025-02-01",
            "haircut_percent": "0",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.value, item.haircut_percent) == (D("100000"), D("0"))
    response = client.post(
        reverse("lending:collateral_edit", args=[application.pk, item.pk]),
        {"type": "deposit", "description": "", "value": "0", "valuation_date": "x"},
    )
    assert response.status_code == 400
    item.refresh_from_db()
    assert item.value == D("100000")
    response = client.post(reverse("lending:collateral_remove", args=[application.pk, item.pk]))
    assert response.status_code == 302
    assert not Collateral.objects.filter(pk=item.pk).exists()
    response = client.post(reverse("lending:party_remove", args=[application.pk, row.pk]))
    assert not ApplicationParty.objects.filter(pk=row.pk).exists()


def test_underwriting_and_decision_by_the_branch_manager(
    client, lending_bank, make_application, advance_application
):
    lb = lending_bank
    application = advance_application(make_application(), "underwriting")
    login(client, lb.manager_a)
    response = client.post(reverse("lending:application_underwrite", args=[application.pk]))
    assert response.status_code == 302
    page = client.get(detail_url(application))
    assert section(page, "underwriting-recommendation").startswith(
        "Policy rules recommend: approve"
    )
    assert section(page, "credit-score") == "Credit score: No credit model is registered."
    assert "Debt-to-income (%) 16.08 %" in section(page, "underwriting-facts")
    authority = section(page, "decision-authority")
    assert authority.startswith("Approving CNY 50,000.00 needs: Loan officer, Branch manager.")
    assert "You may approve this amount." in authority

    response = client.post(
        reverse("lending:application_decide", args=[application.pk]),
        {"decision": "approved", "reason": "Affordable, documents complete."},
    )
    assert response.status_code == 302
    application.refresh_from_db()
    assert (application.state, application.decision, application.decided_by) == (
        "approved",
        "approved",
        lb.manager_a,
    )
    page = client.get(detail_url(application))
    offer = section(page, "offer-terms")
    assert offer.startswith("Amount CNY 50,000.00 Term 24 months Rate 6 % APR")
    assert "Interest CNY" in section(page, "offer-totals")


def test_the_submitter_cannot_decide(client, lending_bank, make_application, advance_application):
    lb = lending_bank
    application = advance_application(make_application(), "underwriting")
    services.loan_application_underwrite(actor=lb.manager_a, application=application)
    login(client, lb.officer_a)  # officer A submitted it
    page = client.get(detail_url(application))
    assert section(page, "decision-you") == (
        "You submitted this application, so another person must decide on it."
    )
    response = client.post(
        reverse("lending:application_decide", args=[application.pk]),
        {"decision": "approved", "reason": "Fine"},
    )
    assert response.status_code == 403
    assert "you may not decide on it" in section(response, "decision-errors")
    application.refresh_from_db()
    assert application.state == "underwriting"


def test_decision_form_errors(client, lending_bank, make_application, advance_application):
    lb = lending_bank
    application = advance_application(make_application(), "underwriting")
    login(client, lb.manager_a)
    response = client.post(
        reverse("lending:application_decide", args=[application.pk]),
        {"decision": "approved", "reason": "", "amount": "-1"},
    )
    assert response.status_code == 400
    assert section(response, "id_reason_error") == "This field is required."
    assert section(response, "id_amount_error") == "Enter an amount above zero."
    application.refresh_from_db()
    assert application.state == "underwriting"


def test_two_approver_tier_shows_the_pending_request(
    client, lending_bank, make_application, advance_application
):
    lb = lending_bank
    application = advance_application(
        make_application(amount=D("400000.00"), term_months=60, monthly_income=D("200000")),
        "documents_collected",
    )
    services.loan_application_transition(
        actor=lb.officer_a, application=application, transition="start_underwriting"
    )
    services.loan_application_underwrite(actor=lb.manager_a, application=application)
    login(client, lb.manager_a)
    page = client.get(detail_url(application))
    assert "2 approvers" in section(page, "decision-approvers")
    response = client.post(
        reverse("lending:application_decide", args=[application.pk]),
        {"decision": "approved", "reason": "Strong income, long relationship."},
    )
    assert response.status_code == 302
    approval = PendingApproval.objects.get(action="lending.decision")
    page = client.get(detail_url(application))
    pending = section(page, "decision-pending")
    assert f"Open request {approval.pk} in Approvals" in pending
    assert f'href="/approvals/{approval.pk}/"' in page.content.decode()
    application.refresh_from_db()
    assert application.state == "underwriting"


def test_disbursement_books_the_loan(client, lending_bank, make_application, advance_application):
    lb = lending_bank
    application = advance_application(make_application(), "contract_signed")
    login(client, lb.officer_a)
    response = client.post(
        reverse("lending:application_transition", args=[application.pk]),
        {"transition": "disburse", "first_due": "not a date"},
    )
    assert response.status_code == 400
    assert section(response, "id_first_due_error") == "Enter a valid date."
    assert Loan.objects.count() == 0
    response = client.post(
        reverse("lending:application_transition", args=[application.pk]),
        {"transition": "disburse"},
    )
    loan = Loan.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("lending:loan_detail", args=[loan.pk])
    assert loan.application == application
    page = client.get(detail_url(application))
    assert section(page, "application-loan-link") == f"Loan {loan.reference}"


# --- Loans ------------------------------------------------------------------------------


def delinquent_loan(lb):
    """A loan with its first two instalments paid and the rest late."""
    loan = book(lb)
    repayment_record(
        actor=lb.officer_a,
        loan=loan,
        amount=D("2132.38"),
        received_on=dt.date(2024, 3, 15),
        reason="Paid at the counter",
    )
    delinquency_recalculate(actor=SystemActor("test"), as_of=dt.date(2024, 6, 1))
    loan.refresh_from_db()
    return loan


def test_loan_page(client, lending_bank):
    lb = lending_bank
    loan = delinquent_loan(lb)
    assert (loan.days_past_due, loan.bucket) == (47, "31-60")
    for user in (lb.officer_a, lb.manager_a, lb.analyst, lb.rm_a):
        response = login(client, user).get(reverse("lending:loan_detail", args=[loan.pk]))
        assert response.status_code == 200
        header = section(response, "loan-header")
        assert header.startswith(
            f"{loan.reference} Performing 31–60 days past due 47 days past due"
        )
        assert "Amount lent CNY 12,000.00" in header
        assert "Borrower 王**" in header
    html = response.content.decode()
    assert html.count('data-status="paid"') == 2
    # Every later line is overdue today (the loan ended in January 2025).
    assert html.count('data-status="overdue"') == 10
    assert section(response, "schedule-summary") == "2 of 12 paid · 10 overdue"
    assert section(response, "repayment-table").startswith(
        "Received Amount Principal Interest Fees Not yet allocated 15 Mar 2024 CNY 2,132.38"
    )
    assert (
        login(client, agent(lb)).get(reverse("lending:loan_detail", args=[loan.pk])).status_code
        == 403
    )


def test_another_branch_gets_404_for_the_loan(client, lending_bank):
    lb = lending_bank
    loan = book(lb)
    before = (
        AuditEvent.objects.count(),
        PendingApproval.objects.count(),
        Instalment.objects.count(),
    )
    login(client, lb.officer_b)
    for method, name, data in [
        ("get", "lending:loan_detail", {}),
        (
            "post",
            "lending:loan_prepay",
            {"amount": "100", "on": "2024-02-01", "mode": "reduce_term"},
        ),
        (
            "post",
            "lending:loan_restructure",
            {"annual_rate": "5", "term_months": "12", "method": "annuity", "reason": "x"},
        ),
        ("post", "lending:loan_write_off", {"reason": "x"}),
    ]:
        response = getattr(client, method)(reverse(name, args=[loan.pk]), data)
        assert response.status_code == 404, name
    assert (
        AuditEvent.objects.count(),
        PendingApproval.objects.count(),
        Instalment.objects.count(),
    ) == before


def test_loan_requests_go_to_the_approvals_queue(client, lending_bank):
    lb = lending_bank
    loan = delinquent_loan(lb)
    login(client, lb.officer_a)
    response = client.post(reverse("lending:loan_write_off", args=[loan.pk]), {"reason": ""})
    assert response.status_code == 400
    assert section(response, "id_reason_error") == "This field is required."
    assert PendingApproval.objects.count() == 0
    response = client.post(
        reverse("lending:loan_write_off", args=[loan.pk]),
        {"reason": "Borrower insolvent; collateral none."},
    )
    assert response.status_code == 302
    approval = PendingApproval.objects.get(action="lending.write_off")
    page = client.get(reverse("lending:loan_detail", args=[loan.pk]))
    assert f"Request {approval.pk}" in section(page, "requests")
    loan.refresh_from_db()
    assert loan.status == "performing"


def test_prepay_bad_input_changes_nothing(client, lending_bank):
    lb = lending_bank
    loan = book(lb)
    lines_before = list(Instalment.objects.filter(loan=loan).values_list("pk", "amount_due"))
    login(client, lb.officer_a)
    response = client.post(
        reverse("lending:loan_prepay", args=[loan.pk]),
        {"amount": "abc", "on": "", "mode": "reduce_term"},
    )
    assert response.status_code == 400
    assert section(response, "id_amount_error") == "Enter an amount such as 1,200.50."
    assert section(response, "id_on_error") == "This field is required."
    assert list(Instalment.objects.filter(loan=loan).values_list("pk", "amount_due")) == (
        lines_before
    )


def test_loan_list_and_its_query_count(client, lending_bank):
    lb = lending_bank
    first = book(lb)
    book(lb, actor=lb.officer_b, borrower=lb.customer_b, account=lb.account_b, branch=lb.branch_b)
    login(client, lb.officer_a)
    response = client.get(reverse("lending:loan_list"))
    table = section(response, "loan-table")
    assert first.reference in table and table.count("LN-") == 1
    assert "CNY 12,000.00" in table
    client.get(reverse("lending:loan_list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("lending:loan_list"))
    for _ in range(5):
        book(lb)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("lending:loan_list"))
    assert len(many) == len(few)


# --- Delinquency ------------------------------------------------------------------------


def test_delinquency_matrix_links_to_the_loans(client, lending_bank):
    lb = lending_bank
    late = delinquent_loan(lb)
    book(lb, disbursed_on=dt.date(2024, 5, 1))  # first due 1 June: current on 1 June
    delinquency_recalculate(actor=SystemActor("test"), as_of=dt.date(2024, 6, 1))
    login(client, lb.manager_a)
    response = client.get(reverse("lending:delinquency"))
    assert response.status_code == 200
    html = response.content.decode()
    row = re.search(rf'<tr data-branch="{lb.branch_a.pk}">.*?</tr>', html, re.S).group(0)
    cell = re.search(r'<td[^>]*data-bucket="31-60">.*?</td>', row, re.S).group(0)
    assert f'href="/lending/loans/?bucket=31-60&amp;branch={lb.branch_a.pk}"' in cell
    cell_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
    assert cell_text.startswith("1 loan CNY ")
    current = re.search(r'<td[^>]*data-bucket="current">.*?</td>', row, re.S).group(0)
    assert "1 loan CNY 12,000.00" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", current))
    assert section(response, "delinquency-total").startswith("2")
    # The link opens exactly that loan.
    listed = client.get(reverse("lending:loan_list"), {"bucket": "31-60", "branch": lb.branch_a.pk})
    assert section(listed, "loan-table").count("LN-") == 1
    assert late.reference in section(listed, "loan-table")


def test_delinquency_is_scoped(client, lending_bank):
    lb = lending_bank
    delinquent_loan(lb)
    response = login(client, lb.manager_b).get(reverse("lending:delinquency"))
    assert section(response, "delinquency-empty") == "No open loans."


# --- Products ---------------------------------------------------------------------------


def product_post(product: LoanProduct, **overrides):
    data = {
        "code": product.code,
        "name": product.name,
        "name_zh": product.name_zh,
        "type": product.type,
        "currency": product.currency,
        "min_amount": "10000",
        "max_amount": "500000",
        "min_term_months": "6",
        "max_term_months": "60",
        "rate_type": "fixed",
        "nominal_rate": "6",
        "reference_rate_code": "",
        "margin": "0",
        "upfront_fee_percent": "0",
        "upfront_fee_amount": "0",
        "period_fee": "0",
        "frequency": "monthly",
        "method": "annuity",
        "day_count": "30360",
        "grace_periods": "0",
        "collateral_cover_percent": "0",
        "offer_valid_days": "30",
        "is_active": "on",
        "documents-TOTAL_FORMS": "3",
        "documents-INITIAL_FORMS": "2",
        "documents-0-code": "id_card",
        "documents-0-name": "Identity card",
        "documents-0-name_zh": "身份证",
        "documents-1-code": "income_proof",
        "documents-1-name": "Proof of income",
        "documents-1-name_zh": "收入证明",
        "documents-1-expires_after_days": "90",
        "documents-2-code": "bank_statement",
        "documents-2-name": "Bank statements, 6 months",
        "tiers-TOTAL_FORMS": "3",
        "tiers-INITIAL_FORMS": "3",
        "tiers-0-up_to": "100000",
        "tiers-0-roles": "loan_officer, branch_manager",
        "tiers-0-approvers": "1",
        "tiers-1-up_to": "300000",
        "tiers-1-roles": "branch_manager",
        "tiers-1-approvers": "1",
        "tiers-2-up_to": "",
        "tiers-2-roles": "branch_manager, credit_analyst",
        "tiers-2-approvers": "2",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-0-code": "dti_cap",
        "rules-0-name": "Debt-to-income at most 50 %",
        "rules-0-fact": "dti",
        "rules-0-op": "<=",
        "rules-0-value": "50",
        "rules-0-outcome": "decline",
        "rules-0-when_unknown": "refer",
    }
    data.update(overrides)
    return data


def test_product_pages(client, lending_bank):
    lb = lending_bank
    login(client, administrator(lb))
    response = client.get(reverse("lending:product_list"))
    assert "Personal loan" in section(response, "product-table")
    assert "CNY 10,000.00 – CNY 500,000.00" in section(response, "product-table")
    response = client.get(reverse("lending:product_edit", args=[lb.product.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="documents-1-expires_after_days"' in html and 'value="90"' in html
    assert 'value="loan_officer, branch_manager"' in html

    response = client.post(
        reverse("lending:product_edit", args=[lb.product.pk]),
        product_post(lb.product, name="Personal loan plus"),
    )
    assert response.status_code == 302, text(response)[:2000]
    lb.product.refresh_from_db()
    assert lb.product.name == "Personal loan plus"
    assert [d["code"] for d in lb.product.required_documents] == [
        "id_card",
        "income_proof",
        "bank_statement",
    ]
    assert lb.product.policy_rules == [
        {
            "code": "dti_cap",
            "name": "Debt-to-income at most 50 %",
            "fact": "dti",
            "op": "<=",
            "value": "50",
            "outcome": "decline",
            "when_unknown": "refer",
        }
    ]


def test_product_edit_errors_change_nothing(client, lending_bank):
    lb = lending_bank
    login(client, administrator(lb))
    before = LoanProduct.objects.values().get(pk=lb.product.pk)
    response = client.post(
        reverse("lending:product_edit", args=[lb.product.pk]),
        product_post(lb.product, name="Changed", min_amount="900000", **{"tiers-0-roles": ""}),
    )
    assert response.status_code == 400
    assert section(response, "id_tiers-0-roles") is not None
    assert "Name at least one role." in text(response)
    assert LoanProduct.objects.values().get(pk=lb.product.pk) == before
    # The service's own checks land on the fields too (smallest above largest).
    response = client.post(
        reverse("lending:product_edit", args=[lb.product.pk]),
        product_post(lb.product, name="Changed", min_amount="900000"),
    )
    assert response.status_code == 400
    assert section(response, "id_max_amount_error") == (
        "The largest amount must be at least the smallest amount."
    )
    assert LoanProduct.objects.values().get(pk=lb.product.pk) == before


def test_add_a_row_keeps_what_was_typed(client, lending_bank):
    lb = lending_bank
    login(client, administrator(lb))
    response = client.post(
        reverse("lending:product_edit", args=[lb.product.pk]),
        product_post(lb.product, name="Typed", add_row="rules"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="rules-1-code"' in html
    assert 'value="Typed"' in html
    lb.product.refresh_from_db()
    assert lb.product.name == "Personal loan"


def test_products_need_the_product_permission(client, lending_bank):
    lb = lending_bank
    response = login(client, agent(lb)).get(reverse("lending:product_list"))
    assert response.status_code == 403
    # Loan officers read the products but do not change them: the administrator does.
    login(client, lb.officer_a)
    response = client.get(reverse("lending:product_list"))
    assert response.status_code == 200
    assert 'href="/lending/products/new/"' not in response.content.decode()
    before = LoanProduct.objects.values().get(pk=lb.product.pk)
    response = client.post(
        reverse("lending:product_edit", args=[lb.product.pk]),
        product_post(lb.product, name="Changed"),
    )
    assert response.status_code == 403
    assert LoanProduct.objects.values().get(pk=lb.product.pk) == before


# --- The calculator -------------------------------------------------------------------------


def test_calculator(client, lending_bank):
    login(client, lending_bank.officer_a)
    query = {
        "amount": "120,000",
        "currency": "CNY",
        "annual_rate": "6",
        "months": "12",
        "method": "annuity",
        "day_count": "30360",
        "frequency": "monthly",
        "start": "2025-01-15",
    }
    response = client.get(reverse("lending:calculator"), query)
    assert response.status_code == 200
    # 120,000 × 0.005 / (1 − 1.005^−12) = 10,327.97 a month; APR = the nominal rate.
    assert section(response, "calculator-first") == "CNY 10,327.97"
    assert section(response, "calculator-apr") == "6.0000 %"
    assert section(response, "schedule-total-principal") == "CNY 120,000.00"
    partial = client.get(
        reverse("lending:calculator"),
        {**query, "method": "equal_principal"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="calculator-result",
    )
    assert "<html" not in partial.content.decode()
    # Equal principal: 10,000 + 600 interest in the first month.
    assert section(partial, "calculator-first") == "CNY 10,600.00"


def test_calculator_errors(client, lending_bank):
    login(client, lending_bank.officer_a)
    response = client.get(
        reverse("lending:calculator"),
        {"amount": "-1", "annual_rate": "6", "months": "0", "method": "annuity"},
    )
    assert response.status_code == 400
    errors = section(response, "calculator-errors")
    assert "Amount: Enter an amount above zero." in errors
    assert "Term (months): Ensure this value is greater than or equal to 1." in errors
