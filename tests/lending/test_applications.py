"""Loan applications: creation, the workflow through every state, guards, documents,
parties, collateral, disbursement and scoping."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import zipfile
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404

from bankcrm.audit.models import AuditEvent
from bankcrm.core.workflow import WorkflowError, workflow_history, workflow_transition
from bankcrm.events.models import OutboxEvent
from bankcrm.lending import guards, selectors
from bankcrm.lending.models import (
    ApplicationDocument,
    ApplicationParty,
    Collateral,
    Loan,
    LoanApplication,
)
from bankcrm.lending.services_applications import (
    application_document_add,
    application_document_content,
    application_document_reject,
    application_document_upload,
    application_document_verify,
    application_party_add,
    application_party_remove,
    collateral_add,
    collateral_remove,
    collateral_update,
    document_kind,
    loan_application_decide,
    loan_application_disburse,
    loan_application_notes_update,
    loan_application_transition,
    loan_application_underwrite,
    loan_application_update,
)
from tests.factories.banking import AccountFactory
from tests.factories.customers import PersonFactory
from tests.lending.conftest import PDF_BYTES, TODAY

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def office_package(main_part: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr(main_part, "<document/>")
    return buffer.getvalue()


def messages(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def upload_and_verify(actor, document, **kwargs):
    application_document_upload(
        actor=actor,
        document=document,
        file_name=f"{document.code}.pdf",
        content=PDF_BYTES,
        content_type="application/pdf",
    )
    document.refresh_from_db()
    return application_document_verify(actor=actor, document=document, **kwargs)


# --- Creating ---------------------------------------------------------------------------------


def test_create_starts_the_workflow_and_copies_the_checklist(lending_bank, make_application, today):
    application = make_application()

    application.refresh_from_db()
    assert application.reference == "LA-2025-000001"
    assert application.state == "draft"
    assert application.workflow.key == "loan_application"
    assert application.branch == lending_bank.branch_a  # the applicant's owning unit
    assert application.officer == lending_bank.officer_a
    assert application.currency == "CNY"
    assert application.amount == Decimal("50000.00")
    assert list(
        application.documents.order_by("code").values_list("code", "name", "is_required", "status")
    ) == [
        ("id_card", "Identity card", True, "missing"),
        ("income_proof", "Proof of income", True, "missing"),
    ]
    assert [
        (s.from_state, s.to_state, s.transition)
        for s in workflow_history(actor=lending_bank.officer_a, subject=application)
    ] == [("", "draft", "start")]
    created = AuditEvent.objects.get(action="loan_application.create")
    assert created.object_pk == str(application.pk)
    assert created.after["reference"] == "LA-2025-000001"
    assert created.after["amount"] == "50000.00"
    assert list(
        OutboxEvent.objects.filter(object_pk=str(application.pk)).values_list("type", flat=True)
    ) == ["loan_application.started"]


def test_references_count_up_within_the_year(make_application, today):
    first, second = make_application(), make_application()
    assert (first.reference, second.reference) == ("LA-2025-000001", "LA-2025-000002")


def test_create_names_each_bad_field_and_saves_nothing(lending_bank, make_application, today):
    with pytest.raises(ValidationError) as exc:
        make_application(
            amount="900000",
            term_months=3,
            currency="USD",
            settlement_account=lending_bank.account_b,
            monthly_income="-5",
            colour="blue",
        )
    assert messages(exc) == {
        "colour": ["This field is not allowed here."],
        "currency": ["The product lends in CNY only."],
        "amount": ["The amount must be between 10000.00 and 500000.00 CNY."],
        "term_months": ["The term must be between 6 and 60 months."],
        "monthly_income": ["Enter zero or more."],
        # Branch B's account is out of officer A's reach.
        "settlement_account": ["No such account."],
    }
    assert LoanApplication.objects.count() == 0


def test_the_applicant_must_be_a_customer_the_actor_can_see(lending_bank, make_application):
    with pytest.raises(ValidationError) as exc:
        make_application(applicant=lending_bank.customer_b, settlement_account=None)
    assert messages(exc) == {"applicant": ["No such customer."]}
    with pytest.raises(ValidationError) as exc:
        make_application(actor=lending_bank.rm_b, settlement_account=None)
    assert messages(exc) == {"applicant": ["No such customer."]}
    assert LoanApplication.objects.count() == 0


def test_the_settlement_account_must_be_the_applicants(lending_bank, make_application):
    other = AccountFactory(branch=lending_bank.branch_a, owner=lending_bank.co_applicant_a)
    with pytest.raises(ValidationError) as exc:
        make_application(settlement_account=other)
    assert messages(exc) == {
        "settlement_account": ["The account must be held by the applicant or a co-applicant."]
    }


def test_a_relationship_manager_creates_for_a_customer_of_their_portfolio(
    lending_bank, make_application
):
    application = make_application(actor=lending_bank.rm_a)
    assert application.officer == lending_bank.rm_a
    assert application.branch == lending_bank.branch_a


def test_an_officer_cannot_file_an_application_in_another_branch(lending_bank, make_application):
    with pytest.raises(PermissionDenied):
        make_application(branch=lending_bank.branch_b)
    assert LoanApplication.objects.count() == 0


# --- The workflow, state by state -------------------------------------------------------------


def states(application) -> list[tuple[str, str, str]]:
    return [
        (step.from_state, step.to_state, step.transition)
        for step in workflow_history(actor=None, subject=application)
    ]


def test_an_application_goes_through_every_state_to_contract_signed(
    lending_bank, make_application, today
):
    officer, manager = lending_bank.officer_a, lending_bank.manager_a
    application = make_application()

    loan_application_transition(actor=officer, application=application, transition="submit")
    application.refresh_from_db()
    assert application.state == "submitted"
    assert application.submitted_by == officer
    for document in application.documents.all():
        upload_and_verify(officer, document)
    loan_application_transition(
        actor=officer, application=application, transition="complete_documents"
    )
    loan_application_transition(
        actor=officer, application=application, transition="start_underwriting"
    )
    result = loan_application_underwrite(actor=manager, application=application)
    assert result["recommendation"] == "approve"
    loan_application_transition(
        actor=manager, application=application, transition="approve", reason="Affordable."
    )
    application.refresh_from_db()
    assert (application.state, application.decision, application.decided_by) == (
        "approved",
        "approved",
        manager,
    )
    assert application.offer_expires_on == dt.date(2025, 7, 16)
    loan_application_transition(actor=officer, application=application, transition="accept_offer")
    loan_application_transition(actor=officer, application=application, transition="sign_contract")

    application.refresh_from_db()
    assert application.state == "contract_signed"
    assert states(application) == [
        ("", "draft", "start"),
        ("draft", "submitted", "submit"),
        ("submitted", "documents_collected", "complete_documents"),
        ("documents_collected", "underwriting", "start_underwriting"),
        ("underwriting", "approved", "approve"),
        ("approved", "offer_accepted", "accept_offer"),
        ("offer_accepted", "contract_signed", "sign_contract"),
    ]
    events = list(
        OutboxEvent.objects.filter(object_pk=str(application.pk))
        .order_by("occurred_at", "pk")
        .values_list("type", flat=True)
    )
    assert events.count("loan_application.transitioned") == 6
    assert [t for t in events if not t.endswith("transitioned")] == [
        "loan_application.started",
        "loan_application.submitted",
        "loan_application.decided",
    ]
    submitted = OutboxEvent.objects.get(type="loan_application.submitted")
    assert submitted.payload == {
        "reference": "LA-2025-000001",
        "product": "pl01",
        "amount": "50000.0000",
        "approved_amount": None,
        "currency": "CNY",
        "decision": "",
        "state": "submitted",
    }
    decided = OutboxEvent.objects.get(type="loan_application.decided")
    assert decided.payload == {
        "reference": "LA-2025-000001",
        "product": "pl01",
        "amount": "50000.0000",
        "approved_amount": "50000.00",
        "currency": "CNY",
        "decision": "approved",
        "state": "approved",
    }


def test_an_illegal_step_is_refused_with_the_possible_steps(lending_bank, make_application):
    application = make_application()
    with pytest.raises(WorkflowError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="accept_offer"
        )
    assert exc.value.code == "workflow_illegal_transition"
    assert exc.value.messages == [
        "The step “accept_offer” is not possible from the state “draft”. "
        "Possible steps from here: “submit”, “withdraw”, “cancel”."
    ]
    with pytest.raises(WorkflowError) as exc:
        loan_application_transition(
            actor=lending_bank.manager_a,
            application=application,
            transition="approve",
            reason="Looks fine",
        )
    assert exc.value.code == "workflow_illegal_transition"
    application.refresh_from_db()
    assert (application.state, application.decision) == ("draft", "")
    assert states(application) == [("", "draft", "start")]


def test_a_step_the_roles_may_not_take_is_refused(
    lending_bank, make_application, advance_application
):
    application = advance_application(make_application(), "approved")
    loan_application_transition(
        actor=lending_bank.rm_a, application=application, transition="accept_offer"
    )
    with pytest.raises(PermissionDenied) as exc:
        # Signing the contract is for loan officers and branch managers.
        loan_application_transition(
            actor=lending_bank.rm_a, application=application, transition="sign_contract"
        )
    assert str(exc.value) == (
        "Your roles may not take the step “Contract signed”; it needs one of: "
        "loan_officer, branch_manager."
    )


def test_the_customer_withdraws_with_a_reason(lending_bank, make_application, advance_application):
    application = advance_application(make_application(), "submitted")
    with pytest.raises(ValidationError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="withdraw"
        )
    assert exc.value.message_dict == {
        "reason": ["Say why you take the step “Withdrawn by the customer”."]
    }
    loan_application_transition(
        actor=lending_bank.officer_a,
        application=application,
        transition="withdraw",
        reason="Found a cheaper offer elsewhere.",
    )
    application.refresh_from_db()
    assert application.state == "withdrawn"
    with pytest.raises(WorkflowError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="submit"
        )
    assert exc.value.messages == [
        "The step “submit” is not possible from the state “withdrawn”. "
        "Possible steps from here: none."
    ]


def test_the_bank_cancels_a_signed_contract(lending_bank, make_application, advance_application):
    application = advance_application(make_application(), "contract_signed")
    loan_application_transition(
        actor=lending_bank.manager_a,
        application=application,
        transition="cancel",
        reason="Collateral title defect found.",
    )
    application.refresh_from_db()
    assert application.state == "cancelled"
    step = AuditEvent.objects.filter(action="workflow.transition").order_by("-id").first()
    assert step.after == {"state": "cancelled", "transition": "cancel"}
    assert step.reason == "Collateral title defect found."


def test_unknown_step_options_are_refused(lending_bank, make_application):
    application = make_application()
    with pytest.raises(ValidationError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="submit", rate="5"
        )
    assert exc.value.message_dict == {"options.rate": ["The step “submit” takes no option “rate”."]}


# --- Guards -----------------------------------------------------------------------------------


def test_an_incomplete_application_cannot_be_submitted(lending_bank, make_application):
    application = make_application(monthly_income="0", settlement_account=None, purpose="")
    with pytest.raises(WorkflowError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="submit"
        )
    assert exc.value.code == "workflow_condition_failed"
    assert exc.value.messages == [
        "The application is not complete: Say what the loan is for. Enter the applicant's "
        "monthly income. Choose the account the loan is paid into and repaid from."
    ]
    application.refresh_from_db()
    assert (application.state, application.submitted_by) == ("draft", None)


def test_documents_complete_names_the_missing_documents(
    lending_bank, make_application, advance_application
):
    application = advance_application(make_application(), "submitted")
    id_card = application.documents.get(code="id_card")
    application_document_upload(
        actor=lending_bank.officer_a,
        document=id_card,
        file_name="id.pdf",
        content=PDF_BYTES,
        content_type="application/pdf",
    )
    with pytest.raises(WorkflowError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="complete_documents"
        )
    assert exc.value.messages == [
        "Documents missing: Identity card (not verified yet); Proof of income."
    ]


def test_an_expired_document_counts_as_missing(
    lending_bank, make_application, advance_application, today, monkeypatch
):
    application = advance_application(make_application(), "submitted")
    for document in application.documents.all():
        upload_and_verify(lending_bank.officer_a, document)
    income = application.documents.get(code="income_proof")
    assert income.expires_on == dt.date(2025, 9, 14)  # verified today, valid for 90 days
    assert application.documents.get(code="id_card").expires_on is None
    monkeypatch.setattr(guards, "_today", lambda: dt.date(2025, 9, 15))
    with pytest.raises(WorkflowError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="complete_documents"
        )
    assert exc.value.messages == ["Documents missing: Proof of income (expired on Sept. 14, 2025)."]
    monkeypatch.setattr(guards, "_today", lambda: dt.date(2025, 9, 14))
    loan_application_transition(
        actor=lending_bank.officer_a, application=application, transition="complete_documents"
    )
    application.refresh_from_db()
    assert application.state == "documents_collected"


def test_decisions_and_disbursement_only_through_their_services(
    lending_bank, make_application, advance_application
):
    application = advance_application(make_application(), "underwriting")
    with pytest.raises(WorkflowError) as exc:
        workflow_transition(
            actor=lending_bank.manager_a, subject=application, transition="approve", reason="ok"
        )
    assert exc.value.messages == [
        "Decisions are recorded through the decision panel, which checks the approval "
        "authority and the underwriting result."
    ]
    application = advance_application(application, "contract_signed")
    with pytest.raises(WorkflowError) as exc:
        workflow_transition(
            actor=lending_bank.officer_a, subject=application, transition="disburse"
        )
    assert exc.value.messages == [
        "Disburse the loan from the disbursement panel: it books the loan and its schedule."
    ]
    application.refresh_from_db()
    assert application.state == "contract_signed"


def test_an_expired_offer_cannot_be_accepted(
    lending_bank, make_application, advance_application, today, monkeypatch
):
    application = advance_application(make_application(), "approved")
    assert application.offer_expires_on == dt.date(2025, 7, 16)
    monkeypatch.setattr(guards, "_today", lambda: dt.date(2025, 7, 17))
    with pytest.raises(WorkflowError) as exc:
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition="accept_offer"
        )
    assert exc.value.messages == ["The offer expired on July 16, 2025."]


def test_closing_needs_the_loan_closed(lending_bank, make_application):
    application = make_application()
    assert guards.loan_closed(application, lending_bank.officer_a) == (
        "No loan has been booked for this application."
    )


# --- Updating ---------------------------------------------------------------------------------


def test_update_is_audited_and_clears_a_stale_underwriting(
    lending_bank, make_application, advance_application, today
):
    application = advance_application(make_application(), "underwriting")
    loan_application_underwrite(actor=lending_bank.manager_a, application=application)
    updated = loan_application_update(
        actor=lending_bank.officer_a,
        application=application,
        changes={"amount": "60000", "purpose": "Kitchen and bathroom"},
    )
    assert updated.amount == Decimal("60000")
    assert updated.underwriting == {}
    assert updated.underwritten_at is None
    event = AuditEvent.objects.get(action="loan_application.update")
    assert event.before["amount"] == "50000.0000"
    assert event.after["amount"] == "60000"
    assert event.before["purpose"] == "Home renovation"
    assert event.after["purpose"] == "Kitchen and bathroom"


def test_update_refuses_the_product_and_out_of_range_terms(lending_bank, make_application):
    application = make_application()
    with pytest.raises(ValidationError) as exc:
        loan_application_update(
            actor=lending_bank.officer_a,
            application=application,
            changes={"product": lending_bank.mortgage, "term_months": 72},
        )
    assert exc.value.message_dict == {
        "product": ["The product and the applicant cannot change: open a new application."],
        "term_months": ["The term must be between 6 and 60 months."],
    }
    application.refresh_from_db()
    assert application.term_months == 24


def test_update_is_refused_after_the_decision(lending_bank, make_application, advance_application):
    application = advance_application(make_application(), "approved")
    with pytest.raises(ValidationError) as exc:
        loan_application_update(
            actor=lending_bank.officer_a, application=application, changes={"amount": "40000"}
        )
    assert exc.value.messages == [
        "Changing the application is not possible while the application is “approved”."
    ]
    application.refresh_from_db()
    assert application.amount == Decimal("50000")


def test_analyst_notes_are_encrypted_and_only_named_in_the_audit(lending_bank, make_application):
    application = make_application()
    loan_application_notes_update(
        actor=lending_bank.analyst, application=application, notes="Salary confirmed by phone."
    )
    application.refresh_from_db()
    assert application.analyst_notes == "Salary confirmed by phone."
    event = AuditEvent.objects.get(action="loan_application.notes_update")
    assert event.changed_secrets == ["analyst_notes"]
    assert event.after is None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT analyst_notes FROM lending_loanapplication WHERE id = %s",
            [application.pk.hex if connection.vendor == "sqlite" else application.pk],
        )
        stored = cursor.fetchone()[0]
    assert "Salary" not in str(stored)


# --- Parties and collateral -------------------------------------------------------------------


def test_parties_are_added_once_and_never_the_applicant(lending_bank, make_application):
    application = make_application()
    row = application_party_add(
        actor=lending_bank.officer_a,
        application=application,
        party=lending_bank.co_applicant_a,
        role="co_applicant",
        monthly_income="8000",
    )
    assert (row.role, row.monthly_income) == ("co_applicant", Decimal("8000"))
    with pytest.raises(ValidationError) as exc:
        application_party_add(
            actor=lending_bank.officer_a,
            application=application,
            party=lending_bank.customer_a,
            role="guarantor",
        )
    assert exc.value.message_dict == {"party": ["The applicant is already on the application."]}
    with pytest.raises(ValidationError) as exc:
        application_party_add(
            actor=lending_bank.officer_a,
            application=application,
            party=lending_bank.co_applicant_a,
            role="guarantor",
        )
    assert exc.value.message_dict == {
        "party": ["This customer is already a party to the application."]
    }
    with pytest.raises(ValidationError) as exc:
        application_party_add(
            actor=lending_bank.officer_a,
            application=application,
            party=lending_bank.customer_b,
            role="spouse",
            guaranteed_amount="1000",
        )
    assert exc.value.message_dict == {
        "party": ["No such customer."],
        "role": ["Choose co_applicant or guarantor."],
        "guaranteed_amount": ["Only a guarantor guarantees an amount."],
    }
    guarantor = PersonFactory(
        owning_unit=lending_bank.branch_a, portfolio=lending_bank.bank.portfolio_a
    )
    with pytest.raises(ValidationError) as exc:
        application_party_add(
            actor=lending_bank.officer_a,
            application=application,
            party=guarantor,
            role="guarantor",
            guaranteed_amount="60000",
        )
    assert exc.value.message_dict == {
        "guaranteed_amount": ["Enter an amount above zero, at most the amount requested."]
    }
    assert ApplicationParty.objects.filter(application=application).count() == 1
    application_party_remove(
        actor=lending_bank.officer_a, application_party=row, reason="Not a co-borrower after all"
    )
    assert ApplicationParty.objects.filter(application=application).count() == 0
    removed = AuditEvent.objects.get(action="loan_application.party_remove")
    assert removed.before["role"] == "co_applicant"
    assert removed.reason == "Not a co-borrower after all"


def test_collateral_is_validated_and_audited(lending_bank, make_application, today):
    application = make_application()
    with pytest.raises(ValidationError) as exc:
        collateral_add(
            actor=lending_bank.officer_a,
            application=application,
            data={
                "type": "boat",
                "value": "0",
                "currency": "USD",
                "valuation_date": dt.date(2025, 7, 1),
                "haircut_percent": "100",
            },
        )
    assert exc.value.message_dict == {
        "description": ["This field is required."],
        "type": [
            "Choose one of: real_estate, vehicle, deposit, securities, equipment, "
            "receivables, other."
        ],
        "value": ["The value must be above zero."],
        "currency": [
            "Value the collateral in the loan's currency (CNY); use the haircut for the "
            "exchange-rate risk."
        ],
        "valuation_date": ["A valuation cannot be in the future."],
        "haircut_percent": ["Enter a haircut from 0 to below 100 %."],
    }
    item = collateral_add(
        actor=lending_bank.officer_a,
        application=application,
        data={
            "type": "vehicle",
            "description": "BYD Han EV 2024",
            "value": "180000",
            "valuation_date": "2025-06-01",
            "valuer": "Dealer",
            "haircut_percent": "30",
        },
    )
    assert (item.currency, item.valuation_date) == ("CNY", dt.date(2025, 6, 1))
    collateral_update(actor=lending_bank.officer_a, collateral=item, changes={"value": "170000"})
    item.refresh_from_db()
    assert item.value == Decimal("170000")
    updated = AuditEvent.objects.get(action="loan_application.collateral_update")
    assert (updated.before["value"], updated.after["value"]) == ("180000.0000", "170000")
    assert set(updated.after) == {"value", "updated_at"}
    collateral_remove(actor=lending_bank.officer_a, collateral=item, reason="Sold")
    assert not Collateral.objects.filter(application=application).exists()


# --- Documents --------------------------------------------------------------------------------


def test_document_kinds_are_read_from_the_bytes():
    assert document_kind(PDF_BYTES) == "pdf"
    assert document_kind(b"\xff\xd8\xff\xe0JFIF") == "jpeg"
    assert document_kind(PNG_BYTES) == "png"
    assert document_kind(b"II*\x00rest") == "tiff"
    assert document_kind(b"MM\x00*rest") == "tiff"
    assert document_kind(office_package("word/document.xml")) == "docx"
    assert document_kind(office_package("xl/workbook.xml")) == "xlsx"
    assert document_kind(office_package("ppt/presentation.xml")) is None
    assert document_kind(b"PK\x03\x04 not a zip") is None
    assert document_kind(b"MZ\x90\x00 an executable") is None


def test_upload_stores_the_file_encrypted_with_its_digest(lending_bank, make_application):
    application = make_application()
    document = application.documents.get(code="income_proof")
    application_document_upload(
        actor=lending_bank.officer_a,
        document=document,
        file_name="C:\\fakepath\\payslip-may.pdf",
        content=PDF_BYTES,
        content_type="application/octet-stream",
    )
    document = ApplicationDocument.objects.get(pk=document.pk)
    assert document.status == "received"
    assert document.file_name == "payslip-may.pdf"
    assert document.content_type == "application/pdf"
    assert document.size == len(PDF_BYTES)
    assert document.sha256 == hashlib.sha256(PDF_BYTES).hexdigest()
    assert document.uploaded_by == lending_bank.officer_a
    assert base64.b64decode(document.content) == PDF_BYTES
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT content FROM lending_applicationdocument WHERE id = %s",
            [document.pk.hex if connection.vendor == "sqlite" else document.pk],
        )
        stored = str(cursor.fetchone()[0])
    assert base64.b64encode(PDF_BYTES).decode() not in stored
    event = AuditEvent.objects.get(action="loan_application.document_upload")
    assert event.changed_secrets == ["content"]
    assert event.after["sha256"] == document.sha256
    assert "content" not in event.after


@pytest.mark.parametrize(
    ("file_name", "content", "content_type", "expected"),
    [
        (
            "payslip.pdf",
            b"just some text",
            "application/pdf",
            {
                "content": [
                    "Only PDF, JPEG, PNG, TIFF, Word (.docx) and Excel (.xlsx) files are accepted."
                ]
            },
        ),
        (
            "payslip.pdf",
            PNG_BYTES,
            "image/png",
            {"file_name": ["The name “payslip.pdf” does not match the file's content (PNG)."]},
        ),
        (
            "payslip.png",
            PNG_BYTES,
            "application/pdf",
            {
                "content_type": [
                    "The declared type application/pdf does not match the file's content (PNG)."
                ]
            },
        ),
        (
            "statement.xlsx",
            office_package("word/document.xml"),
            "",
            {"file_name": ["The name “statement.xlsx” does not match the file's content (DOCX)."]},
        ),
        ("empty.pdf", b"", "application/pdf", {"content": ["The file is empty."]}),
        (
            "huge.pdf",
            b"%PDF-" + b"0" * (10 * 1024 * 1024),
            "application/pdf",
            {"content": ["The file is larger than 10 MB."]},
        ),
        ("", PDF_BYTES, "application/pdf", {"file_name": ["Give the file's name."]}),
    ],
)
def test_uploads_are_refused_unless_the_bytes_are_an_accepted_type(
    lending_bank, make_application, file_name, content, content_type, expected
):
    application = make_application()
    document = application.documents.get(code="id_card")
    with pytest.raises(ValidationError) as exc:
        application_document_upload(
            actor=lending_bank.officer_a,
            document=document,
            file_name=file_name,
            content=content,
            content_type=content_type,
        )
    assert exc.value.message_dict == expected
    document.refresh_from_db()
    assert (document.status, document.size, document.content) == ("missing", 0, "")
    assert not AuditEvent.objects.filter(action="loan_application.document_upload").exists()


def test_office_files_are_accepted_by_their_package(lending_bank, make_application):
    application = make_application()
    document = application.documents.get(code="income_proof")
    application_document_upload(
        actor=lending_bank.officer_a,
        document=document,
        file_name="bank-statement.xlsx",
        content=office_package("xl/workbook.xml"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    document.refresh_from_db()
    assert document.content_type == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )


def test_verify_reject_and_the_audited_download(lending_bank, make_application, today):
    application = make_application()
    document = application.documents.get(code="income_proof")
    with pytest.raises(ValidationError) as exc:
        application_document_verify(actor=lending_bank.officer_a, document=document)
    assert exc.value.message_dict == {"status": ["Upload the document before verifying it."]}
    application_document_upload(
        actor=lending_bank.officer_a,
        document=document,
        file_name="payslip.pdf",
        content=PDF_BYTES,
        content_type="application/pdf",
    )
    with pytest.raises(ValidationError) as exc:
        application_document_reject(actor=lending_bank.officer_a, document=document, reason=" ")
    assert exc.value.message_dict == {"reason": ["Say why the document is rejected."]}
    rejected = application_document_reject(
        actor=lending_bank.officer_a, document=document, reason="Older than three months"
    )
    assert (rejected.status, rejected.note) == ("rejected", "Older than three months")
    application_document_upload(
        actor=lending_bank.officer_a,
        document=document,
        file_name="payslip-june.pdf",
        content=PDF_BYTES,
        content_type="application/pdf",
    )
    verified = application_document_verify(
        actor=lending_bank.officer_a, document=document, expires_on=dt.date(2025, 8, 31)
    )
    assert (verified.status, verified.expires_on, verified.verified_by) == (
        "verified",
        dt.date(2025, 8, 31),
        lending_bank.officer_a,
    )
    assert application_document_content(actor=lending_bank.analyst, document=document) == PDF_BYTES
    download = AuditEvent.objects.get(action="loan_application.document_download")
    assert download.actor_user_id == lending_bank.analyst.pk
    assert download.after == {
        "file_name": "payslip-june.pdf",
        "sha256": hashlib.sha256(PDF_BYTES).hexdigest(),
        "size": len(PDF_BYTES),
    }


def test_an_extra_checklist_line(lending_bank, make_application):
    application = make_application()
    line = application_document_add(
        actor=lending_bank.officer_a,
        application=application,
        code="marriage_certificate",
        name="Marriage certificate",
        is_required=True,
    )
    assert line.status == "missing"
    with pytest.raises(ValidationError) as exc:
        application_document_add(
            actor=lending_bank.officer_a,
            application=application,
            code="marriage_certificate",
            name="Again",
        )
    assert exc.value.message_dict == {"code": ["The checklist already has this document."]}


# --- Disbursement -----------------------------------------------------------------------------


def test_disbursement_books_the_loan_and_takes_the_step(
    lending_bank, make_application, advance_application, today
):
    application = advance_application(make_application(), "contract_signed")
    loan = loan_application_disburse(
        actor=lending_bank.officer_a, application=application, disbursed_on=dt.date(2025, 6, 20)
    )
    application.refresh_from_db()
    assert application.state == "disbursed"
    assert isinstance(loan, Loan)
    assert (loan.application_id, loan.principal, loan.annual_rate, loan.term_months) == (
        application.pk,
        Decimal("50000.00"),
        Decimal("6.000000"),
        24,
    )
    assert (loan.borrower, loan.account, loan.branch) == (
        lending_bank.customer_a,
        lending_bank.account_a,
        lending_bank.branch_a,
    )
    assert loan.disbursed_on == dt.date(2025, 6, 20)
    assert loan.instalments.filter(is_current=True).count() == 24
    assert OutboxEvent.objects.filter(type="loan.disbursed", object_pk=str(loan.pk)).exists()
    assert AuditEvent.objects.get(action="loan_application.disburse").after["reference"] == (
        loan.reference
    )


def test_disbursement_only_from_a_signed_contract(
    lending_bank, make_application, advance_application
):
    application = advance_application(make_application(), "approved")
    with pytest.raises(WorkflowError) as exc:
        loan_application_disburse(actor=lending_bank.officer_a, application=application)
    assert exc.value.code == "workflow_illegal_transition"
    assert not Loan.objects.exists()


def test_disbursement_needs_the_collateral_cover(
    lending_bank, make_application, advance_application, today
):
    application = make_application(
        product=lending_bank.mortgage,
        amount="400000",
        term_months=240,
        monthly_income="60000",
    )
    collateral_add(
        actor=lending_bank.officer_a,
        application=application,
        data={
            "type": "real_estate",
            "description": "Flat in Chaoyang",
            "value": "600000",
            "valuation_date": "2025-06-01",
        },
    )
    application = advance_application(application, "submitted")
    for document in application.documents.all():
        upload_and_verify(lending_bank.officer_a, document)
    for step in ("complete_documents", "start_underwriting"):
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition=step
        )
    loan_application_underwrite(actor=lending_bank.manager_a, application=application)
    # 400,000 lies in the two-approver tier: manager A proposes, manager A2 confirms.
    loan_application_decide(
        actor=lending_bank.manager_a, application=application, decision="approved", reason="Good"
    )
    loan_application_decide(
        actor=lending_bank.manager_a2, application=application, decision="approved", reason="Agree"
    )
    application = advance_application(application, "contract_signed")
    item = application.collateral.get()
    collateral_update(actor=lending_bank.officer_a, collateral=item, changes={"value": "450000"})
    with pytest.raises(ValidationError) as exc:
        loan_application_disburse(actor=lending_bank.officer_a, application=application)
    assert exc.value.message_dict == {
        "collateral": ["Collateral covers 112.50 % of the loan; the product needs 125 %."]
    }
    application.refresh_from_db()
    assert application.state == "contract_signed"
    assert not Loan.objects.exists()


# --- Scope ------------------------------------------------------------------------------------


def test_another_branchs_application_is_not_found_and_unchanged(
    lending_bank, make_application, advance_application
):
    application = advance_application(make_application(), "submitted")
    for outsider in (lending_bank.rm_b, lending_bank.officer_b, lending_bank.manager_b):
        with pytest.raises(Http404):
            selectors.loan_application_get(actor=outsider, pk=application.pk)
        assert list(selectors.loan_application_list(actor=outsider)) == []
        with pytest.raises(Http404):
            loan_application_update(
                actor=outsider, application=application, changes={"amount": "20000"}
            )
        with pytest.raises(Http404):
            loan_application_transition(
                actor=outsider, application=application, transition="withdraw", reason="x"
            )
        with pytest.raises(Http404):
            application_document_content(
                actor=outsider, document=application.documents.get(code="id_card")
            )
    application.refresh_from_db()
    assert (application.state, application.amount) == ("submitted", Decimal("50000"))
    # The credit analyst works bank-wide.
    assert selectors.loan_application_get(actor=lending_bank.analyst, pk=application.pk) == (
        application
    )


def test_an_rm_sees_only_their_portfolios_applications(lending_bank, make_application):
    mine = make_application()
    other = make_application(
        actor=lending_bank.officer_b,
        applicant=lending_bank.customer_b,
        settlement_account=lending_bank.account_b,
    )
    assert list(selectors.loan_application_list(actor=lending_bank.rm_a)) == [mine]
    assert list(selectors.loan_application_list(actor=lending_bank.rm_b)) == [other]


def test_today_fixture_is_the_services_today(today):
    assert today == TODAY


def test_a_reference_taken_meanwhile_is_retried_with_the_next_number(
    make_application, today, monkeypatch
):
    """Two officers creating at once may compute the same number: the unique index refuses
    the second insert, which retries with the next free reference."""
    from bankcrm.lending import services_applications

    first = make_application()
    computed = iter(["LA-2025-000001"])  # what a concurrent creator had just taken
    real = services_applications._next_reference
    monkeypatch.setattr(
        services_applications,
        "_next_reference",
        lambda year: next(computed, None) or real(year),
    )
    second = make_application()
    assert (first.reference, second.reference) == ("LA-2025-000001", "LA-2025-000002")
    assert LoanApplication.objects.count() == 2


def test_moving_an_application_out_of_ones_reach_is_refused(lending_bank, make_application):
    application = make_application()
    with pytest.raises(PermissionDenied):
        loan_application_update(
            actor=lending_bank.officer_a,
            application=application,
            changes={"branch": lending_bank.branch_b.pk},
        )
    application.refresh_from_db()
    assert application.branch == lending_bank.branch_a
    assert not AuditEvent.objects.filter(action="loan_application.update").exists()


def test_a_product_no_longer_offered_takes_no_applications(lending_bank, make_application):
    lending_bank.product.is_active = False
    lending_bank.product.save()
    with pytest.raises(ValidationError) as exc:
        make_application()
    assert exc.value.message_dict == {"product": ["No such loan product is offered."]}
