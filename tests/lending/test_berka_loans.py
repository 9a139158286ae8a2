"""The Berka PKDD'99 loans as serviced loans: counts, statuses, solved rate, schedule,
matched repayments, idempotency. Reads the real files (skips where they are absent; fails
in CI, where they must be present)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Count

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.events.models import OutboxEvent
from bankcrm.integrations.berka_loans import annuity_rate, berka_loans_import
from bankcrm.integrations.services import berka_import
from bankcrm.lending.models import Instalment, Loan, LoanProduct, Repayment
from tests.integrations.conftest import berka_dir  # noqa: F401  (fixture)

D = Decimal
ACTOR = SystemActor("import-berka")


def test_annuity_rate_is_solved_by_bisection():
    # 1,066.19 is the 12 % instalment (1,066.1855) rounded up: 12.0008 % exactly repays it.
    assert annuity_rate(D("12000"), 12, D("1066.19")) == D("12.0008")
    assert annuity_rate(D("100000"), 360, D("599.55")) == D("6.0000")
    assert annuity_rate(D("96396"), 12, D("8033.00")) == D("0.0000")
    with pytest.raises(ValueError):
        annuity_rate(D("1000"), 12, D("80"))


@pytest.mark.django_db(transaction=False)
def test_berka_loans_are_booked_serviced_and_imported_once(berka_dir):  # noqa: F811
    berka_import(actor=ACTOR, directory=berka_dir)
    result = berka_loans_import(actor=ACTOR, directory=berka_dir)
    assert (result.table, result.file_name, result.rows_in_file, result.in_database) == (
        "loans",
        "loan.asc",
        682,
        682,
    )
    loans = Loan.objects.filter(source_system="berka")
    assert loans.count() == 682
    statuses = dict(loans.values_list("status").annotate(n=Count("pk")))
    # A 203 → closed, B 31 + D 45 → defaulted, C 403 → performing.
    assert statuses == {"closed": 203, "defaulted": 76, "performing": 403}
    assert set(loans.values_list("annual_rate", flat=True)) == {D("0")}
    product = LoanProduct.objects.get(code="BERKA")
    assert (product.currency, product.min_term_months, product.max_term_months) == ("CZK", 12, 60)

    # Loan 5314: account 1787, granted 5 Jul 1993, CZK 96,396 over 12 months of 8,033 (B).
    loan = loans.select_related("account", "borrower").get(source_id="5314")
    assert loan.account.source_id == "1787"
    assert loan.borrower_id == loan.account.owner_id
    assert (loan.principal, loan.currency, loan.term_months) == (D("96396"), "CZK", 12)
    assert (loan.disbursed_on, loan.maturity_date) == (dt.date(1993, 7, 5), dt.date(1994, 7, 5))
    assert loan.status == Loan.Status.DEFAULTED
    assert loan.reference.startswith("LN-1993-")
    first = Instalment.objects.filter(loan=loan).order_by("number").first()
    assert (first.due_on, first.amount_due, first.principal, first.interest) == (
        dt.date(1993, 8, 5),
        D("8033.00"),
        D("8033.00"),
        D("0"),
    )
    assert Instalment.objects.filter(loan=loan).count() == 12

    # Loan 5316 (A): the sample's UVER debits are matched, the rest settled by the outcome.
    repaid = loans.get(source_id="5316")
    assert (repaid.status, repaid.closed_on) == ("closed", dt.date(1996, 7, 11))
    assert repaid.outstanding_principal == 0
    matched = Repayment.objects.filter(loan=repaid, transaction__isnull=False)
    assert matched.count() > 0
    assert matched.order_by("received_on").first().received_on == dt.date(1993, 7, 12)
    assert not Instalment.objects.filter(
        loan__source_system="berka", loan__status="closed", amount_paid__lt=D("0.01")
    ).exists()

    # Running (C) loans are current at the end of the data set; B and D are past due.
    running = loans.filter(status="performing")
    assert set(running.values_list("bucket", flat=True)) == {"current"}
    assert set(running.values_list("delinquency_as_of", flat=True)) == {dt.date(1998, 12, 31)}
    assert not loans.filter(status="defaulted", bucket="current").exists()
    # History is not tonight's news: no events for the imported loans.
    assert not OutboxEvent.objects.filter(type__startswith="loan.").exists()

    events = AuditEvent.objects.count()
    again = berka_loans_import(actor=ACTOR, directory=berka_dir)
    assert (again.added, again.in_database) == (0, 682)
    assert Loan.objects.filter(source_system="berka").count() == 682
    assert AuditEvent.objects.count() == events
