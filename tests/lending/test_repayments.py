"""Matching repayment debits to loans: allocation, credit, arrears, closing, idempotency."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Transaction
from bankcrm.core.actor import SystemActor
from bankcrm.core.workflow import workflow_history
from bankcrm.lending.delinquency import recalculate
from bankcrm.lending.models import Instalment, Loan, Repayment
from bankcrm.lending.services_loans import loan_repayments_match, repayment_record
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.lending import LoanApplicationFactory
from tests.lending.test_loans import book_loan, pay

pytestmark = pytest.mark.django_db

D = Decimal
SYSTEM = SystemActor("test-matching")


def match(as_of: dt.date, **options) -> int:
    return loan_repayments_match(actor=SYSTEM, as_of=as_of, **options)


def paid(loan: Loan) -> list[tuple[int, Decimal, dt.date | None]]:
    return list(
        Instalment.objects.filter(loan=loan, is_current=True)
        .order_by("number")
        .values_list("number", "amount_paid", "paid_on")[:4]
    )


def test_exact_payment_pays_the_instalment_fee_interest_principal(lending_bank):
    loan = book_loan(lending_bank)
    txn = pay(loan, dt.date(2024, 2, 15), "1066.19")

    assert match(dt.date(2024, 2, 20)) == 1

    repayment = Repayment.objects.get(transaction=txn)
    assert (repayment.amount, repayment.fee, repayment.interest, repayment.principal) == (
        D("1066.19"),
        D("0"),
        D("120.00"),
        D("946.19"),
    )
    assert repayment.unallocated == 0
    assert paid(loan)[:2] == [(1, D("1066.19"), dt.date(2024, 2, 15)), (2, D("0"), None)]
    loan.refresh_from_db()
    assert loan.outstanding_principal == D("11053.81")
    assert loan.arrears == 0
    assert loan.oldest_unpaid_due_on == dt.date(2024, 3, 15)
    audit = AuditEvent.objects.get(action="loan.repayments_match")
    assert audit.actor == "system:test-matching"
    assert audit.after["repayments"][0]["loan"] == "LN-2024-000001"


def test_partial_payment_goes_to_interest_first_and_leaves_arrears(lending_bank):
    loan = book_loan(lending_bank)
    txn = pay(loan, dt.date(2024, 2, 15), "500.00")
    match(dt.date(2024, 2, 20))

    repayment = Repayment.objects.get(transaction=txn)
    assert (repayment.interest, repayment.principal) == (D("120.00"), D("380.00"))
    loan.refresh_from_db()
    assert loan.outstanding_principal == D("11620.00")
    assert loan.arrears == D("566.19")
    assert loan.oldest_unpaid_due_on == dt.date(2024, 2, 15)
    assert paid(loan)[0] == (1, D("500.00"), None)


def test_overpayment_is_kept_as_credit_and_paid_into_the_next_instalment_when_due(
    lending_bank,
):
    loan = book_loan(lending_bank)
    txn = pay(loan, dt.date(2024, 2, 15), "1600.00")
    match(dt.date(2024, 2, 20))
    repayment = Repayment.objects.get(transaction=txn)
    assert repayment.unallocated == D("533.81")
    assert paid(loan)[1] == (2, D("0"), None)

    # Nothing new on the account: the next run applies the credit once line 2 is due.
    assert match(dt.date(2024, 3, 15)) == 0
    repayment.refresh_from_db()
    assert repayment.unallocated == 0
    assert (repayment.interest, repayment.principal) == (D("230.54"), D("1369.46"))
    assert paid(loan)[1] == (2, D("533.81"), None)
    loan.refresh_from_db()
    assert loan.arrears == D("532.38")
    assert loan.outstanding_principal == D("10630.54")


def test_late_payment_shows_as_arrears_and_days_past_due_until_it_arrives(lending_bank):
    loan = book_loan(lending_bank)
    match(dt.date(2024, 3, 20))
    recalculate(as_of=dt.date(2024, 3, 20))
    loan.refresh_from_db()
    assert (loan.arrears, loan.days_past_due, loan.bucket) == (D("2132.38"), 34, "31-60")

    pay(loan, dt.date(2024, 3, 25), "2132.38")
    assert match(dt.date(2024, 3, 25)) == 1
    recalculate(as_of=dt.date(2024, 3, 25))
    loan.refresh_from_db()
    assert (loan.arrears, loan.days_past_due, loan.bucket) == (D("0"), 0, "current")
    assert paid(loan)[:2] == [
        (1, D("1066.19"), dt.date(2024, 3, 25)),
        (2, D("1066.19"), dt.date(2024, 3, 25)),
    ]


def test_matching_twice_matches_nothing_new(lending_bank):
    loan = book_loan(lending_bank)
    pay(loan, dt.date(2024, 2, 15), "1066.19")
    pay(loan, dt.date(2024, 3, 15), "1066.19")
    assert match(dt.date(2024, 3, 31)) == 2
    before = list(Instalment.objects.order_by("pk").values_list("amount_paid", "paid_on"))
    audits = AuditEvent.objects.count()

    assert match(dt.date(2024, 3, 31)) == 0
    assert Repayment.objects.count() == 2
    assert list(Instalment.objects.order_by("pk").values_list("amount_paid", "paid_on")) == before
    assert AuditEvent.objects.count() == audits


def test_only_repayment_debits_after_disbursement_on_the_account_match(lending_bank):
    loan = book_loan(lending_bank)
    pay(loan, dt.date(2024, 1, 10), "1066.19")  # before the disbursement
    TransactionFactory(
        account=loan.account,
        booking_date=dt.date(2024, 2, 15),
        amount=D("-1066.19"),
        direction="debit",
        kind=Transaction.Kind.CARD_PAYMENT,
    )
    pay(loan, dt.date(2024, 2, 15), "1066.19", account=lending_bank.account_b)
    pay(loan, dt.date(2024, 3, 15), "1066.19", currency="USD")
    assert match(dt.date(2024, 3, 31)) == 0
    assert Repayment.objects.count() == 0
    assert match(dt.date(2024, 3, 31), since=dt.date(2024, 1, 1)) == 0


def test_the_last_payment_closes_the_loan_and_its_application(lending_bank):
    application = LoanApplicationFactory(
        product=lending_bank.product,
        branch=lending_bank.branch_a,
        applicant=lending_bank.customer_a,
        state="servicing",
    )
    loan = book_loan(lending_bank, application=application, term_months=6, principal=D("6000.00"))
    instalments = list(Instalment.objects.filter(loan=loan).order_by("number"))
    for line in instalments:
        pay(loan, line.due_on, str(line.amount_due))
    assert match(dt.date(2024, 7, 31)) == 6

    loan.refresh_from_db()
    assert loan.status == Loan.Status.CLOSED
    assert loan.closed_on == dt.date(2024, 7, 15)
    assert loan.outstanding_principal == 0
    assert loan.oldest_unpaid_due_on is None
    application.refresh_from_db()
    assert application.state == "closed"
    step = workflow_history(actor=lending_bank.manager_a, subject=application).last()
    assert (step.transition, step.actor) == ("close", "system:lending.servicing")


def test_an_application_still_disbursed_is_handed_over_then_closed(lending_bank):
    application = LoanApplicationFactory(
        product=lending_bank.product,
        branch=lending_bank.branch_a,
        applicant=lending_bank.customer_a,
        state="disbursed",
    )
    loan = book_loan(lending_bank, application=application, term_months=6, principal=D("6000.00"))
    total = sum((line.amount_due for line in Instalment.objects.filter(loan=loan)), D(0))
    repayment_record(
        actor=lending_bank.officer_a,
        loan=loan,
        amount=total,
        received_on=dt.date(2024, 8, 1),
        reason="Paid off in cash at the counter.",
    )
    application.refresh_from_db()
    assert application.state == "closed"


def test_manual_repayment_is_allocated_and_audited_with_its_reason(lending_bank):
    loan = book_loan(lending_bank)
    repayment = repayment_record(
        actor=lending_bank.officer_a,
        loan=loan,
        amount=D("1066.19"),
        received_on=dt.date(2024, 2, 14),
        reason="Cash at the counter.",
    )
    assert repayment.transaction_id is None
    assert (repayment.interest, repayment.principal, repayment.unallocated) == (
        D("120.00"),
        D("946.19"),
        D("0"),
    )
    audit = AuditEvent.objects.get(action="loan.repayment_record")
    assert audit.reason == "Cash at the counter."
    assert audit.after["principal"] == "946.19"

    with pytest.raises(ValidationError) as caught:
        repayment_record(
            actor=lending_bank.officer_a,
            loan=loan,
            amount=D("-1"),
            received_on=dt.date(2099, 1, 1),
            reason=" ",
        )
    assert set(caught.value.message_dict) == {"amount", "received_on", "reason"}
    with pytest.raises(Loan.DoesNotExist):
        repayment_record(
            actor=lending_bank.officer_b,
            loan=loan,
            amount=D("10"),
            received_on=dt.date(2024, 2, 14),
            reason="Other branch.",
        )
    assert Repayment.objects.count() == 1


def _queries_to_match(lending_bank, loans: int) -> int:
    for index in range(loans):
        account = AccountFactory(
            product=lending_bank.account_a.product,
            branch=lending_bank.branch_a,
            owner=lending_bank.customer_a,
        )
        loan = book_loan(lending_bank, account=account)
        pay(loan, dt.date(2024, 2, 15), "1066.19")
        pay(loan, dt.date(2024, 3, 15), "500.00")
    with CaptureQueriesContext(connection) as queries:
        assert match(dt.date(2024, 3, 31)) == 2 * loans
    return len(queries)


def test_matching_reads_in_sets_not_per_loan(lending_bank):
    one = _queries_to_match(lending_bank, 1)
    Loan.objects.update(status=Loan.Status.CLOSED)
    assert _queries_to_match(lending_bank, 6) == one
