"""The delinquency run: buckets at their boundaries, change records once a day, early-warning
events and the relationship manager's task, chunked runs equal to one run."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from bankcrm.access.models import OrgUnit
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.customers.models import Task
from bankcrm.events.models import OutboxEvent
from bankcrm.lending import delinquency
from bankcrm.lending.models import DelinquencyChange, Loan
from bankcrm.lending.services_loans import delinquency_recalculate, delinquency_run
from tests.factories import OrgUnitFactory
from tests.factories.banking import AccountFactory
from tests.factories.customers import PersonFactory
from tests.lending.test_loans import book_loan

pytestmark = pytest.mark.django_db

D = Decimal
SYSTEM = SystemActor("test-delinquency")
AS_OF = dt.date(2024, 9, 30)


def overdue_since(loan: Loan, days: int) -> None:
    """Leave the loan as the matching would: its oldest unpaid line due ``days`` ago."""
    Loan.objects.filter(pk=loan.pk).update(oldest_unpaid_due_on=AS_OF - dt.timedelta(days=days))


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
    ],
)
def test_bucket_boundaries(lending_bank, days, bucket):
    loan = book_loan(lending_bank)
    overdue_since(loan, days)
    figures = delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)
    loan.refresh_from_db()
    assert (loan.days_past_due, loan.bucket, loan.delinquency_as_of) == (days, bucket, AS_OF)
    assert delinquency.bucket_for(days) == bucket
    moved = bucket != "current"
    assert figures == {
        "updated": 1,
        "changes": int(moved),
        "deteriorations": int(moved),
        "improvements": 0,
    }
    assert loan.bucket_since == (AS_OF if moved else dt.date(2024, 1, 15))


def test_nothing_unpaid_is_current_and_arrears_follow_the_instalments(lending_bank):
    repaid = book_loan(lending_bank)
    Loan.objects.filter(pk=repaid.pk).update(oldest_unpaid_due_on=None, arrears=D("5"))
    behind = book_loan(lending_bank)  # nothing paid: 8 lines of 1,066.19 due by 30 Sep
    delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)
    repaid.refresh_from_db()
    behind.refresh_from_db()
    assert (repaid.days_past_due, repaid.bucket, repaid.arrears) == (0, "current", 0)
    assert (behind.days_past_due, behind.bucket, behind.arrears) == (228, "90+", D("8529.52"))


def test_a_current_loan_is_not_rewritten_by_later_runs(lending_bank):
    current = book_loan(lending_bank)
    Loan.objects.filter(pk=current.pk).update(oldest_unpaid_due_on=AS_OF + dt.timedelta(days=5))
    behind = book_loan(lending_bank)
    overdue_since(behind, 3)
    assert delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)["updated"] == 2
    next_day = AS_OF + dt.timedelta(days=1)
    figures = delinquency_recalculate(actor=SYSTEM, as_of=next_day)
    assert figures["updated"] == 1
    current.refresh_from_db()
    behind.refresh_from_db()
    assert (current.delinquency_as_of, current.bucket) == (AS_OF, "current")
    assert (behind.delinquency_as_of, behind.days_past_due) == (next_day, 4)


def test_a_second_run_of_the_same_day_records_nothing_twice(lending_bank):
    loan = book_loan(lending_bank)
    overdue_since(loan, 45)
    delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)
    assert DelinquencyChange.objects.count() == 1
    assert OutboxEvent.objects.filter(type="loan.delinquency_changed").count() == 1

    figures = delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)
    assert figures["changes"] == 0
    assert DelinquencyChange.objects.count() == 1
    assert OutboxEvent.objects.filter(type="loan.delinquency_changed").count() == 1
    # Even if the bucket moved back meanwhile, the day's change is not recorded again.
    Loan.objects.filter(pk=loan.pk).update(bucket="current")
    assert delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)["changes"] == 0
    assert DelinquencyChange.objects.count() == 1


def test_deterioration_records_the_event_and_gives_the_rm_a_task(
    lending_bank, django_capture_on_commit_callbacks
):
    loan = book_loan(lending_bank)
    overdue_since(loan, 45)
    with django_capture_on_commit_callbacks(execute=True):
        delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)

    change = DelinquencyChange.objects.get()
    assert (change.from_bucket, change.to_bucket, change.days_past_due) == ("current", "31-60", 45)
    assert change.is_deterioration
    event = OutboxEvent.objects.get(type="loan.delinquency_changed")
    assert event.object_pk == str(loan.pk)
    assert event.payload == {
        "reference": "LN-2024-000001",
        "from": "current",
        "to": "31-60",
        "dpd": 45,
        "arrears": "8529.52",
        "is_deterioration": True,
        "as_of": "2024-09-30",
    }
    assert event.status == OutboxEvent.Status.DELIVERED
    task = Task.objects.get()
    assert task.title == "Early warning: LN-2024-000001 moved to 31–60 days past due"
    assert task.owner == lending_bank.rm_a
    assert task.party == lending_bank.customer_a
    assert task.priority == Task.Priority.NORMAL
    assert task.description == "45 days past due, 8529.52 CNY overdue as of 2024-09-30."


def test_a_move_to_61_and_more_is_urgent_and_an_improvement_gives_no_task(
    lending_bank, django_capture_on_commit_callbacks
):
    loan = book_loan(lending_bank)
    overdue_since(loan, 75)
    with django_capture_on_commit_callbacks(execute=True):
        delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)
    assert Task.objects.get().priority == Task.Priority.HIGH

    later = AS_OF + dt.timedelta(days=1)
    Loan.objects.filter(pk=loan.pk).update(oldest_unpaid_due_on=later - dt.timedelta(days=10))
    with django_capture_on_commit_callbacks(execute=True):
        figures = delinquency_recalculate(actor=SYSTEM, as_of=later)
    assert figures["improvements"] == 1
    improvement = OutboxEvent.objects.get(
        type="loan.delinquency_changed", payload__is_deterioration=False
    )
    assert improvement.payload["to"] == "1-30"
    assert improvement.status == OutboxEvent.Status.DELIVERED
    assert Task.objects.count() == 1


def test_without_a_portfolio_the_branch_manager_gets_the_task(
    lending_bank, django_capture_on_commit_callbacks
):
    Loan.objects.all().delete()
    customer = PersonFactory(owning_unit=lending_bank.branch_a, portfolio=None)
    account = AccountFactory(
        product=lending_bank.account_a.product, branch=lending_bank.branch_a, owner=customer
    )
    loan = book_loan(lending_bank, borrower=customer, account=account)
    overdue_since(loan, 5)
    with django_capture_on_commit_callbacks(execute=True):
        delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)
    assert Task.objects.get().owner == lending_bank.manager_a


def test_with_nobody_to_warn_the_event_is_logged_and_left(
    lending_bank, django_capture_on_commit_callbacks, caplog
):
    branch = OrgUnitFactory(code="BRC", name="Branch C", parent=lending_bank.head_office)
    customer = PersonFactory(owning_unit=branch, portfolio=None)
    account = AccountFactory(product=lending_bank.account_a.product, branch=branch, owner=customer)
    loan = book_loan(lending_bank, actor=SYSTEM, borrower=customer, account=account, branch=branch)
    overdue_since(loan, 5)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        delinquency_recalculate(actor=SYSTEM, as_of=AS_OF)
    assert not Task.objects.exists()
    assert "no task created" in caplog.text
    assert OrgUnit.objects.get(code="BRC").path


def _loan_states() -> list[tuple]:
    return list(
        Loan.objects.order_by("reference").values_list(
            "reference", "days_past_due", "bucket", "bucket_since", "arrears", "delinquency_as_of"
        )
    )


def test_a_run_in_several_chunks_equals_one_run(lending_bank):
    days = [0, 3, 29, 31, 45, 62, 95, 200, 12]
    for offset in days:
        overdue_since(book_loan(lending_bank), offset)
    closed = book_loan(lending_bank)
    Loan.objects.filter(pk=closed.pk).update(status=Loan.Status.CLOSED, oldest_unpaid_due_on=None)
    overdue_since(closed, 50)
    Loan.objects.filter(pk=closed.pk).update(status=Loan.Status.CLOSED)

    initial = list(Loan.objects.values("pk", "bucket", "bucket_since", "arrears", "days_past_due"))
    chunked = delinquency_run(actor=SYSTEM, as_of=AS_OF, chunk_size=2)
    assert chunked == {
        "loans": 9,
        "updated": 9,
        "changes": 8,
        "deteriorations": 8,
        "improvements": 0,
        "chunks": 5,
    }
    after_chunks = _loan_states()
    changes = sorted(
        DelinquencyChange.objects.values_list("loan__reference", "to_bucket", "days_past_due")
    )

    DelinquencyChange.objects.all().delete()
    OutboxEvent.objects.all().delete()
    for row in initial:
        Loan.objects.filter(pk=row.pop("pk")).update(**row, delinquency_as_of=None)
    single = delinquency_run(actor=SYSTEM, as_of=AS_OF, chunk_size=50_000)
    assert single == {**chunked, "chunks": 1}
    assert _loan_states() == after_chunks
    assert (
        sorted(
            DelinquencyChange.objects.values_list("loan__reference", "to_bucket", "days_past_due")
        )
        == changes
    )
    closed.refresh_from_db()
    assert (closed.bucket, closed.delinquency_as_of) == ("current", None)
    run = AuditEvent.objects.filter(action="loan.delinquency_run").order_by("id").last()
    assert run.after["chunks"] == 1


def test_chunk_ranges_cover_every_loan_once(lending_bank):
    loans = [book_loan(lending_bank) for _ in range(5)]
    ranges = delinquency.chunk_ranges(2)
    assert len(ranges) == 3
    assert ranges[0][0] is None and ranges[-1][1] is None
    covered = [
        set(delinquency.open_loans(delinquency._keys(item)).values_list("pk", flat=True))
        for item in ranges
    ]
    assert [len(part) for part in covered] == [2, 2, 1]
    assert set().union(*covered) == {loan.pk for loan in loans}


def test_only_the_system_or_a_bank_wide_role_recalculates(lending_bank):
    with pytest.raises(PermissionDenied):
        delinquency_recalculate(actor=lending_bank.manager_a, as_of=AS_OF)
    with pytest.raises(PermissionDenied):
        delinquency_run(actor=lending_bank.officer_a, as_of=AS_OF)
