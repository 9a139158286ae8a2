"""The product holding and channel usage report on a small hand-computed fixture: holdings
per category and currency (joint holders, a signatory, a closed account, one closed after
the as-of day, one opened after it, one closed without a day, two currencies, bookings after
the as-of day), products per customer, the cross-holding matrix, the channel usage
(every channel, a booking before and after the period, bank-system and unrecorded
bookings, digital only and branch only), the customers behind every figure, the viewer's
scope (branch manager, relationship manager, bank-wide, no transactions, no accounts) and
bad filters.

The fixture (as of 2024-06-30, channel usage 2024-04-01 – 2024-06-30):

Branch A — 王小明 (W, portfolio A): current CNY 1,000 (+500 booked 2024-07-05, so 500 on
the as-of day), savings CNY 5,000 held jointly with A1, savings USD 200.
A1 "Alpha One" (portfolio A, affluent): current CNY 3,000 (A3 its signatory), loan CNY
50,000, credit card CNY 1,500 — and joint owner of W's savings.
A2 "Alpha Two": a current account closed 2024-05-15, a term deposit opened 2024-07-10, a
savings account closed 2024-08-01 (balance 0 today, −300 booked 2024-07-20: 300 then).
A3 "Alpha Three" (dormant): savings CNY 800, a savings account closed without a day, and a
term deposit CNY 20,000 at branch B. A6 "Alpha Six": no account. A4 (closed customer, an
open current account) and A5 (a prospect) are not customers in scope.
Branch B — 李大伟 (portfolio B): current CNY 7,000.

Bookings in the period: W's savings branch +1,000; W's current mobile −100 and −50, card −30
(branch −999 the day before the period, online +500 after it); W's USD savings online +20;
A1's current ATM −200 and bank system +1.50 (interest, on the period's last day); A2's
savings branch −400 and bank transfer +100; A3's savings mobile −250 and unrecorded −10;
A3's branch-B term deposit branch +5,000; 李大伟's current online −70; A4's mobile −10.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access.models import Role
from bankcrm.analytics.selectors_product_holding import (
    product_holding_customer_list,
    product_holding_report,
)
from bankcrm.banking.models import AccountRole, Product
from bankcrm.customers.models import Party
from tests.factories import RoleFactory, UserFactory
from tests.factories.banking import (
    AccountFactory,
    AccountRoleFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2024, 6, 30)
PERIOD = {"period_from": dt.date(2024, 4, 1), "period_to": dt.date(2024, 6, 30)}
WINDOW = {"as_of": AS_OF, **PERIOD}
FILTERS = {"as_of": "2024-06-30", "period_from": "2024-04-01", "period_to": "2024-06-30"}

# Masked as lists show names.
W, A1, A2, A3, A6, LI = "王**", "A*** One", "A*** Two", "A*** Three", "A*** Six", "李**"


@pytest.fixture
def executive(bank):
    return UserFactory(
        username="executive", org_unit=bank.head_office, roles=[Role.objects.get(code="executive")]
    )


@pytest.fixture
def manager_b(bank):
    return UserFactory(
        username="manager_b",
        org_unit=bank.branch_b,
        roles=[Role.objects.get(code="branch_manager")],
    )


@pytest.fixture
def accounts_reader(bank):
    """Reads customers and their accounts in branch A, but no transactions."""
    role = RoleFactory(
        code="accounts_reader",
        permissions=["customers.view_party", "banking.view_account", "analytics.view_report"],
    )
    return UserFactory(username="accounts_reader", org_unit=bank.branch_a, roles=[role])


@pytest.fixture
def marketer(bank):
    return UserFactory(
        username="marketer",
        org_unit=bank.branch_a,
        roles=[Role.objects.get(code="marketing_manager")],
    )


@pytest.fixture
def holdings(bank):
    """The customers, accounts and bookings of the module docstring."""
    a, b = bank.branch_a, bank.branch_b

    def product(code, category, currency="CNY", *, is_liability=False):
        return ProductFactory(
            code=code, category=category, currency=currency, is_liability=is_liability
        )

    current = product("CUR", Product.Category.CURRENT)
    savings = product("SAV", Product.Category.SAVINGS)
    savings_usd = product("SAVUSD", Product.Category.SAVINGS, "USD")
    deposit = product("TD", Product.Category.TERM_DEPOSIT)
    loan = product("LOAN", Product.Category.LOAN, is_liability=True)
    card = product("CARD", Product.Category.CREDIT_CARD, is_liability=True)

    def person(name, unit=a, **values):
        return PersonFactory(display_name=name, owning_unit=unit, **values)

    people = {
        "W": bank.customer_a,
        "A1": person("Alpha One", portfolio=bank.portfolio_a, segment=Party.Segment.AFFLUENT),
        "A2": person("Alpha Two"),
        "A3": person("Alpha Three", status=Party.Status.DORMANT),
        "A4": person("Alpha Four", status=Party.Status.CLOSED),
        "A5": person("Alpha Five", status=Party.Status.PROSPECT),
        "A6": person("Alpha Six"),
        "LI": bank.customer_b,
    }

    def account(owner, item, balance, branch=a, **values):
        return AccountFactory(
            owner=people[owner], product=item, branch=branch, balance=Decimal(balance), **values
        )

    acc = {
        "W-cur": account("W", current, "1000"),
        "W-sav": account("W", savings, "5000"),
        "W-usd": account("W", savings_usd, "200"),
        "A1-cur": account("A1", current, "3000"),
        "A1-loan": account("A1", loan, "50000"),
        "A1-card": account("A1", card, "1500"),
        "A2-cur": account("A2", current, "0", closed_on=dt.date(2024, 5, 15), status="closed"),
        "A2-td": account("A2", deposit, "9000", opened_on=dt.date(2024, 7, 10)),
        "A2-sav": account("A2", savings, "0", closed_on=dt.date(2024, 8, 1), status="closed"),
        "A3-sav": account("A3", savings, "800"),
        "A3-lost": account("A3", savings, "0", status="closed"),
        "A3-td": account("A3", deposit, "20000", branch=b),
        "A4-cur": account("A4", current, "400"),
        "LI-cur": account("LI", current, "7000", branch=b),
    }
    AccountRoleFactory(account=acc["W-sav"], party=people["A1"])
    AccountRoleFactory(account=acc["A1-cur"], party=people["A3"], role=AccountRole.Role.SIGNATORY)

    def booking(name, day, amount, channel, kind="other"):
        TransactionFactory(
            account=acc[name],
            booking_date=dt.date(*day),
            amount=Decimal(amount),
            channel=channel,
            kind=kind,
        )

    booking("W-sav", (2024, 5, 20), "1000", "branch", "cash_deposit")
    booking("W-cur", (2024, 4, 10), "-100", "mobile", "transfer_out")
    booking("W-cur", (2024, 5, 2), "-50", "mobile", "transfer_out")
    booking("W-cur", (2024, 6, 1), "-30", "card", "card_payment")
    booking("W-cur", (2024, 3, 31), "-999", "branch", "cash_withdrawal")
    booking("W-cur", (2024, 7, 5), "500", "online", "transfer_in")
    booking("W-usd", (2024, 6, 15), "20", "online", "transfer_in")
    booking("A1-cur", (2024, 4, 15), "-200", "atm", "cash_withdrawal")
    booking("A1-cur", (2024, 6, 30), "1.50", "system", "interest")
    booking("A2-sav", (2024, 5, 5), "-400", "branch", "cash_withdrawal")
    booking("A2-sav", (2024, 6, 3), "100", "transfer", "transfer_in")
    booking("A2-sav", (2024, 7, 20), "-300", "branch", "cash_withdrawal")
    booking("A3-sav", (2024, 4, 20), "-250", "mobile", "transfer_out")
    booking("A3-sav", (2024, 6, 10), "-10", "")
    booking("A3-td", (2024, 5, 1), "5000", "branch", "cash_deposit")
    booking("LI-cur", (2024, 6, 20), "-70", "online", "transfer_out")
    booking("A4-cur", (2024, 5, 1), "-10", "mobile", "transfer_out")
    return people


def lines(report) -> list[tuple]:
    return [
        (
            line.category,
            line.currency,
            line.accounts,
            line.holders,
            line.balance,
            line.average_balance,
        )
        for line in report.holdings.lines
    ]


def buckets(part) -> list[int]:
    return [bucket.customers for bucket in part.buckets]


def matrix(report) -> dict[tuple[str, str], int]:
    """The non-zero cells of the cross-holding matrix."""
    return {
        (cell.category, cell.other): cell.customers
        for row in report.holdings.matrix
        for cell in row.cells
        if cell.customers
    }


def channels(report) -> dict[str, tuple]:
    return {
        line.channel: (
            line.customers,
            [
                (item.currency, item.customers, item.bookings, item.money_in, item.money_out)
                for item in line.currencies
            ],
        )
        for line in report.channels.lines
    }


def names(actor, kind, **figure) -> set[str]:
    rows = product_holding_customer_list(actor=actor, kind=kind, **WINDOW, **figure)
    return {row.display_name for row in rows}


def money(text: str) -> Decimal:
    return Decimal(text)


# --------------------------------------------------------------------------- holdings


def test_a_branch_managers_holdings_per_category_and_currency(bank, holdings):
    report = product_holding_report(actor=bank.manager_a, **WINDOW)
    assert report.customers == 5  # W, A1, A2, A3, A6 (not the closed A4, the prospect A5)
    assert lines(report) == [
        # W's current is 500 on the as-of day (+500 booked after it); A1's and A3's.
        ("current", "CNY", 2, 2, money("3500.00"), money("1750.00")),
        # W's (joint with A1), A3's, A2's (closed after the as-of day: 300 then).
        ("savings", "CNY", 3, 4, money("6100.00"), money("1525.00")),
        ("savings", "USD", 1, 1, money("200.00"), money("200.00")),
        ("loan", "CNY", 1, 1, money("50000.00"), money("50000.00")),
        ("credit_card", "CNY", 1, 1, money("1500.00"), money("1500.00")),
    ]


def test_products_per_customer_and_the_cross_holding_matrix(bank, holdings):
    report = product_holding_report(actor=bank.manager_a, **WINDOW)
    # A6 holds none; A2 and A3 savings; W current and savings; A1 four categories.
    assert buckets(report.holdings) == [1, 2, 1, 0, 1]
    assert [bucket.share for bucket in report.holdings.buckets] == [0.2, 0.4, 0.2, 0.0, 0.2]
    assert [bucket.label for bucket in report.holdings.buckets] == ["0", "1", "2", "3", "4+"]
    assert report.holdings.average_products == Decimal("1.60")
    # A1 holds current, savings, loan and credit card: the loan and card cells are A1's.
    a1_cells = {
        (first, second): 1
        for first in ("current", "savings", "loan", "credit_card")
        for second in ("current", "savings", "loan", "credit_card")
        if "loan" in (first, second) or "credit_card" in (first, second)
    }
    assert matrix(report) == {
        ("current", "current"): 2,
        ("current", "savings"): 2,
        ("savings", "current"): 2,
        ("savings", "savings"): 4,
        **a1_cells,
    }
    assert len(a1_cells) == 12


def test_bank_wide_holdings_add_both_branches_and_keep_currencies_apart(executive, holdings):
    report = product_holding_report(actor=executive, **WINDOW)
    assert report.customers == 6
    assert lines(report) == [
        ("current", "CNY", 3, 3, money("10500.00"), money("3500.00")),
        ("savings", "CNY", 3, 4, money("6100.00"), money("1525.00")),
        ("savings", "USD", 1, 1, money("200.00"), money("200.00")),
        ("term_deposit", "CNY", 1, 1, money("20000.00"), money("20000.00")),
        ("loan", "CNY", 1, 1, money("50000.00"), money("50000.00")),
        ("credit_card", "CNY", 1, 1, money("1500.00"), money("1500.00")),
    ]
    # A3 now also holds the branch-B term deposit; 李大伟 a current account.
    assert buckets(report.holdings) == [1, 2, 2, 0, 1]
    assert report.holdings.average_products == Decimal("1.67")


def test_the_as_of_day_moves_the_holdings(executive, holdings):
    # On 2024-05-01 A2's current account was still open; on 2024-07-15 the term deposit too.
    report = product_holding_report(actor=executive, as_of=dt.date(2024, 5, 1), **PERIOD)
    current = next(line for line in report.holdings.lines if line.category == "current")
    assert (current.accounts, current.holders) == (4, 4)
    report = product_holding_report(actor=executive, as_of=dt.date(2024, 7, 15), **PERIOD)
    deposit = next(line for line in report.holdings.lines if line.category == "term_deposit")
    assert (deposit.accounts, deposit.holders, deposit.balance) == (2, 2, money("29000.00"))
    # W's current: no booking after 07-15 any more (1000); A2's savings: 0 - (-300).
    current = next(line for line in report.holdings.lines if line.category == "current")
    assert current.balance == money("11000.00")


def test_filters_narrow_to_a_unit_and_a_segment(executive, bank, holdings):
    report = product_holding_report(actor=executive, unit=bank.branch_b, **WINDOW)
    assert report.customers == 1
    assert lines(report) == [("current", "CNY", 1, 1, money("7000.00"), money("7000.00"))]
    report = product_holding_report(actor=executive, segment="affluent", **WINDOW)
    assert report.customers == 1
    assert buckets(report.holdings) == [0, 0, 0, 0, 1]
    # W's savings is held by A1 too: with the affluent A1 alone, one holder.
    savings = next(line for line in report.holdings.lines if line.category == "savings")
    assert (savings.accounts, savings.holders, savings.balance) == (1, 1, money("5000.00"))


# --------------------------------------------------------------------------- channels


def test_a_branch_managers_channel_usage(bank, holdings):
    report = product_holding_report(actor=bank.manager_a, **WINDOW)
    usage = report.channels
    assert (usage.period_from, usage.period_to, usage.customers) == (
        dt.date(2024, 4, 1),
        dt.date(2024, 6, 30),
        5,
    )
    assert channels(report) == {
        "branch": (3, [("CNY", 3, 2, money("1000.00"), money("400.00"))]),
        "atm": (1, [("CNY", 1, 1, money("0.00"), money("200.00"))]),
        "card": (1, [("CNY", 1, 1, money("0.00"), money("30.00"))]),
        "online": (1, [("USD", 1, 1, money("20.00"), money("0.00"))]),
        "mobile": (2, [("CNY", 2, 3, money("0.00"), money("400.00"))]),
        "transfer": (1, [("CNY", 1, 1, money("100.00"), money("0.00"))]),
        "system": (1, [("CNY", 1, 1, money("1.50"), money("0.00"))]),
        "other": (0, []),
        "unrecorded": (1, [("CNY", 1, 1, money("0.00"), money("10.00"))]),
    }
    # A6 none; A3 mobile (and unrecorded); A1 branch and ATM (and the bank's interest);
    # A2 branch and transfer; W branch, card, online and mobile.
    assert buckets(usage) == [1, 1, 2, 1]
    assert [bucket.label for bucket in usage.buckets] == ["0", "1", "2", "3+"]
    assert (usage.digital_only, usage.branch_only) == (1, 1)
    assert (usage.digital_only_share, usage.branch_only_share) == (0.2, 0.2)


def test_bank_wide_channel_usage(executive, holdings):
    usage = product_holding_report(actor=executive, **WINDOW)
    found = channels(usage)
    assert found["branch"] == (4, [("CNY", 4, 3, money("6000.00"), money("400.00"))])
    assert found["online"] == (
        2,
        [
            ("CNY", 1, 1, money("0.00"), money("70.00")),
            ("USD", 1, 1, money("20.00"), money("0.00")),
        ],
    )
    # A3 used a branch now (branch B): no longer digital only; 李大伟 online only is.
    assert buckets(usage.channels) == [1, 1, 3, 1]
    assert (usage.channels.digital_only, usage.channels.branch_only) == (1, 1)
    assert names(executive, "digital_only") == {LI}


# --------------------------------------------------------------------------- the lists


def test_the_customers_behind_each_figure(bank, holdings):
    manager = bank.manager_a
    assert names(manager, "holding", category="savings", currency="CNY") == {W, A1, A2, A3}
    assert names(manager, "holding", category="savings", currency="USD") == {W}
    assert names(manager, "products", number=0) == {A6}
    assert names(manager, "products", number=1) == {A2, A3}
    assert names(manager, "products", number=4) == {A1}
    assert names(manager, "products") == {W, A1, A2, A3, A6}
    assert names(manager, "cross", category="current", other="savings") == {W, A1}
    assert names(manager, "cross", category="loan") == {A1}
    assert names(manager, "cross", category="wealth", other="loan") == set()
    assert names(manager, "channel", channel="branch") == {W, A1, A2}
    assert names(manager, "channel", channel="online", currency="USD") == {W}
    assert names(manager, "channel", channel="unrecorded") == {A3}
    assert names(manager, "channels", number=3) == {W}
    assert names(manager, "channels", number=0) == {A6}
    assert names(manager, "digital_only") == {A3}
    assert names(manager, "branch_only") == {A2}
    rows = product_holding_customer_list(actor=manager, kind="products", number=4, **WINDOW)
    assert [(row.display_name, row.categories_text, row.unit, row.segment) for row in rows] == [
        ("A*** One", "Current account, Savings account, Loan, Credit card", "Branch A", "Affluent")
    ]
    assert rows[0].party_pk == str(holdings["A1"].pk)
    rows = product_holding_customer_list(actor=manager, kind="branch_only", **WINDOW)
    assert [row.channels_text for row in rows] == ["Branch, Bank transfer"]
    # Ordered by name, masked; at most ``limit``.
    rows = product_holding_customer_list(actor=manager, kind="products", limit=2, **WINDOW)
    assert [row.display_name for row in rows] == [A1, "A*** Six"]


def test_every_list_holds_what_its_figure_counts(executive, bank, holdings):
    for actor in (bank.manager_a, executive, bank.rm_a):
        report = product_holding_report(actor=actor, **WINDOW)

        def count(kind, **figure):
            rows = product_holding_customer_list(
                actor=actor, kind=kind, limit=None, **WINDOW, **figure
            )
            assert len({row.party_pk for row in rows}) == len(rows)
            return len(rows)

        for line in report.holdings.lines:
            assert count("holding", category=line.category, currency=line.currency) == (
                line.holders
            )
        for bucket in report.holdings.buckets:
            assert count("products", number=bucket.number) == bucket.customers
        for row in report.holdings.matrix:
            for cell in row.cells:
                assert count("cross", category=cell.category, other=cell.other) == cell.customers
        for line in report.channels.lines:
            assert count("channel", channel=line.channel) == line.customers
            for item in line.currencies:
                assert count("channel", channel=line.channel, currency=item.currency) == (
                    item.customers
                )
        for bucket in report.channels.buckets:
            assert count("channels", number=bucket.number) == bucket.customers
        assert count("digital_only") == report.channels.digital_only
        assert count("branch_only") == report.channels.branch_only
        assert count("products") == count("channels") == report.customers


# --------------------------------------------------------------------------- scope


def test_a_branch_manager_never_sees_another_branch(bank, holdings, manager_b):
    report = product_holding_report(actor=bank.manager_a, **WINDOW)
    # A3's term deposit is at branch B: not among branch A's holdings nor its bookings.
    assert "term_deposit" not in {line.category for line in report.holdings.lines}
    assert channels(report)["branch"][1][0][1:3] == (3, 2)
    assert LI not in names(bank.manager_a, "products")
    report = product_holding_report(actor=manager_b, **WINDOW)
    # Branch B's manager: 李大伟 alone; A3's branch-B deposit belongs to a branch-A customer.
    assert report.customers == 1
    assert lines(report) == [("current", "CNY", 1, 1, money("7000.00"), money("7000.00"))]
    assert channels(report)["online"] == (1, [("CNY", 1, 1, money("0.00"), money("70.00"))])
    assert channels(report)["branch"] == (0, [])
    assert names(manager_b, "products") == {LI}


def test_a_relationship_manager_sees_their_portfolio_only(bank, holdings):
    report = product_holding_report(actor=bank.rm_a, **WINDOW)
    assert report.customers == 2  # W and A1
    assert lines(report) == [
        ("current", "CNY", 2, 2, money("3500.00"), money("1750.00")),
        # W's savings held with A1: A2's and A3's are outside the portfolio.
        ("savings", "CNY", 1, 2, money("5000.00"), money("2500.00")),
        ("savings", "USD", 1, 1, money("200.00"), money("200.00")),
        ("loan", "CNY", 1, 1, money("50000.00"), money("50000.00")),
        ("credit_card", "CNY", 1, 1, money("1500.00"), money("1500.00")),
    ]
    assert buckets(report.holdings) == [0, 0, 1, 0, 1]
    assert channels(report)["mobile"] == (1, [("CNY", 1, 2, money("0.00"), money("150.00"))])
    assert buckets(report.channels) == [0, 0, 1, 1]
    assert names(bank.rm_a, "products") == {W, A1}


def test_without_transactions_the_channel_part_is_left_out(accounts_reader, bank, holdings):
    report = product_holding_report(actor=accounts_reader, **WINDOW)
    assert report.channels is None
    assert report.customers == 5
    assert buckets(report.holdings) == [1, 2, 1, 0, 1]
    with pytest.raises(PermissionDenied):
        product_holding_customer_list(actor=accounts_reader, kind="digital_only", **WINDOW)
    assert names(accounts_reader, "products", number=0) == {A6}


def test_without_accounts_both_parts_are_left_out(marketer, holdings):
    report = product_holding_report(actor=marketer, **WINDOW)
    assert (report.customers, report.holdings, report.channels) == (5, None, None)
    with pytest.raises(PermissionDenied):
        product_holding_customer_list(actor=marketer, kind="products", **WINDOW)


def test_without_customers_there_is_nothing(bank, holdings):
    role = RoleFactory(code="reports_only", permissions=["analytics.view_report"])
    viewer = UserFactory(username="reports_only", org_unit=bank.branch_a, roles=[role])
    report = product_holding_report(actor=viewer, **WINDOW)
    assert (report.customers, report.holdings, report.channels) == (None, None, None)


# --------------------------------------------------------------------------- filters


def test_defaults_are_today_and_the_last_90_days(bank, holdings, monkeypatch):
    monkeypatch.setattr(
        "bankcrm.analytics.selectors_product_holding.bank_today", lambda: dt.date(2024, 6, 30)
    )
    report = product_holding_report(actor=bank.manager_a)
    assert (report.as_of, report.period_from, report.period_to) == (
        dt.date(2024, 6, 30),
        dt.date(2024, 4, 2),
        dt.date(2024, 6, 30),
    )
    # 2024-04-01 is outside the 90 days: W's mobile of 04-10 and A1's ATM of 04-15 are in.
    assert channels(report)["atm"][0] == 1


def test_bad_filters_name_the_filter(bank, holdings):
    today = dt.date.today()
    for arguments, name in (
        ({"as_of": today + dt.timedelta(days=400)}, "as_of"),
        ({"period_to": today + dt.timedelta(days=400)}, "period_to"),
        ({"period_from": dt.date(2024, 6, 1), "period_to": dt.date(2024, 5, 1)}, "period_from"),
        ({"period_from": dt.date(2023, 1, 1), "period_to": dt.date(2024, 6, 1)}, "period_from"),
        ({"segment": "vip"}, "segment"),
    ):
        with pytest.raises(ValidationError) as error:
            product_holding_report(actor=bank.manager_a, **arguments)
        assert name in error.value.message_dict
    for figure, name in (
        ({"kind": "nope"}, "kind"),
        ({"kind": "holding", "category": "savings"}, "currency"),
        ({"kind": "holding", "currency": "CNY"}, "category"),
        ({"kind": "cross", "category": "gold"}, "category"),
        ({"kind": "cross", "category": "loan", "other": "gold"}, "other"),
        ({"kind": "channel", "channel": "pigeon"}, "channel"),
        ({"kind": "channel", "channel": "atm", "currency": "usd"}, "currency"),
        ({"kind": "channels", "number": 4}, "number"),
        ({"kind": "products", "number": -1}, "number"),
    ):
        with pytest.raises(ValidationError) as error:
            product_holding_customer_list(actor=bank.manager_a, **WINDOW, **figure)
        assert name in error.value.message_dict


def test_each_part_is_one_statement(bank, holdings, django_assert_max_num_queries):
    product_holding_report(actor=bank.manager_a, **WINDOW)
    # The permission look-ups are cached after the first call: the two parts' statements.
    with django_assert_max_num_queries(2):
        product_holding_report(actor=bank.manager_a, **WINDOW)
    with django_assert_max_num_queries(1):
        product_holding_customer_list(actor=bank.manager_a, kind="products", **WINDOW)
