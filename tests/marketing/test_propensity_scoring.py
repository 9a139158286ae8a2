"""Scoring every customer's propensity: CRM features in SQL, predictions stored by upsert."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Product
from bankcrm.customers.models import Party
from bankcrm.lending.models import Loan
from bankcrm.marketing import services_propensity
from bankcrm.marketing.models import CampaignMessage, CampaignTarget, PropensityScore
from bankcrm.marketing.propensity import features
from bankcrm.marketing.services_propensity import propensity_score_customers
from tests.factories.banking import AccountFactory, ProductFactory
from tests.factories.customers import ContactPointFactory, PersonFactory
from tests.factories.lending import MortgageProductFactory
from tests.factories.marketing import CampaignFactory

from .conftest import MarketingBank
from .test_nbo_fixtures import register_model

AS_OF = dt.date(2026, 5, 20)


class FakeModel:
    """Predicts from the rows it is given, and keeps them for the test to read."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift
        self.frames: list[pd.DataFrame] = []

    def __call__(self, model_version: Any, rows: pd.DataFrame) -> np.ndarray:
        self.frames.append(rows.copy())
        ages = rows["age"].fillna(50).to_numpy(dtype=float)
        return np.clip(ages / 100 + self.shift, 0, 1)


def mortgage(party: Party, *, arrears: Decimal) -> Loan:
    account = AccountFactory(owner=party, branch=party.owning_unit)
    return Loan.objects.create(
        reference=f"LN-{Loan.objects.count() + 1}",
        product=MortgageProductFactory(),
        borrower=party,
        account=account,
        branch=party.owning_unit,
        principal=Decimal("500000"),
        currency="CNY",
        annual_rate=Decimal("3.5"),
        term_months=240,
        method="annuity",
        day_count="act365",
        disbursed_on=dt.date(2020, 1, 1),
        maturity_date=dt.date(2040, 1, 1),
        outstanding_principal=Decimal("400000"),
        arrears=arrears,
    )


@pytest.fixture
def people(marketing_bank: MarketingBank) -> dict[str, Party]:
    mb = marketing_bank
    young = PersonFactory(
        display_name="Young",
        owning_unit=mb.branch_a,
        status="active",
        person__birth_year=1996,
        person__occupation="Software engineer",
    )
    old = PersonFactory(
        display_name="Old",
        owning_unit=mb.branch_b,
        status="active",
        person__birth_year=1956,
        person__occupation="退休教师",
    )
    closed = PersonFactory(display_name="Closed", owning_unit=mb.branch_b, status="closed")
    return {"young": young, "old": old, "closed": closed}


def test_crm_features_of_a_customer(marketing_bank: MarketingBank, people) -> None:
    young = people["young"]
    savings = ProductFactory(code="SAV", category=Product.Category.SAVINGS)
    loan = ProductFactory(code="LN", category=Product.Category.LOAN, is_liability=True)
    AccountFactory(product=savings, owner=young, balance=Decimal("1200.50"))
    AccountFactory(product=marketing_bank.current, owner=young, balance=Decimal("300"))
    AccountFactory(
        product=savings,
        owner=young,
        balance=Decimal("999"),
        status="closed",
        closed_on=dt.date(2025, 1, 1),
    )
    AccountFactory(product=loan, owner=young, balance=Decimal("-5000"))
    ContactPointFactory(party=young, kind="phone", value="+8613900000001")
    campaign = CampaignFactory(segment__owning_unit=marketing_bank.head_office)
    target = CampaignTarget.objects.create(
        campaign=campaign, party=young, group="treatment", draw=0.4
    )
    sent = timezone.make_aware(dt.datetime(2026, 5, 10, 12))
    CampaignMessage.objects.create(
        campaign=campaign,
        target=target,
        party=young,
        channel="email",
        status="sent",
        queued_at=sent,
        sent_at=sent,
    )
    values = features.party_features(young, as_of=AS_OF)
    assert values == {
        "age": 30.0,
        "deposit_balance": 1500.5,
        "holds_mortgage": "no",
        "holds_other_loan": "yes",
        "loan_in_arrears": "no",
        "occupation_group": "technician",
        "contact_kind": "cellular",
        "contacts_this_campaign": 1.0,
        "previous_contacts": 1.0,
        "days_since_last_contact": 10.0,
        "previous_outcome": "failure",
        "day_of_month": 20.0,
        "month_name": "may",
    }
    old = features.party_features(people["old"], as_of=AS_OF)
    assert (old["age"], old["deposit_balance"], old["occupation_group"]) == (70.0, 0.0, "retired")
    assert (old["holds_mortgage"], old["holds_other_loan"], old["loan_in_arrears"]) == (
        "no",
        "no",
        "no",
    )
    mortgage(people["old"], arrears=Decimal(0))
    old = features.party_features(people["old"], as_of=AS_OF)
    assert (old["holds_mortgage"], old["holds_other_loan"], old["loan_in_arrears"]) == (
        "yes",
        "no",
        "no",
    )
    mortgage(people["old"], arrears=Decimal("350.00"))
    old = features.party_features(people["old"], as_of=AS_OF)
    assert (old["holds_mortgage"], old["loan_in_arrears"]) == ("yes", "yes")
    assert (old["contact_kind"], old["days_since_last_contact"], old["previous_outcome"]) == (
        "unknown",
        -1.0,
        "unknown",
    )


def test_model_columns_follow_the_map_and_the_models_own_overrides(db) -> None:
    version = register_model()
    version.feature_map = {"job": None, "marital": "occupation_group"}
    mapping = features.feature_map_for(version)
    assert mapping == {
        "age": "age",
        "balance": "deposit_balance",
        "housing": "holds_mortgage",
        "loan": "holds_other_loan",
        "job": None,
        "marital": "occupation_group",
    }
    crm = features.crm_feature_frame(
        [("k", 1990, "clerk", Decimal(10), False, True, False, True, 0, None, False)],
        as_of=AS_OF,
    )
    frame = features.model_frame(crm, mapping)
    assert list(frame.columns) == ["age", "balance", "housing", "loan", "job", "marital"]
    assert frame.iloc[0]["marital"] == "admin."
    assert math.isnan(frame.iloc[0]["job"])


def test_scoring_upserts_one_row_per_customer_and_product(
    marketing_bank: MarketingBank, people, monkeypatch
) -> None:
    version = register_model()
    model = FakeModel()
    monkeypatch.setattr(services_propensity, "_predict", model)
    stored = propensity_score_customers(
        model_version=version, product=marketing_bank.deposit, batch=1, as_of=AS_OF
    )
    # The two bank fixture's customers (born 1985) and the two active people; not the closed.
    assert stored == 4
    assert len(model.frames) == 4  # one batch per customer (batch=1)
    scores = {
        row.party_id: round(row.probability, 6)
        for row in PropensityScore.objects.filter(product=marketing_bank.deposit)
    }
    assert scores == {
        people["young"].pk: 0.30,
        people["old"].pk: 0.70,
        marketing_bank.customer_a.pk: 0.41,
        marketing_bank.customer_b.pk: 0.41,
    }
    assert list(model.frames[0].columns) == [
        "age",
        "balance",
        "housing",
        "loan",
        "job",
        "marital",
    ]
    # Run again with other figures: the same rows, new values.
    monkeypatch.setattr(services_propensity, "_predict", FakeModel(shift=0.1))
    second = register_model(version=2)
    assert propensity_score_customers(model_version=second, product="TD12", as_of=AS_OF) == 4
    rows = PropensityScore.objects.filter(product=marketing_bank.deposit)
    assert rows.count() == 4
    assert {row.party_id: round(row.probability, 6) for row in rows} == {
        people["young"].pk: 0.4,
        people["old"].pk: 0.8,
        marketing_bank.customer_a.pk: 0.51,
        marketing_bank.customer_b.pk: 0.51,
    }
    assert {row.model_version_id for row in rows} == {second.pk}
    events = AuditEvent.objects.filter(action="propensity.score").order_by("pk")
    assert [event.after["scored"] for event in events] == [4, 4]
    assert events[1].after["customers"] == 4


def test_scoring_refuses_a_model_of_another_purpose(marketing_bank: MarketingBank) -> None:
    version = register_model()
    version.purpose = "application"
    with pytest.raises(ValidationError) as caught:
        propensity_score_customers(model_version=version, product="TD12")
    assert list(caught.value.message_dict) == ["model_version"]
    with pytest.raises(ValidationError) as caught:
        propensity_score_customers(model_version=register_model(version=3), product="NOPE")
    assert list(caught.value.message_dict) == ["product"]
    assert PropensityScore.objects.count() == 0


def test_the_command_prints_one_json_line(
    marketing_bank: MarketingBank, people, monkeypatch
) -> None:
    register_model(version=1)
    register_model(version=2)
    monkeypatch.setattr(services_propensity, "_predict", FakeModel())
    out = io.StringIO()
    call_command(
        "marketing", "score-propensity", "--model", "nbo-test:1", "--product", "TD12", stdout=out
    )
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert {k: line[k] for k in ("model", "version", "product", "scored")} == {
        "model": "nbo-test",
        "version": 1,
        "product": "TD12",
        "scored": 4,
    }
    assert services_propensity.model_version_for("nbo-test").version == 2


def logistic_model() -> Any:
    """A registered logistic propensity model in the trained models' specification layout:
    log-odds = 0.5 × (age − 40) / 10 + 1.0 × [housing = yes] − 1."""
    version = register_model(name="nbo-logistic")
    version.spec = {
        "kind": "logistic",
        "propensity": {
            "inputs": [{"name": "age"}, {"name": "housing"}, {"name": "marital"}],
            "derive": {},
            "calibration": {"method": "none"},
        },
        "logistic": {
            "numeric": [{"name": "age", "fill": 40, "mean": 40, "scale": 10}],
            "categorical": [{"name": "housing", "categories": ["no", "yes"]}],
            "coefficients": [0.5, 0.0, 1.0],
            "intercept": -1.0,
        },
    }
    version.save()
    return version


def test_scoring_with_a_registered_model(marketing_bank: MarketingBank, people) -> None:
    version = logistic_model()
    assert features.model_feature_names(version) == ["age", "housing", "marital"]
    stored = propensity_score_customers(
        model_version=version, product=marketing_bank.deposit, as_of=AS_OF
    )
    assert stored == 4
    scores = {
        row.party_id: round(row.probability, 6)
        for row in PropensityScore.objects.filter(model_version=version)
    }

    def sigmoid(value: float) -> float:
        return round(1 / (1 + math.exp(-value)), 6)

    assert scores == {
        people["young"].pk: sigmoid(0.5 * (30 - 40) / 10 - 1),
        people["old"].pk: sigmoid(0.5 * (70 - 40) / 10 - 1),
        marketing_bank.customer_a.pk: sigmoid(0.5 * (41 - 40) / 10 - 1),
        marketing_bank.customer_b.pk: sigmoid(0.5 * (41 - 40) / 10 - 1),
    }
