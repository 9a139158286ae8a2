"""Decisions under authority limits: four eyes, tiers, role limits, maker-checker for
two-approver tiers, hard declines, overrides, and the audit and events they leave."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from bankcrm.audit.models import AuditEvent
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services_approvals import approval_approve
from bankcrm.events.models import OutboxEvent
from bankcrm.lending.services_applications import (
    application_document_upload,
    application_document_verify,
    loan_application_decide,
    loan_application_transition,
    loan_application_underwrite,
)
from tests.factories.lending import LoanProductFactory
from tests.lending.conftest import PDF_BYTES


@pytest.fixture
def in_underwriting(lending_bank, make_application, advance_application):
    """``in_underwriting(**overrides)``: an application submitted by loan officer A, its
    documents verified, in underwriting, underwritten by the analyst."""

    def make(**overrides):
        application = advance_application(make_application(**overrides), "underwriting")
        loan_application_underwrite(actor=lending_bank.analyst, application=application)
        application.refresh_from_db()
        return application

    return make


def decide(actor, application, decision="approved", reason="Affordable and documented.", **terms):
    return loan_application_decide(
        actor=actor, application=application, decision=decision, reason=reason, **terms
    )


def test_an_approval_prices_the_offer(lending_bank, in_underwriting, today):
    application = in_underwriting()
    result = decide(lending_bank.manager_a, application)
    assert result == application
    application.refresh_from_db()
    assert application.state == "approved"
    assert (application.decision, application.decided_by, application.decision_reason) == (
        "approved",
        lending_bank.manager_a,
        "Affordable and documented.",
    )
    assert application.approved_amount == Decimal("50000.00")
    assert application.approved_term_months == 24
    assert application.approved_rate == Decimal("6.000000")
    assert application.offer_apr == Decimal("6.0000")
    assert application.offer_expires_on == dt.date(2025, 7, 16)
    event = AuditEvent.objects.get(action="loan_application.decide")
    assert event.reason == "Affordable and documented."
    assert event.after == {
        "decision": "approved",
        "decided_by": lending_bank.manager_a.pk,
        "approved_amount": "50000.00",
        "approved_term_months": 24,
        "approved_rate": "6.000000",
        "offer_apr": "6.0000",
        "offer_expires_on": "2025-07-16",
    }
    assert not AuditEvent.objects.filter(action="loan_application.override").exists()


def test_the_approver_may_offer_less_at_another_rate(lending_bank, in_underwriting, today):
    application = in_underwriting()
    decide(lending_bank.officer_a2, application, amount="40000", term_months=36, rate="5.5")
    application.refresh_from_db()
    assert (
        application.approved_amount,
        application.approved_term_months,
        application.approved_rate,
        application.offer_apr,
    ) == (Decimal("40000.00"), 36, Decimal("5.500000"), Decimal("5.5000"))


def test_the_approved_terms_are_checked(lending_bank, in_underwriting):
    application = in_underwriting()
    with pytest.raises(ValidationError) as exc:
        decide(lending_bank.manager_a, application, amount="60000", term_months=61, rate="101")
    assert exc.value.message_dict == {
        "rate": ["Enter a rate from 0 to below 100 %."],
        "term_months": ["The term must be between 6 and 60 months."],
        "amount": ["The approved amount cannot exceed the amount requested."],
    }
    application.refresh_from_db()
    assert (application.state, application.decision) == ("underwriting", "")


def test_a_decision_needs_a_reason_and_a_known_decision(lending_bank, in_underwriting):
    application = in_underwriting()
    with pytest.raises(ValidationError) as exc:
        decide(lending_bank.manager_a, application, reason="  ")
    assert exc.value.message_dict == {"reason": ["Give the reason for the decision."]}
    with pytest.raises(ValidationError) as exc:
        decide(lending_bank.manager_a, application, decision="maybe")
    assert exc.value.message_dict == {"decision": ["Choose approved, declined or referred."]}
    application.refresh_from_db()
    assert application.state == "underwriting"


def test_the_submitter_can_never_decide(lending_bank, in_underwriting):
    application = in_underwriting()
    assert application.submitted_by == lending_bank.officer_a
    for decision in ("approved", "declined", "referred"):
        with pytest.raises(PermissionDenied) as exc:
            decide(lending_bank.officer_a, application, decision=decision)
        assert str(exc.value) == (
            "You submitted this application, so you may not decide on it: another person must."
        )
    application.refresh_from_db()
    assert (application.state, application.decision, application.decided_by) == (
        "underwriting",
        "",
        None,
    )
    assert not AuditEvent.objects.filter(action="loan_application.decide").exists()


def test_approving_needs_underwriting_first(lending_bank, make_application, advance_application):
    application = advance_application(make_application(), "underwriting")
    with pytest.raises(ValidationError) as exc:
        decide(lending_bank.manager_a, application)
    assert exc.value.messages == ["Run the underwriting before approving."]


def test_the_tier_names_the_roles_that_may_approve(lending_bank, in_underwriting):
    application = in_underwriting(amount="150000", monthly_income="50000")
    with pytest.raises(PermissionDenied) as exc:
        decide(lending_bank.officer_a2, application)
    assert str(exc.value) == "Approving 150000.00 needs one of the roles: branch_manager."
    with pytest.raises(PermissionDenied):
        decide(lending_bank.analyst, application)
    decide(lending_bank.manager_a, application)
    application.refresh_from_db()
    assert application.state == "approved"


def test_a_roles_approval_limit_caps_what_one_person_approves(
    lending_bank, make_application, advance_application, today
):
    product = LoanProductFactory(
        code="pl77",
        authority_limits=[
            {"up_to": "200000", "roles": ["loan_officer", "branch_manager"], "approvers": 1},
            {"up_to": None, "roles": ["branch_manager"], "approvers": 2},
        ],
    )
    application = advance_application(
        make_application(product=product, amount="150000", monthly_income="50000"),
        "underwriting",
    )
    loan_application_underwrite(actor=lending_bank.analyst, application=application)
    # The product's tier lets loan officers decide up to 200,000; their role's own limit is
    # 100,000, so 150,000 is beyond them alone.
    with pytest.raises(PermissionDenied) as exc:
        decide(lending_bank.officer_a2, application)
    assert str(exc.value) == "Your approval limit of 100000.00 is below 150000.00."
    decide(lending_bank.officer_a2, application, amount="100000")
    application.refresh_from_db()
    assert (application.state, application.approved_amount) == ("approved", Decimal("100000.00"))


def test_a_two_approver_tier_goes_through_maker_checker(lending_bank, in_underwriting, today):
    application = in_underwriting(amount="400000", monthly_income="100000")
    request = decide(lending_bank.manager_a, application, reason="Strong income, long tenure.")

    assert isinstance(request, PendingApproval)
    assert (request.action, request.status, request.maker) == (
        "lending.decision",
        "pending",
        lending_bank.manager_a,
    )
    assert request.payload == {
        "application": str(application.pk),
        "decision": "approved",
        "amount": "400000.00",
        "term_months": 24,
        "rate": "6.000000",
        "reason": "Strong income, long tenure.",
    }
    application.refresh_from_db()
    assert (application.state, application.decision, application.approved_amount) == (
        "underwriting",
        "",
        None,
    )
    requested = AuditEvent.objects.get(action="loan_application.decision_requested")
    assert requested.after == {
        "decision": "approved",
        "approval": request.pk,
        "amount": "400000.00",
        "recommendation": "approve",
    }

    # Not the maker, again or through the approvals queue.
    with pytest.raises(PermissionDenied) as exc:
        decide(lending_bank.manager_a, application)
    assert str(exc.value) == "You cannot approve your own request: a second person must."
    with pytest.raises(PermissionDenied):
        approval_approve(actor=lending_bank.manager_a, approval_pk=request.pk)
    # Not someone outside the tier's roles, not someone of another branch.
    with pytest.raises(PermissionDenied) as exc:
        decide(lending_bank.officer_a2, application)
    assert str(exc.value) == "Approving 400000.00 needs one of the roles: branch_manager."
    with pytest.raises(Http404):
        decide(lending_bank.manager_b, application)
    # Declining while the approval waits is refused.
    with pytest.raises(ValidationError) as exc:
        decide(lending_bank.manager_a2, application, decision="declined")
    assert exc.value.messages == [
        f"An approval is waiting for a second approver (request {request.pk}): it must be "
        "approved or rejected first."
    ]
    request.refresh_from_db()
    assert request.status == "pending"

    decide(lending_bank.manager_a2, application, reason="Agreed.")

    application.refresh_from_db()
    request.refresh_from_db()
    assert (request.status, request.checker) == ("approved", lending_bank.manager_a2)
    assert application.state == "approved"
    assert application.decided_by == lending_bank.manager_a2
    assert application.decision_reason == "Strong income, long tenure."
    assert application.approved_amount == Decimal("400000.00")
    recorded = AuditEvent.objects.get(action="loan_application.decide")
    assert recorded.actor_user_id == lending_bank.manager_a2.pk
    assert recorded.after["proposed_by"] == lending_bank.manager_a.pk
    assert OutboxEvent.objects.filter(type="loan_application.decided").count() == 1


def test_the_second_approver_may_approve_from_the_approvals_queue(
    lending_bank, in_underwriting, today
):
    application = in_underwriting(amount="400000", monthly_income="100000")
    request = decide(lending_bank.manager_a, application)
    approval_approve(actor=lending_bank.manager_a2, approval_pk=request.pk, comment="ok")
    application.refresh_from_db()
    assert (application.state, application.decided_by) == ("approved", lending_bank.manager_a2)


def test_an_ineligible_checker_in_the_queue_fails_the_request_and_changes_nothing(
    lending_bank, in_underwriting
):
    application = in_underwriting(amount="400000", monthly_income="100000")
    request = decide(lending_bank.manager_a, application)
    # A loan officer holds the approval permission but no role of the two-approver tier.
    approval_approve(actor=lending_bank.officer_a2, approval_pk=request.pk)
    request.refresh_from_db()
    assert (request.status, request.failure_reason) == (
        "failed",
        "Approving 400000.00 needs one of the roles: branch_manager.",
    )
    application.refresh_from_db()
    assert (application.state, application.decision) == ("underwriting", "")


def test_the_submitter_cannot_be_the_second_approver(lending_bank, make_application, today):
    application = make_application(
        actor=lending_bank.manager_a2, amount="400000", monthly_income="100000"
    )
    loan_application_transition(
        actor=lending_bank.manager_a2, application=application, transition="submit"
    )
    for document in application.documents.all():
        application_document_upload(
            actor=lending_bank.officer_a,
            document=document,
            file_name="x.pdf",
            content=PDF_BYTES,
            content_type="application/pdf",
        )
        document.refresh_from_db()
        application_document_verify(actor=lending_bank.officer_a, document=document)
    for step in ("complete_documents", "start_underwriting"):
        loan_application_transition(
            actor=lending_bank.officer_a, application=application, transition=step
        )
    loan_application_underwrite(actor=lending_bank.analyst, application=application)
    decide(lending_bank.manager_a, application)
    with pytest.raises(PermissionDenied) as exc:
        decide(lending_bank.manager_a2, application)
    assert str(exc.value) == (
        "You submitted this application, so you may not decide on it: another person must."
    )
    application.refresh_from_db()
    assert application.state == "underwriting"


def test_a_hard_decline_cannot_be_approved_or_overridden(lending_bank, in_underwriting):
    application = in_underwriting(monthly_obligations="10000")
    assert application.underwriting["recommendation"] == "decline"
    with pytest.raises(ValidationError) as exc:
        decide(lending_bank.manager_a, application, reason="I know the customer well.")
    assert exc.value.code == "lending_hard_decline"
    assert exc.value.messages == [
        "The underwriting declines this application (Debt-to-income at most 60 %): a hard "
        "decline cannot be approved or overridden."
    ]
    application.refresh_from_db()
    assert application.state == "underwriting"
    decide(lending_bank.manager_a, application, decision="declined", reason="DTI 61.08 % over cap.")
    application.refresh_from_db()
    assert (application.state, application.decision) == ("declined", "declined")
    event = AuditEvent.objects.get(action="loan_application.decide")
    assert event.reason == "DTI 61.08 % over cap."
    assert OutboxEvent.objects.get(type="loan_application.decided").payload["state"] == "declined"


def test_approving_over_a_referral_is_an_audited_override(lending_bank, in_underwriting):
    application = in_underwriting(monthly_obligations="6000")
    assert application.underwriting["recommendation"] == "refer"
    decide(
        lending_bank.manager_a,
        application,
        reason="Obligations include a car loan ending next month.",
    )
    application.refresh_from_db()
    assert application.state == "approved"
    override = AuditEvent.objects.get(action="loan_application.override")
    assert override.reason == "Obligations include a car loan ending next month."
    assert override.after == {
        "recommendation": "refer",
        "decision": "approved",
        "proposed_by": None,
    }
    assert override.actor_user_id == lending_bank.manager_a.pk


def test_refer_then_decide_from_referred(lending_bank, in_underwriting):
    application = in_underwriting(monthly_obligations="6000")
    decide(lending_bank.officer_a2, application, decision="referred", reason="DTI above 40 %.")
    application.refresh_from_db()
    assert (application.state, application.decision) == ("referred", "referred")
    with pytest.raises(PermissionDenied):
        decide(lending_bank.officer_a, application)  # the submitter, still
    decide(lending_bank.manager_a, application, reason="Senior approval of the referral.")
    application.refresh_from_db()
    assert (application.state, application.decision, application.decided_by) == (
        "approved",
        "approved",
        lending_bank.manager_a,
    )
    assert [
        e.reason for e in AuditEvent.objects.filter(action="loan_application.decide").order_by("id")
    ] == [
        "DTI above 40 %.",
        "Senior approval of the referral.",
    ]
    assert AuditEvent.objects.filter(action="loan_application.override").count() == 1
    assert list(
        OutboxEvent.objects.filter(type="loan_application.decided")
        .order_by("occurred_at")
        .values_list("payload__decision", flat=True)
    ) == ["referred", "approved"]
