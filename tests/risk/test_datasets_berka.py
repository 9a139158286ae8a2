"""Learning data of the Berka PKDD'99 loans, imported into the CRM (real data, ~20 s)."""

from __future__ import annotations

import pytest

from bankcrm.core.actor import SystemActor
from bankcrm.integrations.services import berka_import
from bankcrm.risk.datasets import TARGET, behaviour_coverage, loan_learning_data
from tests.integrations.conftest import berka_dir  # noqa: F401  (fixture)


@pytest.mark.django_db
def test_berka_loans_as_learning_data(berka_dir):  # noqa: F811
    berka_import(actor=SystemActor("test-berka"), directory=berka_dir)

    frame = loan_learning_data(source_system="berka")

    # 682 loans, status B or D bad (31 + 45).
    assert len(frame) == 682
    assert int(frame[TARGET].sum()) == 76
    assert set(frame["outcome_source"]) == {"source"}
    # The shared transactions file covers 1993-01 to 1994-03: only the loans of accounts
    # with bookings before the loan's day have behaviour features.
    coverage = behaviour_coverage(frame)
    assert coverage["with_history"] == 160
    assert coverage["bad_with_history"] == 25
    assert (frame["features_as_of"] == frame["disbursed_on"]).all()
    # Every feature day is after the last booking the features saw.
    seen = frame.dropna(subset=["history_days"])
    assert (seen["days_since_last_transaction"] >= 1).all()
    # District figures for every borrower; the loan's own terms.
    assert frame["district_average_salary"].notna().all()
    assert frame["loan_amount"].notna().all() and frame["instalment"].notna().all()
    assert (frame["loans_count"] == 0).all()  # no earlier loans in the data set
