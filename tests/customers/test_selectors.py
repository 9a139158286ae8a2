"""Customer selectors: scope, the 360 summary and its query count, my portfolio."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from bankcrm.customers import selectors
from bankcrm.customers.models import Party
from tests.factories.banking import (
    AccountFactory,
    AccountMonthlyFlowFactory,
    AccountRoleFactory,
    FxRateFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import (
    ContactPointFactory,
    HouseholdFactory,
    InteractionFactory,
    PersonFactory,
    RelationshipFactory,
    TaskFactory,
)


def test_party_list_and_get_are_scoped(bank):
    assert list(selectors.party_list(actor=bank.rm_a)) == [bank.customer_a]
    assert list(selectors.party_list(actor=bank.manager_a)) == [bank.customer_a]
    assert set(selectors.party_list(actor=bank.analyst)) == {bank.customer_a, bank.customer_b}
    assert selectors.party_get(actor=bank.rm_a, pk=bank.customer_a.pk) == bank.customer_a
    with pytest.raises(Party.DoesNotExist):
        selectors.party_get(actor=bank.rm_a, pk=bank.customer_b.pk)
    with pytest.raises(Party.DoesNotExist):
        selectors.party_get(actor=bank.manager_a, pk=bank.customer_b.pk)


def test_find_by_contact_uses_the_blind_index_and_scope(bank):
    ContactPointFactory(party=bank.customer_a, value="+8613800138000")
    ContactPointFactory(party=bank.customer_b, value="+8613900139000")
    assert list(selectors.party_find_by_contact(actor=bank.rm_a, value="138 0013 8000")) == [
        bank.customer_a
    ]
    assert list(selectors.party_find_by_contact(actor=bank.rm_a, value="13900139000")) == []


def _rich_customer(bank):
    party = bank.customer_a
    household = HouseholdFactory(name="Wang family", owning_unit=bank.branch_a)
    spouse = PersonFactory(
        display_name="陈美丽", owning_unit=bank.branch_a, portfolio=bank.portfolio_a
    )
    Party.objects.filter(pk__in=[party.pk, spouse.pk]).update(household=household)
    party.refresh_from_db()
    savings = AccountFactory(owner=party, branch=bank.branch_a, balance=Decimal("10000"))
    usd = AccountFactory(
        owner=party,
        branch=bank.branch_a,
        product=ProductFactory(code="USD1", currency="USD"),
        balance=Decimal("100"),
    )
    loan = AccountFactory(
        owner=party,
        branch=bank.branch_a,
        product=ProductFactory(code="LN1", category="loan", is_liability=True),
        balance=Decimal("-50000"),
    )
    AccountFactory(owner=spouse, branch=bank.branch_a, balance=Decimal("2500"))
    FxRateFactory(currency="USD", rate_to_base=Decimal("7.0"), as_of=dt.date(2024, 1, 1))
    FxRateFactory(currency="USD", rate_to_base=Decimal("7.2"), as_of=dt.date(2024, 12, 1))
    for n in range(25):
        TransactionFactory(account=savings, booking_date=dt.date(2024, 6, 1) + dt.timedelta(n))
    this_month = timezone.localdate().replace(day=1)
    AccountMonthlyFlowFactory(account=savings, month=this_month, inflow=Decimal("800"))
    AccountMonthlyFlowFactory(
        account=usd, month=this_month, inflow=Decimal("10"), outflow=Decimal("0")
    )
    for _n in range(3):
        InteractionFactory(party=party, staff=bank.rm_a)
    TaskFactory(party=party, owner=bank.rm_a)
    TaskFactory(party=party, owner=bank.rm_a, status="done")
    RelationshipFactory(party_from=party, party_to=spouse, type="spouse")
    RelationshipFactory(party_from=party, party_to=bank.customer_b, type="guarantor")
    ContactPointFactory(party=party, value="+8613800138000", is_primary=True)
    return party, savings, usd, loan


def test_customer_360_summary(bank):
    party, savings, usd, loan = _rich_customer(bank)
    summary = selectors.customer_360(actor=bank.rm_a, pk=party.pk)
    assert summary.party == party
    assert summary.relationship_manager == bank.rm_a
    assert summary.primary_contacts == {"phone": "+86 138****8000"}
    assert {h.account.pk: h.balance_base for h in summary.holdings} == {
        savings.pk: Decimal("10000.00"),
        usd.pk: Decimal("720.00"),
        loan.pk: Decimal("-50000.00"),
    }
    assert summary.base_currency == "CNY"
    assert summary.total_assets_base == Decimal("10720.00")
    assert summary.total_liabilities_base == Decimal("50000.00")
    assert summary.missing_rates == []
    assert summary.household["name"] == "Wang family"
    assert [(m["display_name"], m["assets_base"]) for m in summary.household["members"]] == [
        ("王小明", Decimal("10720.00")),
        ("陈美丽", Decimal("2500.00")),
    ]
    assert summary.household["assets_base"] == Decimal("13220.00")
    assert len(summary.recent_transactions) == 20
    assert summary.recent_transactions[0].booking_date == dt.date(2024, 6, 25)
    assert summary.transactions_next_cursor is not None
    assert [(f["inflow"], f["outflow"]) for f in summary.monthly_flows] == [
        (Decimal("872.00"), Decimal("3000.00") + Decimal("0.00"))
    ]
    assert len(summary.recent_interactions) == 3
    assert [t.status for t in summary.open_tasks] == ["open"]
    by_type = {r["type"]: r for r in summary.relationships}
    assert by_type["spouse"]["other_name"] == "陈美丽"
    # A related customer of another branch is named masked and not linked.
    assert by_type["guarantor"]["other_pk"] is None
    assert by_type["guarantor"]["other_name"] == "李**"


def test_customer_360_query_count_is_pinned(bank, django_assert_num_queries):
    party, *_accounts = _rich_customer(bank)
    selectors.customer_360(actor=bank.rm_a, pk=party.pk)  # warms role and key caches
    # party, contacts, roles+accounts, household, fx rates, transactions, monthly flows,
    # interactions, tasks, relationships, visible related parties.
    with django_assert_num_queries(11):
        selectors.customer_360(actor=bank.rm_a, pk=party.pk)
    for n in range(10):
        extra = AccountFactory(owner=party, branch=bank.branch_a, number=f"9{n:015d}")
        TransactionFactory(account=extra)
        InteractionFactory(party=party, staff=bank.rm_a)
    with django_assert_num_queries(11):
        selectors.customer_360(actor=bank.rm_a, pk=party.pk)


def test_customer_360_of_another_branch_is_not_found(bank):
    with pytest.raises(Party.DoesNotExist):
        selectors.customer_360(actor=bank.rm_a, pk=bank.customer_b.pk)


def test_portfolio_customers_totals_contact_and_sorting(bank, django_assert_num_queries):
    party, *_accounts = _rich_customer(bank)
    quiet = PersonFactory(
        display_name="安静", owning_unit=bank.branch_a, portfolio=bank.portfolio_a
    )
    now = timezone.now()
    Party.objects.filter(pk=party.pk).update(last_contacted_at=now - dt.timedelta(days=2))
    Party.objects.filter(pk=quiet.pk).update(last_contacted_at=now - dt.timedelta(days=90))
    selectors.portfolio_customers(actor=bank.rm_a)  # warms the actor's role cache
    # The actor's portfolios, the count, the page's keys, the page's rows with balances.
    with django_assert_num_queries(4):
        page = selectors.portfolio_customers(actor=bank.rm_a, sort="-balance", now=now)
    names = [(p.display_name, p.total_balance, p.days_since_contact) for p in page.rows]
    assert names == [
        ("王小明", Decimal("10720.00"), 2),
        ("陈美丽", Decimal("2500.00"), None),
        ("安静", Decimal("0.00"), 90),
    ]
    assert page.total == 3
    stale = selectors.portfolio_customers(actor=bank.rm_a, not_contacted_days=30, now=now)
    assert [p.display_name for p in stale.rows] == ["安静", "陈美丽"]
    assert selectors.portfolio_customers(actor=bank.rm_b).total == 1
    assert AccountRoleFactory  # factories for every model are importable


def test_portfolio_pages_by_name_read_keys_then_rows(bank, django_assert_num_queries):
    """Deep pages cost the same queries as the first; rows keep the page's order and each
    carries its own balance (the balances are summed for the page's rows only)."""
    names = [f"客户{n:02d}" for n in range(12)]
    parties = [
        PersonFactory(display_name=name, owning_unit=bank.branch_a, portfolio=bank.portfolio_a)
        for name in reversed(names)
    ]
    for n, party in enumerate(parties):
        AccountFactory(owner=party, branch=bank.branch_a, balance=Decimal(100 * (n + 1)))
    # Another manager's customer sorting first is not on rm_a's pages.
    PersonFactory(display_name="客户", owning_unit=bank.branch_a, portfolio=bank.portfolio_b)
    selectors.portfolio_customers(actor=bank.rm_a)  # warms the actor's role cache
    expected = sorted([*names, bank.customer_a.display_name])
    seen = []
    for number in (1, 2, 3):
        with django_assert_num_queries(4):
            page = selectors.portfolio_customers(actor=bank.rm_a, page=number, page_size=5)
        assert page.total == 13
        assert page.pages == 3
        seen.extend(page.rows)
    assert [row.display_name for row in seen] == expected
    balances = {row.display_name: row.total_balance for row in seen}
    # parties[n] (named names[11 - n]) holds 100 * (n + 1).
    assert balances["客户00"] == Decimal("1200.00")
    assert balances["客户11"] == Decimal("100.00")
    assert balances[bank.customer_a.display_name] == Decimal("0.00")
    backwards = selectors.portfolio_customers(actor=bank.rm_a, sort="-name", page=1, page_size=3)
    assert [row.display_name for row in backwards.rows] == expected[::-1][:3]


def test_portfolio_of_someone_managing_nothing_is_empty(bank, django_assert_num_queries):
    selectors.portfolio_customers(actor=bank.analyst)  # warms the actor's role cache
    # The portfolios only: with none, nothing else is read.
    with django_assert_num_queries(1):
        page = selectors.portfolio_customers(actor=bank.analyst)
    assert (page.rows, page.total, page.pages) == ([], 0, 1)
