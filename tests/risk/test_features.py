"""The CRM's credit features: hand-computed values, the as-of cut-off, bulk equals single."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal

import pytest

from bankcrm.banking.models import AccountRole, Product
from bankcrm.integrations.models import SourceRecord
from bankcrm.lending.models import DelinquencyChange, Loan, LoanApplication
from bankcrm.risk import features
from bankcrm.risk.features import (
    APPLICATION_FEATURES,
    FEATURE_CATALOGUE,
    PARTY_FEATURES,
    application_features,
    party_features,
    party_features_bulk,
    party_features_for,
)
from tests.factories import OrgUnitFactory
from tests.factories.banking import (
    AccountFactory,
    FxRateFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import PersonFactory
from tests.factories.lending import LoanApplicationFactory, LoanProductFactory

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2024, 7, 1)


def _booking(account, day, amount, balance, kind="transfer_in", channel="online"):
    return TransactionFactory(
        account=account,
        booking_date=day,
        amount=Decimal(amount),
        running_balance=None if balance is None else Decimal(balance),
        kind=kind,
        channel=channel,
    )


@pytest.fixture
def customer():
    """A person born 1985 with one current account and a known booking history.

    End-of-day balances over the six months before 2024-07-01 (182 days):
    1,000 for 31 days, 4,000 for 38, 3,500 for 52, -500 for 31, 1,500 for 30.
    """
    branch = OrgUnitFactory()
    party = PersonFactory(owning_unit=branch, customer_since=dt.date(2020, 7, 1))
    party.person.birth_year = 1985
    party.person.save()
    current = ProductFactory(code="CUR01", category=Product.Category.CURRENT)
    account = AccountFactory(
        owner=party, branch=branch, product=current, opened_on=dt.date(2023, 6, 15)
    )
    _booking(account, dt.date(2023, 12, 1), "1000", "1000", kind="salary")
    _booking(account, dt.date(2024, 2, 1), "3000", "4000", kind="salary")
    _booking(account, dt.date(2024, 3, 10), "-500", "3500", kind="card_payment", channel="card")
    _booking(account, dt.date(2024, 5, 1), "-4000", "-500", kind="cash_withdrawal", channel="atm")
    _booking(account, dt.date(2024, 6, 1), "2000", "1500", kind="salary")
    # On and after the day: never seen by features as of 2024-07-01.
    _booking(account, dt.date(2024, 7, 1), "9999", "11499")
    _booking(account, dt.date(2024, 8, 1), "-20000", "-8501")
    # A closed older account, and one opened after the day.
    AccountFactory(
        owner=party,
        branch=branch,
        product=current,
        opened_on=dt.date(2022, 1, 1),
        closed_on=dt.date(2023, 1, 1),
    )
    AccountFactory(owner=party, branch=branch, product=current, opened_on=dt.date(2024, 9, 1))
    AccountRole.objects.create(
        account=account, party=party, role="card_holder", start_on=dt.date(2024, 2, 1)
    )
    return party, account


def _loan(party, account, **overrides):
    values = {
        "reference": f"LN-{Loan.objects.count() + 1:04d}",
        "product": LoanProductFactory(),
        "borrower": party,
        "account": account,
        "branch": account.branch,
        "principal": Decimal("12000"),
        "currency": "CNY",
        "annual_rate": Decimal("6"),
        "term_months": 12,
        "method": "annuity",
        "day_count": "30360",
        "disbursed_on": dt.date(2023, 1, 1),
        "maturity_date": dt.date(2024, 1, 1),
        "outstanding_principal": Decimal("0"),
    }
    values.update(overrides)
    return Loan.objects.create(**values)


def test_catalogue_names_every_feature_in_both_languages():
    for name in (*PARTY_FEATURES, *APPLICATION_FEATURES):
        feature = FEATURE_CATALOGUE[name]
        assert feature.name == name
        assert feature.label_en and feature.label_zh and feature.reason_en and feature.reason_zh
    assert FEATURE_CATALOGUE["avg_balance_6m"].reason_en == "Low average balance"
    assert FEATURE_CATALOGUE["avg_balance_6m"].reason_zh == "平均余额偏低"
    assert FEATURE_CATALOGUE["inflow_cv_6m"].reason_en == "Irregular income"


def test_balance_features_match_the_hand_computed_daily_balances(customer):
    party, _account = customer
    values = party_features(party, as_of=AS_OF)

    segments = [(1000, 31), (4000, 38), (3500, 52), (-500, 31), (1500, 30)]
    days = sum(d for _b, d in segments)
    assert days == 182
    mean6 = sum(b * d for b, d in segments) / days
    std6 = math.sqrt(sum(b * b * d for b, d in segments) / days - mean6**2)
    assert values["avg_balance_6m"] == pytest.approx(394500 / 182)
    assert values["avg_balance_6m"] == pytest.approx(mean6)
    assert values["balance_volatility_6m"] == pytest.approx(std6 / mean6)
    assert values["min_balance_6m"] == -500
    assert values["negative_balance_days_6m"] == 31
    # April to June: 3,500 for 30 days, -500 for 31, 1,500 for 30.
    assert values["avg_balance_3m"] == pytest.approx((3500 * 30 - 500 * 31 + 1500 * 30) / 91)
    assert values["min_balance_3m"] == -500
    assert values["last_balance"] == 1500


def test_activity_and_income_features(customer):
    party, _account = customer
    values = party_features(party, as_of=AS_OF)

    assert values["history_days"] == 213  # since 2023-12-01
    assert values["days_since_last_transaction"] == 30
    assert values["transactions_6m"] == 4
    assert values["transactions_3m"] == 2
    assert values["inflow_6m"] == 5000
    assert values["outflow_6m"] == 4500
    assert values["outflow_inflow_ratio_6m"] == pytest.approx(0.9)
    # The card payment and the ATM withdrawal.
    assert values["card_payments_6m"] == 2
    assert values["card_amount_6m"] == 4500
    assert values["cash_withdrawal_share_6m"] == pytest.approx(4000 / 4500)
    # January to June 2024: 0, 3,000, 0, 0, 0, 2,000.
    monthly = [0, 3000, 0, 0, 0, 2000]
    mean = sum(monthly) / 6
    std = math.sqrt(sum(x * x for x in monthly) / 6 - mean**2)
    assert values["avg_monthly_inflow_6m"] == pytest.approx(mean)
    assert values["inflow_months_6m"] == 2
    assert values["salary_months_6m"] == 2
    assert values["inflow_cv_6m"] == pytest.approx(std / mean)


def test_customer_and_holding_features(customer):
    party, account = customer
    loan = _loan(party, account, delinquency_as_of=dt.date(2024, 8, 1), days_past_due=120)
    DelinquencyChange.objects.create(
        loan=loan,
        as_of=dt.date(2023, 6, 1),
        from_bucket="current",
        to_bucket="31-60",
        days_past_due=45,
        is_deterioration=True,
    )
    DelinquencyChange.objects.create(
        loan=loan,
        as_of=dt.date(2024, 8, 1),
        from_bucket="31-60",
        to_bucket="90+",
        days_past_due=120,
        is_deterioration=True,
    )
    values = party_features(party, as_of=AS_OF)

    assert values["age"] == 39
    assert values["party_kind"] == "person"
    assert values["segment"] == "mass"
    assert values["customer_years"] == pytest.approx(1461 / 365.25)
    assert values["accounts_count"] == 1  # the closed one and the later one do not count
    assert values["products_count"] == 1
    assert values["account_age_months"] == 30  # the oldest, closed, account: 2022-01-01
    assert values["cards_count"] == 1
    assert values["loans_count"] == 1
    assert values["open_loans"] == 1
    # What was known before the day: 45 days; the 120 came later.
    assert values["worst_days_past_due"] == 45
    assert values["declined_applications_12m"] == 0
    # No district figures are recorded for the branch.
    assert values["district_unemployment"] is None


def test_nothing_on_or_after_the_day_changes_the_features(customer):
    party, account = customer
    before = party_features(party, as_of=AS_OF)
    _booking(account, AS_OF, "-70000", "-58501", kind="cash_withdrawal", channel="atm")
    _booking(account, dt.date(2025, 1, 1), "500", None)
    _loan(party, account, disbursed_on=AS_OF)
    AccountRole.objects.create(
        account=AccountFactory(), party=party, role="card_holder", start_on=AS_OF
    )
    assert party_features(party, as_of=AS_OF) == before
    # The day after sees them.
    after = party_features(party, as_of=AS_OF + dt.timedelta(days=1))
    assert after["last_balance"] == -58501
    assert after["loans_count"] == 1


def test_a_customer_without_accounts_has_missing_behaviour_features():
    party = PersonFactory()
    values = party_features(party, as_of=AS_OF)
    assert values["avg_balance_6m"] is None
    assert values["inflow_months_6m"] is None
    assert values["accounts_count"] == 0
    assert values["loans_count"] == 0
    assert values["worst_days_past_due"] is None
    assert values["age"] == 39


def test_balances_add_up_over_accounts_and_leave_out_what_is_owed(customer):
    party, _account = customer
    savings = AccountFactory(
        owner=PersonFactory(), product=ProductFactory(code="SAV01"), opened_on=dt.date(2023, 1, 1)
    )
    AccountRole.objects.create(account=savings, party=party, role="joint_owner")
    # No running balance from core banking: rebuilt from the bookings (opening at zero).
    _booking(savings, dt.date(2024, 4, 1), "600", None)
    _booking(savings, dt.date(2024, 6, 1), "-100", None)
    card = AccountFactory(
        owner=party,
        product=ProductFactory(code="CC01", category="credit_card", is_liability=True),
        opened_on=dt.date(2023, 1, 1),
    )
    _booking(card, dt.date(2024, 6, 15), "-900", "-900", kind="card_payment", channel="card")

    values = party_features(party, as_of=AS_OF)
    assert values["last_balance"] == 1500 + 500
    # Savings: 600 for 61 days (April, May), 500 for 30 (June).
    extra = (600 * 61 + 500 * 30) / 91
    assert values["avg_balance_3m"] == pytest.approx(
        (3500 * 30 - 500 * 31 + 1500 * 30) / 91 + extra
    )
    # The customer's own lowest day: May, -500 + 600.
    assert values["min_balance_3m"] == 100
    assert values["accounts_count"] == 3
    assert values["cards_count"] == 2  # the card-holder role and the credit-card account


def test_bulk_equals_single_for_the_same_customers(customer):
    party, _account = customer
    other = PersonFactory()
    other_account = AccountFactory(owner=other, opened_on=dt.date(2023, 2, 1))
    _booking(other_account, dt.date(2024, 3, 1), "800", "800", kind="pension")
    _booking(other_account, dt.date(2024, 5, 20), "-300", "500")
    empty = PersonFactory()

    frame = party_features_bulk(AS_OF, party_ids=[party.pk, other.pk, empty.pk])
    assert list(frame.columns) == list(PARTY_FEATURES)
    assert set(frame.index) == {party.pk, other.pk, empty.pk}
    everyone = party_features_bulk(AS_OF)
    assert {party.pk, other.pk, empty.pk} <= set(everyone.index)
    for pk in (party.pk, other.pk, empty.pk):
        single = party_features(pk, as_of=AS_OF)
        for source in (frame, everyone):
            row = {name: features._plain(source.loc[pk, name]) for name in PARTY_FEATURES}
            assert row == pytest.approx(single, nan_ok=True), pk
    assert frame.loc[other.pk, "salary_months_6m"] == 1
    assert frame.loc[other.pk, "avg_balance_6m"] == pytest.approx((800 * 80 + 500 * 42) / 122)


def test_pairs_take_each_customer_as_of_its_own_day(customer):
    party, _account = customer
    frame = party_features_for([(party, AS_OF), (party.pk, dt.date(2024, 3, 1))])
    assert frame.loc[0, "last_balance"] == 1500
    assert frame.loc[1, "last_balance"] == 4000
    assert frame.loc[1, "transactions_6m"] == 2  # 2023-12-01 and 2024-02-01


def test_district_figures_follow_the_customers_branch(customer):
    party, _account = customer
    SourceRecord.objects.create(
        source_system="berka",
        kind="district",
        source_id="1",
        owning_unit=party.owning_unit,
        data={
            "inhabitants": 100000,
            "urban_ratio": "60.5",
            "average_salary": 9000,
            "unemployment_1995": "3.1",
            "unemployment_1996": "?",
            "entrepreneurs_per_1000": 120,
            "crimes_1995": 2000,
            "crimes_1996": 2500,
        },
    )
    values = party_features(party, as_of=AS_OF)
    assert values["district_unemployment"] == pytest.approx(3.1)
    assert values["district_average_salary"] == 9000
    assert values["district_urban_ratio"] == pytest.approx(60.5)
    assert values["district_crimes_per_1000"] == pytest.approx(25.0)
    assert values["district_inhabitants"] == 100000


def test_application_features_add_the_loan_asked_for(customer):
    party, _account = customer
    application = LoanApplicationFactory(
        applicant=party,
        amount=Decimal("12000.00"),
        term_months=12,
        monthly_income=Decimal("5000.00"),
        monthly_obligations=Decimal("500.00"),
        product=LoanProductFactory(nominal_rate=Decimal("0")),
    )
    LoanApplication.objects.filter(pk=application.pk).update(
        decision="declined", decided_at=dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    )
    application.refresh_from_db()
    values = application_features(application, as_of=AS_OF)

    assert set(values) == {*PARTY_FEATURES, *APPLICATION_FEATURES}
    assert values["loan_amount"] == 12000
    assert values["term_months"] == 12
    assert values["instalment"] == pytest.approx(1000)  # 12,000 over 12 months at 0 %
    assert values["instalment_to_inflow"] == pytest.approx(1000 / (5000 / 6))
    assert values["instalment_to_balance"] == pytest.approx(1000 / (394500 / 182))
    assert values["declared_income"] == 5000
    assert values["debt_to_income"] == pytest.approx(30.0)
    assert values["product_type"] == "personal"
    assert values["avg_balance_6m"] == pytest.approx(394500 / 182)
    assert values["declined_applications_12m"] == 1


def test_bad_as_of_is_refused_and_unknown_party_is_reported():
    with pytest.raises(ValueError, match="as_of"):
        party_features_bulk("July 2024")
    with pytest.raises(features.Party.DoesNotExist):
        party_features(uuid.uuid4(), as_of=AS_OF)


def test_amounts_in_other_currencies_are_converted_to_the_base_currency():
    party = PersonFactory()
    dollars = AccountFactory(
        owner=party, product=ProductFactory(code="USD01", currency="USD"), currency="USD"
    )
    FxRateFactory(currency="USD", rate_to_base=Decimal("7.1"), as_of=dt.date(2024, 1, 1))
    _booking(dollars, dt.date(2024, 6, 1), "100", "100")
    values = party_features(party, as_of=AS_OF)
    assert values["last_balance"] == pytest.approx(710)
    assert values["inflow_6m"] == pytest.approx(710)
