"""Booking loans, early repayment, restructuring and write-off (maker-checker).

``book_loan`` and ``pay`` are shared with the other servicing test modules.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Transaction
from bankcrm.core.actor import SystemActor
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services_approvals import approval_approve
from bankcrm.core.timefmt import bank_today
from bankcrm.events.models import OutboxEvent
from bankcrm.lending.models import Instalment, Loan, Repayment
from bankcrm.lending.services_loans import (
    LoanBooking,
    loan_book,
    loan_prepay,
    loan_repayments_match,
    loan_restructure_request,
    loan_write_off_request,
    loans_book_bulk,
)
from tests.factories.banking import TransactionFactory

pytestmark = pytest.mark.django_db

D = Decimal
DISBURSED = dt.date(2024, 1, 15)


def book_loan(lb: Any, *, actor: Any = None, **overrides: Any) -> Loan:
    """CNY 12,000 at 12 % over 12 months, annuity, 30/360, to customer A (branch A)."""
    values: dict[str, Any] = {
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
        "disbursed_on": DISBURSED,
    }
    values.update(overrides)
    return loan_book(actor=actor or lb.officer_a, **values)


def pay(loan: Loan, booked_on: dt.date, amount: str, **extra: Any) -> Transaction:
    """A loan-repayment debit of ``amount`` on the loan's repayment account."""
    return TransactionFactory(
        account=extra.pop("account", loan.account),
        booking_date=booked_on,
        amount=-D(amount),
        direction="debit",
        kind=Transaction.Kind.LOAN_REPAYMENT,
        **extra,
    )


def lines(loan: Loan) -> list[tuple[Any, ...]]:
    return list(
        Instalment.objects.filter(loan=loan, is_current=True)
        .order_by("number")
        .values_list("number", "due_on", "amount_due", "principal", "interest", "amount_paid")
    )


# --- Booking ----------------------------------------------------------------------------------


def test_loan_book_writes_the_schedule_figures_audit_and_event(lending_bank):
    loan = book_loan(lending_bank)

    assert loan.reference == "LN-2024-000001"
    assert loan.maturity_date == dt.date(2025, 1, 15)
    assert loan.outstanding_principal == D("12000.00")
    assert loan.oldest_unpaid_due_on == dt.date(2024, 2, 15)
    assert loan.status == Loan.Status.PERFORMING
    rows = list(
        Instalment.objects.filter(loan=loan)
        .order_by("number")
        .values_list("number", "due_on", "amount_due", "principal", "interest", "closing_balance")
    )
    assert len(rows) == 12
    assert rows[0] == (
        1,
        dt.date(2024, 2, 15),
        D("1066.19"),
        D("946.19"),
        D("120.00"),
        D("11053.81"),
    )
    assert rows[1] == (
        2,
        dt.date(2024, 3, 15),
        D("1066.19"),
        D("955.65"),
        D("110.54"),
        D("10098.16"),
    )
    assert rows[11] == (12, dt.date(2025, 1, 15), D("1066.14"), D("1055.58"), D("10.56"), D("0.00"))
    assert sum(row[3] for row in rows) == D("12000.00")
    assert sum(row[4] for row in rows) == D("794.23")

    audit = AuditEvent.objects.get(action="loan.book")
    assert audit.object_pk == str(loan.pk)
    assert audit.after["instalments"] == 12
    assert audit.after["total_interest"] == "794.23"
    event = OutboxEvent.objects.get(type="loan.disbursed")
    assert event.payload == {
        "reference": "LN-2024-000001",
        "product": "pl01",
        "principal": "12000.00",
        "currency": "CNY",
        "disbursed_on": "2024-01-15",
    }


def test_references_count_up_per_year_and_a_given_one_is_kept(lending_bank):
    first = book_loan(lending_bank)
    second = book_loan(lending_bank)
    other_year = book_loan(lending_bank, disbursed_on=dt.date(2025, 3, 1))
    given = book_loan(lending_bank, reference="LN-LEGACY-7")
    after_given = book_loan(lending_bank)
    assert [first.reference, second.reference, other_year.reference] == [
        "LN-2024-000001",
        "LN-2024-000002",
        "LN-2025-000001",
    ]
    assert given.reference == "LN-LEGACY-7"
    assert after_given.reference == "LN-2024-000003"


def test_bad_terms_name_every_field_and_write_nothing(lending_bank):
    with pytest.raises(ValidationError) as caught:
        book_loan(
            lending_bank,
            principal=D("-5"),
            annual_rate=D("250"),
            term_months=0,
            method="balloon",
            currency="USD",
            account=lending_bank.account_b,
        )
    assert set(caught.value.message_dict) == {
        "principal",
        "annual_rate",
        "term_months",
        "method",
        "currency",
        "account",
    }
    assert Loan.objects.count() == 0
    assert Instalment.objects.count() == 0
    assert not AuditEvent.objects.filter(action="loan.book").exists()


def test_booking_in_another_branch_is_refused(lending_bank):
    with pytest.raises(PermissionDenied):
        book_loan(lending_bank, actor=lending_bank.officer_b)
    assert Loan.objects.count() == 0


def test_bulk_booking_writes_one_audit_event_per_batch_and_rejects_bad_rows(lending_bank):
    system = SystemActor("import-test")
    good = LoanBooking(
        product=lending_bank.product,
        borrower=lending_bank.customer_a,
        account=lending_bank.account_a,
        branch=lending_bank.branch_a,
        principal=D("12000.00"),
        currency="CNY",
        annual_rate=D("12"),
        term_months=12,
        method="annuity",
        day_count="30360",
        disbursed_on=DISBURSED,
        source_system="test",
        source_id="1",
    )
    second = LoanBooking(**{**good.__dict__, "source_id": "2", "term_months": 24})
    bad = LoanBooking(**{**good.__dict__, "source_id": "3", "principal": D("0")})
    result = loans_book_bulk(actor=system, bookings=[good, second, bad], record_events=False)

    assert [loan.reference for loan in result.loans] == ["LN-2024-000001", "LN-2024-000002"]
    assert [(booking.source_id, set(errors)) for booking, errors in result.rejected] == [
        ("3", {"principal"})
    ]
    assert Instalment.objects.count() == 12 + 24
    audit = AuditEvent.objects.get(action="loan.book_bulk")
    assert audit.after["loans"] == ["LN-2024-000001", "LN-2024-000002"]
    assert AuditEvent.objects.filter(action__startswith="loan.").count() == 1
    assert not OutboxEvent.objects.filter(type="loan.disbursed").exists()
    with pytest.raises(PermissionDenied):
        loans_book_bulk(actor=lending_bank.officer_a, bookings=[good])


# --- Early repayment --------------------------------------------------------------------------


def _pay_first_two(loan: Loan) -> None:
    pay(loan, dt.date(2024, 2, 15), "1066.19")
    pay(loan, dt.date(2024, 3, 15), "1066.19")
    loan_repayments_match(actor=SystemActor("test"), as_of=dt.date(2024, 3, 31))


def test_prepay_reduce_term_supersedes_unpaid_lines_and_shortens_the_loan(lending_bank):
    loan = book_loan(lending_bank)
    _pay_first_two(loan)

    loan = loan_prepay(
        actor=lending_bank.officer_a,
        loan=loan,
        amount=D("3000.00"),
        on=dt.date(2024, 4, 1),
        mode="reduce_term",
    )

    assert loan.outstanding_principal == D("7098.16")
    assert loan.maturity_date == dt.date(2024, 10, 15)
    assert Instalment.objects.filter(loan=loan, is_current=False).count() == 10
    current = lines(loan)
    assert current[:2] == [
        (1, dt.date(2024, 2, 15), D("1066.19"), D("946.19"), D("120.00"), D("1066.19")),
        (2, dt.date(2024, 3, 15), D("1066.19"), D("955.65"), D("110.54"), D("1066.19")),
    ]
    # The early repayment itself (principal 3,000 + interest from 15 Mar to 1 Apr), paid.
    assert current[2] == (
        3,
        dt.date(2024, 4, 1),
        D("3053.86"),
        D("3000.00"),
        D("53.86"),
        D("3053.86"),
    )
    assert current[3] == (4, dt.date(2024, 4, 15), D("1066.19"), D("1033.07"), D("33.12"), 0)
    assert current[-1] == (10, dt.date(2024, 10, 15), D("945.19"), D("935.83"), D("9.36"), 0)
    assert set(
        Instalment.objects.filter(loan=loan, number__gte=3, is_current=True).values_list(
            "schedule_version", flat=True
        )
    ) == {2}
    prepayment = Repayment.objects.get(loan=loan, transaction__isnull=True)
    assert (prepayment.amount, prepayment.principal, prepayment.interest) == (
        D("3053.86"),
        D("3000.00"),
        D("53.86"),
    )
    assert AuditEvent.objects.get(action="loan.prepay").after["mode"] == "reduce_term"


def test_prepay_reduce_instalment_keeps_the_maturity(lending_bank):
    loan = book_loan(lending_bank)
    _pay_first_two(loan)
    loan = loan_prepay(
        actor=lending_bank.officer_a,
        loan=loan,
        amount=D("3000.00"),
        on=dt.date(2024, 4, 1),
        mode="reduce_instalment",
    )
    current = lines(loan)
    assert loan.maturity_date == dt.date(2025, 1, 15)
    assert len(current) == 13
    assert current[3] == (4, dt.date(2024, 4, 15), D("745.48"), D("712.36"), D("33.12"), 0)
    assert current[-1] == (13, dt.date(2025, 1, 15), D("745.48"), D("738.10"), D("7.38"), 0)
    assert loan.outstanding_principal == D("7098.16")


def test_prepay_with_arrears_or_in_the_future_is_refused(lending_bank):
    loan = book_loan(lending_bank)
    with pytest.raises(ValidationError) as caught:
        loan_prepay(
            actor=lending_bank.officer_a, loan=loan, amount=D("3000.00"), on=dt.date(2024, 4, 1)
        )
    assert caught.value.message_dict["on"] == [
        "2132.38 CNY due on or before this day is unpaid: settle it first."
    ]
    with pytest.raises(ValidationError) as caught:
        loan_prepay(
            actor=lending_bank.officer_a,
            loan=loan,
            amount=D("1.001"),
            on=dt.date(2099, 1, 1),
            mode="sideways",
        )
    assert set(caught.value.message_dict) == {"amount", "on", "mode"}
    assert Instalment.objects.filter(loan=loan, is_current=False).count() == 0


def test_prepaying_everything_closes_the_loan(lending_bank):
    loan = book_loan(lending_bank)
    _pay_first_two(loan)
    loan = loan_prepay(
        actor=lending_bank.officer_a, loan=loan, amount=D("10098.16"), on=dt.date(2024, 4, 1)
    )
    assert loan.status == Loan.Status.CLOSED
    assert loan.closed_on == dt.date(2024, 4, 1)
    assert loan.outstanding_principal == D("0")
    assert loan.oldest_unpaid_due_on is None


# --- Restructuring and write-off --------------------------------------------------------------


def test_restructure_needs_a_second_person_and_reschedules_the_outstanding(lending_bank):
    loan = book_loan(lending_bank)
    _pay_first_two(loan)
    maker, checker = lending_bank.officer_a, lending_bank.manager_a
    approval = loan_restructure_request(
        actor=maker,
        loan=loan,
        annual_rate=D("6"),
        term_months=24,
        method="equal_principal",
        reason="Income fell; longer term agreed with the customer.",
    )
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PERFORMING  # nothing changes before the approval
    with pytest.raises(PermissionDenied):
        approval_approve(actor=maker, approval_pk=approval.pk)
    approval.refresh_from_db()
    assert approval.status == PendingApproval.Status.PENDING

    approval = approval_approve(actor=checker, approval_pk=approval.pk)
    assert approval.status == PendingApproval.Status.APPROVED
    loan.refresh_from_db()
    assert loan.status == Loan.Status.RESTRUCTURED
    assert (loan.annual_rate, loan.term_months, loan.method) == (D("6"), 24, "equal_principal")
    # Outstanding 10,098.16 plus the overdue interest and fees of the 8 lines due by the
    # day of the approval (nothing paid after March): all of it rescheduled.
    unpaid = Instalment.objects.filter(loan=loan, is_current=False)
    assert unpaid.count() == 10
    overdue_interest = sum(
        (line.interest for line in unpaid if line.due_on <= approval.decided_at.date()), D(0)
    )
    assert loan.outstanding_principal == D("10098.16") + overdue_interest
    new = list(Instalment.objects.filter(loan=loan, schedule_version=2).order_by("number"))
    assert len(new) == 24
    assert new[0].number == 3
    assert sum((line.principal for line in new), D(0)) == loan.outstanding_principal
    audit = AuditEvent.objects.get(action="loan.restructure")
    assert audit.reason == "Income fell; longer term agreed with the customer."
    assert audit.actor == "manager_a"


def test_write_off_needs_a_second_person_and_keeps_the_outstanding(lending_bank):
    loan = book_loan(lending_bank)
    maker = lending_bank.manager_a
    approval = loan_write_off_request(actor=maker, loan=loan, reason="Borrower insolvent.")
    with pytest.raises(PermissionDenied):
        approval_approve(actor=maker, approval_pk=approval.pk)
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PERFORMING

    approval_approve(actor=lending_bank.manager_a2, approval_pk=approval.pk)
    loan.refresh_from_db()
    assert loan.status == Loan.Status.WRITTEN_OFF
    assert loan.closed_on == bank_today()
    assert loan.outstanding_principal == D("12000.00")
    audit = AuditEvent.objects.get(action="loan.write_off")
    assert audit.reason == "Borrower insolvent."
    assert audit.before["status"] == "performing"
    assert audit.after["status"] == "written_off"
    # A written-off loan takes no further request.
    with pytest.raises(ValidationError):
        loan_write_off_request(actor=maker, loan=loan, reason="Again.")


def test_requests_on_another_branchs_loan_are_not_found(lending_bank):
    loan = book_loan(lending_bank)
    with pytest.raises(Loan.DoesNotExist):
        loan_write_off_request(actor=lending_bank.officer_b, loan=loan, reason="No.")
    with pytest.raises(Loan.DoesNotExist):
        loan_restructure_request(
            actor=lending_bank.officer_b,
            loan=loan,
            annual_rate=D("5"),
            term_months=12,
            method="annuity",
            reason="No.",
        )
    assert not PendingApproval.objects.exists()


def test_a_restructure_request_with_bad_terms_names_the_fields(lending_bank):
    loan = book_loan(lending_bank)
    with pytest.raises(ValidationError) as caught:
        loan_restructure_request(
            actor=lending_bank.officer_a,
            loan=loan,
            annual_rate=D("-1"),
            term_months=0,
            method="balloon",
            reason="Try.",
        )
    assert set(caught.value.message_dict) == {"annual_rate", "term_months", "method"}
    assert not PendingApproval.objects.exists()


def test_a_checker_of_another_branch_cannot_apply_the_request(lending_bank):
    loan = book_loan(lending_bank)
    approval = loan_write_off_request(
        actor=lending_bank.officer_a, loan=loan, reason="Borrower insolvent."
    )
    decided = approval_approve(actor=lending_bank.manager_b, approval_pk=approval.pk)
    assert decided.status == PendingApproval.Status.FAILED
    assert decided.failure_reason == "This loan is outside your reach."
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PERFORMING
    assert not AuditEvent.objects.filter(action="loan.write_off").exists()
