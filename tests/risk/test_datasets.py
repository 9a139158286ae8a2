"""Learning data from the CRM: one row per loan, features before the loan, the outcome."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from decimal import Decimal

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bankcrm.audit.models import AuditEvent
from bankcrm.integrations.models import SourceRecord
from bankcrm.lending.models import DelinquencyChange, Instalment, Loan
from bankcrm.risk.datasets import (
    ID_COLUMNS,
    TARGET,
    behaviour_coverage,
    dataset_export,
    loan_learning_data,
)
from bankcrm.risk.features import APPLICATION_FEATURES, PARTY_FEATURES
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.customers import PersonFactory
from tests.factories.lending import LoanProductFactory

pytestmark = pytest.mark.django_db


def _loan(reference, borrower, account, disbursed_on, **overrides):
    values = {
        "reference": reference,
        "product": LoanProductFactory(code="pl-data"),
        "borrower": borrower,
        "account": account,
        "branch": account.branch,
        "principal": Decimal("12000"),
        "currency": "CNY",
        "annual_rate": Decimal("0"),
        "term_months": 12,
        "method": "annuity",
        "day_count": "30360",
        "disbursed_on": disbursed_on,
        "maturity_date": disbursed_on.replace(year=disbursed_on.year + 1),
        "outstanding_principal": Decimal("12000"),
    }
    values.update(overrides)
    loan = Loan.objects.create(**values)
    for number in range(1, 3):
        Instalment.objects.create(
            loan=loan,
            number=number,
            due_on=disbursed_on.replace(month=disbursed_on.month + number),
            principal=Decimal("1000"),
            interest=Decimal("0"),
            amount_due=Decimal("1000"),
            closing_balance=Decimal(12000 - 1000 * number),
        )
    return loan


@pytest.fixture
def book():
    """Four loans of four customers with different outcomes; one has bookings before."""
    people = [PersonFactory() for _ in range(4)]
    accounts = [AccountFactory(owner=person, opened_on=dt.date(2023, 1, 1)) for person in people]
    for day, amount, balance in [
        (dt.date(2024, 1, 10), "5000", "5000"),
        (dt.date(2024, 3, 1), "-1000", "4000"),
        # The day of the loan and after: not part of its features.
        (dt.date(2024, 4, 1), "12000", "16000"),
        (dt.date(2024, 5, 1), "-1000", "15000"),
    ]:
        TransactionFactory(
            account=accounts[0],
            booking_date=day,
            amount=Decimal(amount),
            running_balance=Decimal(balance),
        )
    imported = _loan(
        "LN-1",
        people[0],
        accounts[0],
        dt.date(2024, 4, 1),
        source_system="berka",
        source_id="77",
    )
    SourceRecord.objects.create(
        source_system="berka",
        kind="loan",
        source_id="77",
        owning_unit=accounts[0].branch,
        data={"status_code": "D", "is_bad": True},
    )
    _loan("LN-2", people[1], accounts[1], dt.date(2024, 2, 1), status="defaulted")
    late = _loan("LN-3", people[2], accounts[2], dt.date(2024, 2, 15))
    DelinquencyChange.objects.create(
        loan=late,
        as_of=dt.date(2024, 6, 1),
        from_bucket="61-90",
        to_bucket="90+",
        days_past_due=95,
        is_deterioration=True,
    )
    _loan("LN-4", people[3], accounts[3], dt.date(2024, 3, 1), days_past_due=30)
    return imported


def test_one_row_per_loan_with_features_before_the_loan_and_its_outcome(book):
    frame = loan_learning_data()

    assert list(frame.columns) == [*ID_COLUMNS, *PARTY_FEATURES, *APPLICATION_FEATURES, TARGET]
    assert list(frame["loan_reference"]) == ["LN-2", "LN-3", "LN-4", "LN-1"]
    outcome = dict(zip(frame["loan_reference"], frame[TARGET], strict=True))
    # The imported status D; defaulted; once 90+ days past due; 30 days late only.
    assert outcome == {"LN-1": 1, "LN-2": 1, "LN-3": 1, "LN-4": 0}
    sources = dict(zip(frame["loan_reference"], frame["outcome_source"], strict=True))
    assert sources["LN-1"] == "source" and sources["LN-4"] == "servicing"

    row = frame.set_index("loan_reference").loc["LN-1"]
    assert row["features_as_of"] == "2024-04-01"
    assert row["last_balance"] == 4000  # the loan's own disbursement day is not seen
    assert row["transactions_6m"] == 2
    assert row["loan_amount"] == 12000
    assert row["instalment"] == 1000
    assert row["instalment_to_balance"] == pytest.approx(1000 / ((5000 * 51 + 4000 * 31) / 82))
    assert pd.isna(frame.set_index("loan_reference").loc["LN-2", "avg_balance_6m"])
    assert behaviour_coverage(frame) == {
        "rows": 4,
        "with_history": 1,
        "with_recent_activity": 1,
        "bad_with_history": 1,
    }


def test_offset_and_period_filters(book):
    earlier = loan_learning_data(as_of_offset_days=40)
    row = earlier.set_index("loan_reference").loc["LN-1"]
    assert row["features_as_of"] == "2024-02-21"
    assert row["last_balance"] == 5000
    only = loan_learning_data(disbursed_from=dt.date(2024, 2, 10), source_system="")
    assert list(only["loan_reference"]) == ["LN-3", "LN-4"]
    with pytest.raises(ValueError, match="negative"):
        loan_learning_data(as_of_offset_days=-1)


def test_no_loans_gives_an_empty_frame_with_the_columns():
    frame = loan_learning_data()
    assert frame.empty
    assert TARGET in frame.columns and "avg_balance_6m" in frame.columns


def test_dataset_export_writes_the_csv_and_audits_it(book, tmp_path):
    summary = dataset_export(out=tmp_path / "loans.csv.gz")

    assert summary["rows"] == 4
    assert summary["bad"] == 3
    assert summary["bad_rate"] == 0.75
    assert summary["target"] == "bad" and summary["bad_value"] == "1"
    assert summary["coverage"]["with_history"] == 1
    with gzip.open(tmp_path / "loans.csv.gz", "rt") as handle:
        written = pd.read_csv(handle)
    assert len(written) == 4
    assert list(written["bad"]) == [1, 1, 0, 1]
    event = AuditEvent.objects.get(action="risk.dataset_export")
    assert event.after["rows"] == 4


def test_dataset_export_refuses_unknown_kinds_and_folders(book, tmp_path):
    with pytest.raises(ValueError, match="applications"):
        dataset_export(out=tmp_path / "x.csv", kind="applications")
    with pytest.raises(ValueError, match="does not exist"):
        dataset_export(out=tmp_path / "missing" / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    assert not AuditEvent.objects.filter(action="risk.dataset_export").exists()


def test_the_dataset_command_writes_the_learning_data_and_prints_one_json_line(book, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    call_command("risk", "dataset", "--out", str(tmp_path / "loans.csv"), stdout=out, stderr=err)

    summary = json.loads(out.getvalue().strip())
    assert summary["rows"] == 4 and summary["bad"] == 3
    written = pd.read_csv(tmp_path / "loans.csv")
    assert list(written["bad"]) == [1, 1, 0, 1]
    assert "learning data" in err.getvalue()


def test_the_dataset_command_names_a_bad_date_and_writes_nothing(book, tmp_path):
    with pytest.raises(CommandError, match="--from"):
        call_command(
            "risk", "dataset", "--out", str(tmp_path / "x.csv"), "--from", "2024-13-01",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    assert not (tmp_path / "x.csv").exists()
    assert not AuditEvent.objects.filter(action="risk.dataset_export").exists()
