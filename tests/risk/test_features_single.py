"""One customer's features, computed on their own, equal the set-based features of many.

Generated histories (seeded, so a failure replays): people and organisations, with or
without a year of birth or a customer-since day; current, savings, dollar and euro
accounts (the dollar one converted, the euro one without a rate), closed ones and ones
opened later; bookings with and without the balance after them, overdrafts, several on a
day across accounts, some on or after the day; credit cards and card-holder roles; loans
with delinquency; declined applications; district records. Amounts are quarters and rates
binary fractions, so every sum is exact in either order of addition: the two ways must
agree to the last bit, and do to 1e-9 on anything else.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.banking.models import AccountRole, Product, Transaction
from bankcrm.integrations.models import SourceRecord
from bankcrm.lending.models import DelinquencyChange, Loan, LoanApplication
from bankcrm.risk import features
from bankcrm.risk.features import (
    APPLICATION_FEATURES,
    PARTY_FEATURES,
    application_features,
    loan_facts_frame,
    party_features,
    party_features_bulk,
    party_features_for,
)
from tests.factories import OrgUnitFactory
from tests.factories.banking import AccountFactory, FxRateFactory, ProductFactory
from tests.factories.customers import OrganisationFactory, PersonFactory
from tests.factories.lending import LoanApplicationFactory, LoanProductFactory

pytestmark = pytest.mark.django_db

# Month ends that clamp (31st, 29 February) and a first of the month.
DAYS = [dt.date(2024, 7, 1), dt.date(2024, 8, 31), dt.date(2024, 3, 31), dt.date(2024, 2, 29)]
KINDS = [choice for choice, _label in Transaction.Kind.choices]
CHANNELS = [choice for choice, _label in Transaction.Channel.choices]


def _same(single: Any, other: Any) -> bool:
    if single is None or other is None:
        return single is None and other is None
    if isinstance(single, float) or isinstance(other, float):
        return math.isclose(single, other, rel_tol=1e-9, abs_tol=1e-9)
    return bool(single == other)


def _assert_same(single: dict[str, Any], other: dict[str, Any], what: str) -> None:
    assert single.keys() == other.keys()
    different = {
        name: (single[name], other[name]) for name in single if not _same(single[name], other[name])
    }
    assert not different, f"{what}: single != set-based for {different}"


def _row(frame: Any, key: Any, names: tuple[str, ...] = PARTY_FEATURES) -> dict[str, Any]:
    return {name: features._plain(frame.loc[key, name]) for name in names}


class _Bank:
    """The products, rates and branches the generated customers share."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.branches = [OrgUnitFactory(), OrgUnitFactory()]
        self.deposits = [
            ProductFactory(code="G-CUR", category=Product.Category.CURRENT),
            ProductFactory(code="G-SAV", category=Product.Category.SAVINGS),
            ProductFactory(code="G-USD", category=Product.Category.SAVINGS, currency="USD"),
            ProductFactory(code="G-EUR", category=Product.Category.CURRENT, currency="EUR"),
        ]
        self.card = ProductFactory(
            code="G-CC", category=Product.Category.CREDIT_CARD, is_liability=True
        )
        self.loan_product = LoanProductFactory(nominal_rate=Decimal("0"))
        # Dollars: a rate before every day generated and a later one; euros: none.
        FxRateFactory(currency="USD", rate_to_base=Decimal("7.25"), as_of=dt.date(2022, 1, 1))
        FxRateFactory(currency="USD", rate_to_base=Decimal("6.5"), as_of=dt.date(2024, 3, 15))
        # District records: none for one branch, two for the other (the last one counts).
        for index, data in enumerate(
            [
                {"inhabitants": 1000, "crimes_1995": 40, "unemployment_1995": "2.5"},
                {
                    "inhabitants": 200000,
                    "crimes_1996": 5000,
                    "crimes_1995": "?",
                    "unemployment_1996": "3.75",
                    "average_salary": 9000,
                    "urban_ratio": "61.5",
                    "entrepreneurs_per_1000": "?",
                },
            ]
        ):
            SourceRecord.objects.create(
                source_system="berka",
                kind="district",
                source_id=f"g{index}",
                owning_unit=self.branches[1],
                data=data,
            )

    def money(self, low: int, high: int) -> Decimal:
        return Decimal(self.rng.randrange(low * 4, high * 4)) / 4

    def day(self, as_of: dt.date, before: int, after: int = 0) -> dt.date:
        return as_of + dt.timedelta(days=self.rng.randint(-before, after))

    def customer(self, as_of: dt.date) -> Any:
        rng = self.rng
        branch = rng.choice(self.branches)
        since = rng.choice([None, self.day(as_of, 3000, 30)])
        if rng.random() < 0.2:
            party = OrganisationFactory(owning_unit=branch, customer_since=since)
        else:
            party = PersonFactory(owning_unit=branch, customer_since=since)
            party.person.birth_year = rng.choice([None, 1950, 1985, 2001])
            party.person.save()
        for _ in range(rng.choice([0, 1, 2, 2, 3, 4])):
            self.account(party, as_of, branch)
        if rng.random() < 0.5:
            card = AccountFactory(
                owner=party, branch=branch, product=self.card, opened_on=self.day(as_of, 700)
            )
            self.bookings(card, as_of, rng.randint(0, 10))
        for _ in range(rng.randint(0, 2)):
            AccountRole.objects.create(
                account=AccountFactory(branch=branch),
                party=party,
                role="card_holder",
                start_on=rng.choice([None, self.day(as_of, 400, 30)]),
                end_on=rng.choice([None, None, self.day(as_of, 100, 100)]),
            )
        for _ in range(rng.randint(0, 2)):
            self.loan(party, as_of, branch)
        for _ in range(rng.randint(0, 2)):
            application = LoanApplicationFactory(applicant=party, branch=branch)
            decided = dt.datetime.combine(self.day(as_of, 500, 20), dt.time(10), tzinfo=dt.UTC)
            LoanApplication.objects.filter(pk=application.pk).update(
                decision=rng.choice(["declined", "declined", "approved"]), decided_at=decided
            )
        return party

    def account(self, party: Any, as_of: dt.date, branch: Any) -> None:
        rng = self.rng
        opened = self.day(as_of, 900, 20)
        closed = rng.choice([None, None, None, opened + dt.timedelta(days=rng.randint(0, 600))])
        product = rng.choice(self.deposits)
        if rng.random() < 0.25:
            # Held jointly: another customer's account.
            account = AccountFactory(
                branch=branch, product=product, opened_on=opened, closed_on=closed
            )
            AccountRole.objects.create(account=account, party=party, role="joint_owner")
        else:
            account = AccountFactory(
                owner=party, branch=branch, product=product, opened_on=opened, closed_on=closed
            )
        self.bookings(account, as_of, rng.choice([0, 3, 30, 80, 150]))

    def bookings(self, account: Any, as_of: dt.date, count: int) -> None:
        rng = self.rng
        # Core banking sends the balance after each booking, none, or only sometimes.
        mode = rng.choice(["all", "none", "some"])
        balance = self.money(-500, 3000)
        rows = []
        days = sorted(self.day(as_of, 420, 40) for _ in range(count))
        for index, day in enumerate(days):
            amount = self.money(-2500, 2500)
            balance += amount
            known = mode == "all" or (mode == "some" and rng.random() < 0.5)
            rows.append(
                Transaction(
                    account=account,
                    booking_date=day,
                    amount=amount,
                    currency=account.currency,
                    direction="debit" if amount < 0 else "credit",
                    kind=rng.choice(KINDS),
                    channel=rng.choice(CHANNELS),
                    running_balance=balance if known else None,
                    source_id=f"g-{account.pk}-{index}",
                )
            )
        Transaction.objects.bulk_create(rows)

    def loan(self, party: Any, as_of: dt.date, branch: Any) -> None:
        rng = self.rng
        disbursed = self.day(as_of, 900, 30)
        account = AccountFactory(owner=party, branch=branch)
        loan = Loan.objects.create(
            reference=f"LN-G-{Loan.objects.count() + 1:05d}",
            product=self.loan_product,
            borrower=party,
            account=account,
            branch=branch,
            principal=Decimal("12000"),
            currency="CNY",
            annual_rate=Decimal("6"),
            term_months=12,
            method="annuity",
            day_count="30360",
            disbursed_on=disbursed,
            maturity_date=disbursed + dt.timedelta(days=365),
            closed_on=rng.choice([None, disbursed + dt.timedelta(days=rng.randint(30, 500))]),
            outstanding_principal=Decimal("0"),
            delinquency_as_of=rng.choice([None, self.day(as_of, 200, 60)]),
            days_past_due=rng.choice([0, 15, 95]),
        )
        for _ in range(rng.randint(0, 3)):
            DelinquencyChange.objects.create(
                loan=loan,
                as_of=self.day(as_of, 600, 60),
                from_bucket="current",
                to_bucket="31-60",
                days_past_due=rng.randint(1, 120),
                is_deterioration=True,
            )


@pytest.mark.parametrize("seed", range(6))
def test_one_customer_equals_the_set_based_features_over_generated_histories(seed):
    rng = random.Random(seed)
    bank = _Bank(rng)
    as_of = DAYS[seed % len(DAYS)]
    parties = [bank.customer(as_of) for _ in range(4)]
    keys = [party.pk for party in parties]

    chosen = party_features_bulk(as_of, party_ids=keys)
    everyone = party_features_bulk(as_of)
    for party in parties:
        single = party_features(party, as_of=as_of)
        _assert_same(single, _row(chosen, party.pk), f"seed {seed}, chosen customers")
        _assert_same(single, _row(everyone, party.pk), f"seed {seed}, every customer")


@pytest.mark.parametrize("seed", range(6, 9))
def test_each_customer_as_of_its_own_day_equals_one_customer_alone(seed):
    rng = random.Random(seed)
    bank = _Bank(rng)
    parties = [bank.customer(DAYS[0]) for _ in range(3)]
    pairs = [(party, day) for party in parties for day in DAYS]
    frame = party_features_for(pairs)
    for index, (party, day) in enumerate(pairs):
        _assert_same(party_features(party, as_of=day), _row(frame, index), f"{day}")


@pytest.mark.parametrize("seed", range(9, 12))
def test_application_features_equal_the_learning_data_columns(seed):
    rng = random.Random(seed)
    bank = _Bank(rng)
    as_of = DAYS[seed % len(DAYS)]
    for _ in range(3):
        party = bank.customer(as_of)
        application = LoanApplicationFactory(
            applicant=party,
            product=bank.loan_product,
            amount=bank.money(5000, 90000).quantize(Decimal("1")),
            term_months=rng.choice([6, 12, 36]),
            monthly_income=rng.choice([Decimal("0"), bank.money(1000, 30000)]),
            monthly_obligations=rng.choice([Decimal("0"), bank.money(0, 3000)]),
        )
        values = application_features(application, as_of=as_of)
        party_frame = party_features_for([(party, as_of)])
        instalment = values["instalment"]
        loan = loan_facts_frame(
            party_frame,
            loan_amount=[application.amount],
            term_months=[application.term_months],
            instalment=[instalment],
            declared_income=[application.monthly_income],
            declared_obligations=[application.monthly_obligations],
            product_type=[application.product.type],
        )
        expected = _row(party_frame, 0) | _row(loan, 0, APPLICATION_FEATURES)
        _assert_same(values, expected, f"seed {seed}, application")


def test_an_overdrawn_customer_in_dollars_and_undated_balances():
    """A hand-checked case of the pieces the generator mixes: the dollar account converted
    at the latest rate before the day, the balance rebuilt where core banking sent none,
    the customer overdrawn across two accounts."""
    bank = _Bank(random.Random(0))
    as_of = dt.date(2024, 7, 1)
    party = PersonFactory(owning_unit=bank.branches[0], customer_since=dt.date(2020, 1, 1))
    dollars = AccountFactory(owner=party, product=bank.deposits[2], opened_on=dt.date(2023, 1, 1))
    yuan = AccountFactory(owner=party, product=bank.deposits[0], opened_on=dt.date(2023, 1, 1))
    for account, day, amount, balance in [
        (dollars, dt.date(2024, 5, 1), "100", None),
        (yuan, dt.date(2024, 5, 1), "-1000", "-1000"),
        (dollars, dt.date(2024, 6, 1), "-20", None),
    ]:
        Transaction.objects.create(
            account=account,
            booking_date=day,
            amount=Decimal(amount),
            currency=account.currency,
            direction="debit" if amount.startswith("-") else "credit",
            kind="transfer_in",
            channel="online",
            running_balance=None if balance is None else Decimal(balance),
            source_id=f"h-{day}-{amount}",
        )
    values = party_features(party, as_of=as_of)
    # 6.5 a dollar since 2024-03-15. May: 650 - 1,000 = -350 for 31 days; June: 520 - 1,000.
    assert values["last_balance"] == pytest.approx(-480)
    assert values["min_balance_6m"] == pytest.approx(-480)
    assert values["negative_balance_days_6m"] == 61
    assert values["avg_balance_3m"] == pytest.approx((-350 * 31 - 480 * 30) / 61)
    assert values["inflow_6m"] == pytest.approx(650)
    assert values["outflow_6m"] == pytest.approx(1130)
    _assert_same(values, _row(party_features_bulk(as_of, party_ids=[party.pk]), party.pk), "")


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements run, but savepoints."""
    return [
        query["sql"]
        for query in queries.captured_queries
        if not query["sql"].upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))
    ]


def test_one_customer_takes_two_statements_and_no_temporary_table():
    bank = _Bank(random.Random(3))
    party = bank.customer(DAYS[0])
    party_features(party, as_of=DAYS[0])  # PostgreSQL: prepares the statements
    with CaptureQueriesContext(connection) as queries:
        party_features(party, as_of=DAYS[0])
    statements = _statements(queries)
    assert len(statements) == 2, statements
    assert not any("TEMPORARY" in sql.upper() or "INSERT" in sql.upper() for sql in statements)


def _forgotten_statements_are_prepared_again(seed: int) -> None:
    bank = _Bank(random.Random(seed))
    party = bank.customer(DAYS[0])
    before = party_features(party, as_of=DAYS[0])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with CaptureQueriesContext(connection) as queries:
        assert party_features(party, as_of=DAYS[0]) == before
    assert sum(sql.startswith("PREPARE") for sql in _statements(queries)) == 2
    # Whatever surrounds the call goes on.
    assert party_features(party, as_of=DAYS[1])["party_kind"] == before["party_kind"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_statements_the_server_forgot_are_prepared_again_in_a_transaction():
    _forgotten_statements_are_prepared_again(4)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_statements_the_server_forgot_are_prepared_again_in_autocommit():
    assert connection.get_autocommit()
    _forgotten_statements_are_prepared_again(5)


def test_an_unknown_or_malformed_customer_key_is_reported():
    with pytest.raises(features.Party.DoesNotExist, match="not-a-key"):
        party_features("not-a-key", as_of=DAYS[0])
