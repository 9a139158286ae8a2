"""The risk early-warning report on a small hand-computed fixture: each signal fires for
exactly the customers expected and not for the near misses beside them; currencies are
never added together; the viewer's scope and permissions; the thresholds' bounds."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.access.models import Role
from bankcrm.analytics.selectors_early_warning import (
    SIGNAL_CODES,
    default_thresholds,
    early_warning_list,
    early_warning_report,
    early_warning_signals,
    early_warning_units,
    salary_months,
    thresholds_check,
)
from bankcrm.banking.activity import party_activity_rebuild
from bankcrm.banking.models import AccountRole, Product
from bankcrm.compliance.models import KycProfile
from bankcrm.customers.models import Identifier, Party
from bankcrm.lending.models import BUCKET_RANK, DelinquencyChange, Loan
from tests.factories import OrgUnitFactory, UserFactory
from tests.factories.banking import (
    AccountFactory,
    AccountRoleFactory,
    FxRateFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import IdentifierFactory, PersonFactory, make_resident_id
from tests.factories.lending import LoanProductFactory

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 6, 30)
# Every account's customer booked on this day: within a year of any booking in June 2026,
# so that no account looks dormant unless the fixture says so.
REGULAR_DAY = dt.date(2025, 12, 1)


def book(account, day: dt.date, amount: str, kind: str = "transfer_out") -> None:
    TransactionFactory(account=account, booking_date=day, amount=Decimal(amount), kind=kind)


@dataclasses.dataclass
class EarlyWarningBank:
    bank: object
    people: dict
    loans: dict


@pytest.fixture
def warning_bank(bank):
    """Customers of branch A (portfolio A unless said otherwise) and of branch B, each
    built to make one signal fire or just miss it, as of 2026-06-30."""
    savings = ProductFactory(code="SAV", currency="CNY")
    usd = ProductFactory(code="SAV-USD", currency="USD")
    card = ProductFactory(
        code="CARD", currency="CNY", category=Product.Category.CREDIT_CARD, is_liability=True
    )
    FxRateFactory(currency="USD", rate_to_base=Decimal("7"), as_of=dt.date(2026, 1, 1))
    # After the as-of day: not used.
    FxRateFactory(currency="USD", rate_to_base=Decimal("1"), as_of=dt.date(2026, 9, 1))
    people: dict[str, Party] = {}

    def person(key, unit=bank.branch_a, portfolio=bank.portfolio_a, **extra):
        people[key] = PersonFactory(
            display_name=f"Test {key}", owning_unit=unit, portfolio=portfolio, **extra
        )
        return people[key]

    def account(key, balance, product=savings, regular=True, **extra):
        party = people[key]
        created = AccountFactory(
            owner=party,
            product=product,
            branch=party.owning_unit,
            balance=Decimal(balance),
            **extra,
        )
        if regular:
            book(created, REGULAR_DAY, "1", kind="transfer_in")
        return created

    # --- Balance drop (30 days: balances at the end of 2026-05-31 and of 2026-06-30).
    # 100,000 → 49,000: down 51,000, 51 % (a booking after the as-of day is left out).
    person("drop51")
    drop51 = account("drop51", "54000")
    book(drop51, dt.date(2026, 6, 10), "-51000")
    book(drop51, dt.date(2026, 7, 5), "5000", kind="transfer_in")
    book(drop51, dt.date(2026, 5, 31), "-7000")  # the day the window starts from
    # 100,000 → 51,000: 49 %, a near miss; a credit card's spending is not a deposit's.
    person("drop49")
    book(account("drop49", "51000"), dt.date(2026, 6, 10), "-49000")
    book(account("drop49", "-60000", product=card), dt.date(2026, 6, 12), "-60000")
    # 10,000 → 4,000: 60 % but only 6,000 (the amount is "more than 10,000").
    person("small")
    book(account("small", "4000"), dt.date(2026, 6, 15), "-6000")
    # 100,000 CNY untouched and 3,000 → 1,000 USD: the USD drop (66.7 %, 2,000 USD =
    # 14,000 CNY) fires alone; added together the balances fell by 1.9 % only.
    person("dollars")
    account("dollars", "100000")
    book(account("dollars", "1000", product=usd), dt.date(2026, 6, 15), "-2000")
    # A signatory on drop51's account does not hold its money.
    AccountRoleFactory(account=drop51, party=people["small"], role=AccountRole.Role.SIGNATORY)
    # 20,000 → 0 on an account with a joint owner: a drop for both holders.
    person("joint")
    joint = account("joint", "0")
    book(joint, dt.date(2026, 6, 20), "-20000")
    person("joint_holder")
    AccountRoleFactory(account=joint, party=people["joint_holder"])

    # --- Large outflows (7 days: after 2026-06-23; 100,000, or 50 % of the balance then).
    # 150,000 out of 550,000: above the amount.
    person("out_amount")
    book(account("out_amount", "400000"), dt.date(2026, 6, 25), "-150000")
    # 11,000 out of 20,000 (55 %); a credit on 06-05 keeps the 30-day balance rising.
    person("out_share")
    out_share = account("out_share", "9000")
    book(out_share, dt.date(2026, 6, 5), "15000", kind="transfer_in")
    book(out_share, dt.date(2026, 6, 28), "-11000")
    # 9,900 out of 20,500 (48.3 %): a near miss; the fee is not an outflow.
    person("out_49")
    out_49 = account("out_49", "10100")
    book(out_49, dt.date(2026, 6, 1), "5000", kind="transfer_in")
    book(out_49, dt.date(2026, 6, 27), "-9900")
    book(out_49, dt.date(2026, 6, 29), "-500", kind="fee")
    # 99,000 out of 1,099,000: below both.
    person("out_small")
    book(account("out_small", "1000000"), dt.date(2026, 6, 26), "-99000")

    # --- Salary stopped (35 days: after 2026-05-26; months February to April 2026).
    person("salary_stopped")
    salary = account("salary_stopped", "30000")
    for day in (dt.date(2026, 2, 10), dt.date(2026, 3, 10), dt.date(2026, 4, 10)):
        book(salary, day, "8000", kind="salary")
    book(salary, dt.date(2026, 5, 10), "8000", kind="salary")  # before the last 35 days
    person("salary_paid")  # paid again on 06-10
    salary_paid = account("salary_paid", "30000")
    for day in (dt.date(2026, 2, 10), dt.date(2026, 3, 10), dt.date(2026, 4, 10)):
        book(salary_paid, day, "8000", kind="salary")
    book(salary_paid, dt.date(2026, 6, 10), "8000", kind="salary")
    person("salary_gap")  # no salary in March
    salary_gap = account("salary_gap", "30000")
    for day in (dt.date(2026, 2, 10), dt.date(2026, 4, 10)):
        book(salary_gap, day, "8000", kind="salary")

    # --- Dormant account reactivated (30 days; dormant 365 days).
    person("dormant")  # 2025-05-01 → 2026-06-15: 410 days
    dormant = account("dormant", "10000", regular=False)
    book(dormant, dt.date(2025, 5, 1), "-50", kind="card_payment")
    book(dormant, dt.date(2025, 12, 31), "3", kind="interest")  # booked by the bank
    book(dormant, dt.date(2026, 6, 15), "-100", kind="card_payment")
    person("dormant_360")  # 2025-06-20 → 2026-06-15: 360 days, a near miss
    dormant_360 = account("dormant_360", "10000", regular=False)
    book(dormant_360, dt.date(2025, 6, 20), "-50", kind="card_payment")
    book(dormant_360, dt.date(2026, 6, 15), "-100", kind="card_payment")
    person("never_used")  # opened 2024-01-15, first booking 2026-06-20: 887 days
    never_used = account("never_used", "10000", regular=False, opened_on=dt.date(2024, 1, 15))
    book(never_used, dt.date(2026, 6, 20), "-100", kind="card_payment")
    person("new_account")  # opened 2026-03-01: 111 days
    new_account = account("new_account", "10000", regular=False, opened_on=dt.date(2026, 3, 1))
    book(new_account, dt.date(2026, 6, 20), "-100", kind="card_payment")

    # --- Delinquency migration (30 days: after 2026-05-31).
    loans: dict[str, Loan] = {}
    product = LoanProductFactory()

    def loan(key, bucket, changes, status=Loan.Status.PERFORMING, dpd=0, arrears="0"):
        party = person(key)
        repayment = account(key, "10000")
        loans[key] = Loan.objects.create(
            reference=f"LN-{key}",
            product=product,
            borrower=party,
            account=repayment,
            branch=party.owning_unit,
            principal=Decimal("100000"),
            currency="CNY",
            annual_rate=Decimal("6"),
            term_months=24,
            method="annuity",
            day_count="30360",
            disbursed_on=dt.date(2025, 1, 1),
            maturity_date=dt.date(2027, 1, 1),
            outstanding_principal=Decimal("60000"),
            arrears=Decimal(arrears),
            days_past_due=dpd,
            bucket=bucket,
            status=status,
        )
        for day, from_bucket, to_bucket in changes:
            DelinquencyChange.objects.create(
                loan=loans[key],
                as_of=day,
                from_bucket=from_bucket,
                to_bucket=to_bucket,
                days_past_due=dpd,
                is_deterioration=BUCKET_RANK[to_bucket] > BUCKET_RANK[from_bucket],
            )

    # current → 1-30 → 31-60 in June, still 31-60.
    loan(
        "worse",
        "31-60",
        [(dt.date(2026, 6, 5), "current", "1-30"), (dt.date(2026, 6, 25), "1-30", "31-60")],
        dpd=40,
        arrears="2000",
    )
    # Moved worse in May (before the window), better in June.
    loan(
        "better",
        "current",
        [(dt.date(2026, 5, 20), "current", "1-30"), (dt.date(2026, 6, 10), "1-30", "current")],
    )
    # Worse in June, cured since.
    loan(
        "cured",
        "current",
        [(dt.date(2026, 6, 5), "current", "1-30"), (dt.date(2026, 6, 20), "1-30", "current")],
    )
    # Worse in June but closed.
    loan(
        "closed_loan",
        "1-30",
        [(dt.date(2026, 6, 5), "current", "1-30")],
        status=Loan.Status.CLOSED,
    )

    # --- KYC reviews and identity documents (due within 30 days: on or before 2026-07-30).
    KycProfile.objects.create(party=person("review_due"), next_review_on=dt.date(2026, 7, 30))
    KycProfile.objects.create(party=person("review_later"), next_review_on=dt.date(2026, 7, 31))
    KycProfile.objects.create(
        party=person("review_overdue"), next_review_on=dt.date(2026, 5, 1), risk_band="high"
    )
    IdentifierFactory(
        party=people["review_due"],
        type=Identifier.Type.PASSPORT,
        number="E12345678",
        expires_on=dt.date(2026, 7, 15),
    )
    person("renewed")  # the expired card was renewed
    IdentifierFactory(
        party=people["renewed"],
        number=make_resident_id(dt.date(1980, 1, 1), sequence=11),
        issued_on=dt.date(2006, 3, 1),
        expires_on=dt.date(2026, 3, 1),
    )
    IdentifierFactory(
        party=people["renewed"],
        number=make_resident_id(dt.date(1980, 1, 1), sequence=13),
        issued_on=dt.date(2026, 2, 1),
        expires_on=dt.date(2046, 2, 1),
    )
    person("id_later")  # expires 2026-08-15
    IdentifierFactory(
        party=people["id_later"],
        number=make_resident_id(dt.date(1981, 1, 1), sequence=15),
        expires_on=dt.date(2026, 8, 15),
    )
    IdentifierFactory(  # a tax number is not an identity document that lapses
        party=people["review_overdue"],
        type=Identifier.Type.TAX_ID,
        number="91110000MA0000001X",
        expires_on=dt.date(2026, 7, 1),
    )

    # --- Scope: branch A outside portfolio A, branch B, and a closed customer.
    person("no_portfolio", portfolio=None)
    book(account("no_portfolio", "0"), dt.date(2026, 6, 20), "-30000")
    person("branch_b", unit=bank.branch_b, portfolio=bank.portfolio_b)
    book(account("branch_b", "0"), dt.date(2026, 6, 20), "-30000")
    KycProfile.objects.create(party=people["branch_b"], next_review_on=dt.date(2026, 7, 1))
    person("closed", status=Party.Status.CLOSED)
    book(account("closed", "0"), dt.date(2026, 6, 20), "-30000")
    party_activity_rebuild()
    return EarlyWarningBank(bank, people, loans)


def customers(rows) -> dict[str, list[str]]:
    """The customers' keys of the rows, per signal."""
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.signal, []).append(row.party_pk)
    return found


def keys(bank: EarlyWarningBank, *names: str) -> list[str]:
    return [str(bank.people[name].pk) for name in names]


THRESHOLDS = default_thresholds(AS_OF)


def test_each_signal_fires_for_exactly_the_expected_customers(warning_bank):
    report = early_warning_report(
        actor=warning_bank.bank.manager_a, thresholds=THRESHOLDS, page_size=100
    )
    expected = {
        "balance_drop": ["drop51", "dollars", "joint", "joint_holder", "no_portfolio"],
        "salary_stopped": ["salary_stopped"],
        "large_outflow": ["out_amount", "out_share"],
        "dormant_reactivated": ["dormant", "never_used"],
        "delinquency_migration": ["worse"],
        "kyc_review_due": ["review_overdue", "review_due"],
        "document_expiring": ["review_due"],
    }
    assert report.counts == {code: len(names) for code, names in expected.items()}
    found = customers(report.rows)
    assert {code: sorted(found.get(code, [])) for code in SIGNAL_CODES} == {
        code: sorted(keys(warning_bank, *names)) for code, names in expected.items()
    }
    # Signal order, then each signal's own order (due dates: the earliest first).
    assert [row.signal for row in report.rows] == [
        code for code in SIGNAL_CODES for _name in expected[code]
    ]
    assert [row.party_pk for row in report.rows if row.signal == "kyc_review_due"] == keys(
        warning_bank, "review_overdue", "review_due"
    )
    assert report.total == 14 and report.pages == 1


def test_the_observed_figures_equal_the_hand_computed_ones(warning_bank):
    report = early_warning_report(
        actor=warning_bank.bank.manager_a, thresholds=THRESHOLDS, page_size=100
    )
    rows = {(row.signal, row.customer): row for row in report.rows}

    def row(signal, name):
        return rows[(signal, mask_name(name))]

    drop = row("balance_drop", "drop51")
    assert (drop.currency, drop.before, drop.after, drop.amount, drop.percent) == (
        "CNY",
        Decimal("100000.00"),
        Decimal("49000.00"),
        Decimal("51000.00"),
        Decimal("51.0"),
    )
    assert drop.observed_on == AS_OF and drop.figures == {"balance_on": dt.date(2026, 5, 31)}
    assert drop.observation == (
        "CNY 100,000.00 → CNY 49,000.00 in 30 days: down CNY 51,000.00 (51.0%)"
    )
    assert drop.relationship_manager == "Test " + warning_bank.bank.rm_a.last_name
    assert drop.branch == "Branch A"
    dollars = row("balance_drop", "dollars")
    assert (dollars.currency, dollars.before, dollars.after, dollars.percent) == (
        "USD",
        Decimal("3000.00"),
        Decimal("1000.00"),
        Decimal("66.7"),
    )
    assert row("balance_drop", "no_portfolio").relationship_manager == ""

    big = row("large_outflow", "out_amount")
    assert (big.amount, big.before, big.after, big.percent, big.observed_on) == (
        Decimal("150000.00"),
        Decimal("550000.00"),
        Decimal("400000.00"),
        Decimal("27.3"),
        dt.date(2026, 6, 25),
    )
    share = row("large_outflow", "out_share")
    assert share.observation == "CNY 11,000.00 out in 7 days, 55.0% of a balance of CNY 20,000.00"
    assert (share.amount, share.before, share.percent, share.observed_on) == (
        Decimal("11000.00"),
        Decimal("20000.00"),
        Decimal("55.0"),
        dt.date(2026, 6, 28),
    )

    salary = row("salary_stopped", "salary_stopped")
    assert (salary.amount, salary.currency, salary.figures) == (
        Decimal("8000.00"),
        "CNY",
        {"last_salary_on": dt.date(2026, 5, 10), "salary_credits": 3},
    )
    assert salary.observation == (
        "Salary in each of the 3 months to 2026-04-30 (on average CNY 8,000.00 a month), "
        "the last on 2026-05-10; none in the last 35 days"
    )

    dormant = row("dormant_reactivated", "dormant")
    assert dormant.observed_on == dt.date(2026, 6, 15)
    assert dormant.figures == {"previous_on": dt.date(2025, 5, 1), "gap_days": 410}
    assert dormant.reference.startswith("**** ")
    never = row("dormant_reactivated", "never_used")
    assert never.figures == {"previous_on": None, "gap_days": 887}

    loan = row("delinquency_migration", "worse")
    assert (loan.reference, loan.observed_on, loan.amount, loan.currency) == (
        "LN-worse",
        dt.date(2026, 6, 25),
        Decimal("2000.00"),
        "CNY",
    )
    assert loan.observation == (
        "Loan LN-worse moved from Current to 31–60 days past due: 40 days past due, "
        "CNY 2,000.00 overdue"
    )
    assert loan.figures == {
        "from_bucket": "current",
        "to_bucket": "31-60",
        "days_past_due": 40,
        "outstanding": Decimal("60000.00"),
    }

    overdue = row("kyc_review_due", "review_overdue")
    assert overdue.observed_on == dt.date(2026, 5, 1)
    assert overdue.figures["days_to_due"] == -60
    assert overdue.observation == "KYC review overdue since 2026-05-01 (risk: High)"
    due = row("kyc_review_due", "review_due")
    assert due.figures["days_to_due"] == 30
    document = row("document_expiring", "review_due")
    assert (document.reference, document.observed_on, document.figures) == (
        "Passport",
        dt.date(2026, 7, 15),
        {"days_to_expiry": 15},
    )


def mask_name(key: str) -> str:
    from bankcrm.core.masking import mask

    return mask(f"Test {key}", "name")


def test_the_thresholds_move_the_near_misses_in(warning_bank):
    manager = warning_bank.bank.manager_a
    looser = dataclasses.replace(
        THRESHOLDS,
        drop_percent=45,
        drop_amount=Decimal("5000"),
        outflow_percent=45,
        dormant_months=11,  # 336 days: the 360-day gap counts
        window_days=60,  # the move into 1-30 in May now counts as well
        due_days=31,
    )
    report = early_warning_report(actor=manager, thresholds=looser, page_size=200)
    found = {code: set(pks) for code, pks in customers(report.rows).items()}
    # 49 % and 60 % (6,000) now drop; out_49 and out_share 30-day figures are rises or
    # below 45 % over 60 days: none of them.
    assert set(keys(warning_bank, "drop49", "small")) <= found["balance_drop"]
    assert set(keys(warning_bank, "out_49")) <= found["large_outflow"]
    assert set(keys(warning_bank, "dormant_360")) <= found["dormant_reactivated"]
    assert set(keys(warning_bank, "review_later")) <= found["kyc_review_due"]
    # "better" went into 1-30 on 05-20 and came back: still no worse than it left.
    assert found["delinquency_migration"] == set(keys(warning_bank, "worse"))


def test_salary_months_are_the_calendar_months_before_the_last_weeks():
    assert salary_months(THRESHOLDS) == [
        (dt.date(2026, 2, 1), dt.date(2026, 3, 1)),
        (dt.date(2026, 3, 1), dt.date(2026, 4, 1)),
        (dt.date(2026, 4, 1), dt.date(2026, 5, 1)),
    ]
    # The last 35 days from 2026-01-04 begin on 2025-12-01: September to November.
    january = dataclasses.replace(THRESHOLDS, as_of=dt.date(2026, 1, 4))
    assert salary_months(january)[0] == (dt.date(2025, 9, 1), dt.date(2025, 10, 1))


def test_a_relationship_manager_sees_their_portfolio_only(warning_bank):
    report = early_warning_report(
        actor=warning_bank.bank.rm_a, thresholds=THRESHOLDS, page_size=100
    )
    found = customers(report.rows)
    assert sorted(found["balance_drop"]) == sorted(
        keys(warning_bank, "drop51", "dollars", "joint", "joint_holder")
    )
    assert report.counts == {
        "balance_drop": 4,
        "salary_stopped": 1,
        "large_outflow": 2,
        "dormant_reactivated": 2,
        "delinquency_migration": 1,
        "kyc_review_due": 2,
        "document_expiring": 1,
    }
    assert report.unavailable == []
    # Credit analysts do not read KYC profiles (compliance.view_kycprofile): that signal
    # is left out, not shown empty.
    analyst = early_warning_report(actor=warning_bank.bank.analyst, thresholds=THRESHOLDS)
    assert analyst.counts["kyc_review_due"] is None
    assert analyst.unavailable == ["KYC review due"]


def test_a_branch_manager_never_sees_another_branchs_rows(warning_bank):
    bank = warning_bank.bank
    manager_b = UserFactory(
        username="manager_b",
        org_unit=bank.branch_b,
        roles=[Role.objects.get(code="branch_manager")],
    )
    report = early_warning_report(actor=manager_b, thresholds=THRESHOLDS, page_size=100)
    assert {row.party_pk for row in report.rows} == set(keys(warning_bank, "branch_b"))
    assert report.counts == {
        "balance_drop": 1,
        "salary_stopped": 0,
        "large_outflow": 0,
        "dormant_reactivated": 0,
        "delinquency_migration": 0,
        "kyc_review_due": 1,
        "document_expiring": 0,
    }
    listed = early_warning_list(actor=bank.manager_a, thresholds=THRESHOLDS)
    assert str(warning_bank.people["branch_b"].pk) not in {row.party_pk for row in listed.rows}
    # Bank-wide, the closed customer is still left out.
    everyone = early_warning_report(actor=bank.analyst, thresholds=THRESHOLDS, page_size=100)
    drops = customers(everyone.rows)["balance_drop"]
    assert sorted(drops) == sorted(
        keys(warning_bank, "drop51", "dollars", "joint", "joint_holder", "no_portfolio", "branch_b")
    )


def test_a_unit_narrows_the_report_to_its_subtree(warning_bank):
    bank = warning_bank.bank
    assert [unit.code for unit in early_warning_units(actor=bank.analyst)] == ["BRA", "BRB"]
    assert [unit.code for unit in early_warning_units(actor=bank.manager_a)] == ["BRA"]
    assert early_warning_units(actor=bank.rm_a) == []
    report = early_warning_report(
        actor=bank.analyst, thresholds=THRESHOLDS, unit=bank.branch_b, page_size=100
    )
    assert {row.party_pk for row in report.rows} == set(keys(warning_bank, "branch_b"))


def test_pages_cut_across_signals_in_order(warning_bank):
    manager = warning_bank.bank.manager_a
    whole = early_warning_report(actor=manager, thresholds=THRESHOLDS, page_size=100).rows
    pages = [
        early_warning_report(actor=manager, thresholds=THRESHOLDS, page=n, page_size=4).rows
        for n in (1, 2, 3, 4)
    ]
    assert [len(page) for page in pages] == [4, 4, 4, 2]
    assert [row.as_dict() for page in pages for row in page] == [row.as_dict() for row in whole]
    only = early_warning_report(
        actor=manager, thresholds=THRESHOLDS, signal="large_outflow", page_size=1, page=2
    )
    assert only.total == 2 and [row.customer for row in only.rows] == [mask_name("out_amount")]


def test_each_signal_is_one_statement_and_the_list_reads_them_lazily(warning_bank):
    manager = warning_bank.bank.manager_a
    early_warning_report(actor=manager, thresholds=THRESHOLDS)  # warm the caches
    with CaptureQueriesContext(connection) as queries:
        report = early_warning_report(actor=manager, thresholds=THRESHOLDS, page_size=100)
    # The nightly run (none here), the exchange rates, then one statement per signal: its
    # page of rows with its count.
    assert len(queries.captured_queries) == 1 + 1 + 7
    assert report.total == 14
    with CaptureQueriesContext(connection) as queries:
        listed = early_warning_list(actor=manager, thresholds=THRESHOLDS, signal="salary_stopped")
        assert len(queries.captured_queries) == 2
        assert [row.customer for row in listed.rows] == [mask_name("salary_stopped")]
        assert len(queries.captured_queries) == 3


def test_the_dashboard_reads_the_nearest_warnings(warning_bank):
    rows = early_warning_signals(actor=warning_bank.bank.rm_a, limit=3, as_of=AS_OF)
    # Balance drops and salary are observed on the as-of day itself (0 days away).
    assert [row.signal for row in rows] == ["balance_drop", "balance_drop", "balance_drop"]
    rows = early_warning_signals(actor=warning_bank.bank.rm_a, limit=50, as_of=AS_OF)
    assert len(rows) == 4 + 1 + 2 + 2 + 1 + 2 + 1
    distances = [abs((row.observed_on - AS_OF).days) for row in rows]
    assert distances == sorted(distances)


def test_thresholds_outside_their_bounds_are_named():
    bad = dataclasses.replace(THRESHOLDS, drop_percent=0, outflow_days=60)
    with pytest.raises(ValidationError) as error:
        thresholds_check(bad)
    assert set(error.value.message_dict) == {"drop_percent", "outflow_days"}
    with pytest.raises(ValidationError) as error:
        early_warning_report(actor=None, thresholds=THRESHOLDS, signal="nope")
    assert "signal" in error.value.message_dict


def test_a_viewer_without_permissions_gets_nothing(warning_bank):
    teller = UserFactory(username="teller", org_unit=OrgUnitFactory())
    report = early_warning_report(actor=teller, thresholds=THRESHOLDS)
    assert report.counts == dict.fromkeys(SIGNAL_CODES) and report.rows == []
