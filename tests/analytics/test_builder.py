"""The report builder: definitions validated with named errors, compiled to one scoped query,
figures checked against hand-computed values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.access.models import Role
from bankcrm.analytics.builder import (
    entities,
    report_rows,
    resolve_parameters,
    run_report,
    validate_definition,
)
from bankcrm.banking.models import Product
from bankcrm.customization.models import CustomFieldDefinition
from tests.factories import OrgUnitFactory, RoleFactory, UserFactory
from tests.factories.banking import AccountFactory, ProductFactory, TransactionFactory
from tests.factories.customers import PartyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank():
    """Two branches: A holds three savings accounts (two CNY, one USD) and a current account,
    B one savings account; transactions on A's first account in two months."""
    a, b = OrgUnitFactory(name="Branch A"), OrgUnitFactory(name="Branch B")
    savings = ProductFactory(code="SAV", name="Savings", category=Product.Category.SAVINGS)
    current = ProductFactory(code="CUR", name="Current", category=Product.Category.CURRENT)
    first = AccountFactory(branch=a, product=savings, balance=Decimal("100.00"))
    AccountFactory(branch=a, product=savings, balance=Decimal("250.50"))
    AccountFactory(branch=a, product=savings, currency="USD", balance=Decimal("40.00"))
    AccountFactory(branch=a, product=current, balance=Decimal("1000.00"))
    AccountFactory(branch=b, product=savings, balance=Decimal("7.00"))
    for day, amount in (
        (dt.date(2026, 9, 3), "500.00"),
        (dt.date(2026, 9, 20), "-120.00"),
        (dt.date(2026, 10, 1), "300.00"),
    ):
        TransactionFactory(account=first, booking_date=day, amount=Decimal(amount))
    return {"a": a, "b": b, "first": first}


def _viewer(unit=None, scope=Role.DataScope.BANK):
    role = RoleFactory(
        code=f"report_viewer_{scope}",
        permissions=["banking.view_*", "customers.view_*", "analytics.view_*"],
        data_scope=scope,
    )
    return UserFactory(roles=[role], org_unit=unit or OrgUnitFactory())


BY_BRANCH = {
    "entity": "accounts",
    "filters": [{"field": "product.category", "op": "eq", "value": "savings"}],
    "group_by": ["branch", "currency"],
    "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "balance"}],
    "sort": [{"key": "branch"}, {"key": "currency"}],
}


def test_grouped_sums_match_hand_figures(bank):
    result = run_report(BY_BRANCH, _viewer())
    assert [c.key for c in result.columns] == ["branch", "currency", "count", "sum_balance"]
    assert result.rows == [
        ["Branch A", "CNY", 2, Decimal("350.50")],
        ["Branch A", "USD", 1, Decimal("40.00")],
        ["Branch B", "CNY", 1, Decimal("7.00")],
    ]
    assert not result.truncated


def test_a_branch_manager_sees_only_their_branch(bank):
    manager = _viewer(unit=bank["a"], scope=Role.DataScope.UNIT)
    result = run_report(BY_BRANCH, manager)
    assert {row[0] for row in result.rows} == {"Branch A"}


def test_without_the_permission_the_report_is_empty(bank):
    role = RoleFactory(code="no_banking", permissions=["analytics.view_*"])
    result = run_report(BY_BRANCH, UserFactory(roles=[role]))
    assert result.rows == []


def test_one_query_whatever_the_number_of_rows(bank):
    viewer = _viewer()
    with CaptureQueriesContext(connection) as queries:
        run_report(BY_BRANCH, viewer)
    # The viewer's roles are read once; the report itself is one statement.
    report_queries = [q for q in queries.captured_queries if "banking_account" in q["sql"]]
    assert len(report_queries) == 1


def test_transactions_by_month_with_a_date_parameter(bank):
    definition = {
        "entity": "transactions",
        "parameters": [{"name": "since", "type": "date", "label": "Since"}],
        "filters": [{"field": "booking_date", "op": "gte", "param": "since"}],
        "group_by": [{"field": "booking_date", "by": "month"}, "currency"],
        "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}],
        "sort": [{"key": "booking_date__month"}],
        "chart": {"type": "bar", "x": "booking_date__month", "y": "sum_amount"},
    }
    result = run_report(definition, _viewer(), {"since": "2026-09-01"})
    assert result.rows == [
        [dt.date(2026, 9, 1), "CNY", 2, Decimal("380.00")],
        [dt.date(2026, 10, 1), "CNY", 1, Decimal("300.00")],
    ]
    assert result.parameters == {"since": dt.date(2026, 9, 1)}
    later = run_report(definition, _viewer(), {"since": "2026-09-21"})
    assert later.rows == [[dt.date(2026, 10, 1), "CNY", 1, Decimal("300.00")]]


def test_detail_rows_show_choice_names_and_respect_the_limit(bank):
    definition = {
        "entity": "accounts",
        "columns": ["branch", "product.category", "balance"],
        "sort": [{"key": "balance", "desc": True}],
        "limit": 2,
    }
    result = run_report(definition, _viewer())
    assert result.rows == [
        ["Branch A", str(Product.Category.CURRENT.label), Decimal("1000.00")],
        ["Branch A", str(Product.Category.SAVINGS.label), Decimal("250.50")],
    ]
    assert result.truncated
    # Exports read every row, past the page's limit.
    _columns, rows = report_rows(validate_definition(definition), _viewer(), {})
    assert len(list(rows)) == 5


def test_custom_fields_are_columns_filters_and_groups(bank):
    CustomFieldDefinition.objects.create(
        model_label="customers.party",
        key="risk_appetite",
        label="Risk appetite",
        field_type="choice",
        choices=[{"value": "low", "label": "Low"}, {"value": "high", "label": "High"}],
    )
    unit = OrgUnitFactory()
    for appetite in ("low", "low", "high"):
        PartyFactory(owning_unit=unit, custom_fields={"risk_appetite": appetite})
    definition = {
        "entity": "customers",
        "filters": [{"field": "owning_unit", "op": "eq", "value": unit.name}],
        "group_by": ["cf.risk_appetite"],
        "aggregates": [{"fn": "count"}],
        "sort": [{"key": "cf.risk_appetite"}],
    }
    result = run_report(definition, _viewer())
    assert result.rows == [["High", 1], ["Low", 2]]
    assert "cf.risk_appetite" in {f.key for f in entities()[0].field_map().values()}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"entity": "ledgers"}, "entity"),
        ({"filters": [{"field": "number", "op": "eq", "value": "1"}]}, "filters[0]"),
        ({"filters": [{"field": "balance", "op": "contains", "value": "1"}]}, "filters[0]"),
        ({"filters": [{"field": "balance", "op": "gt", "value": "lots"}]}, "filters[0]"),
        ({"filters": [{"field": "opened_on", "op": "gte", "param": "since"}]}, "filters[0]"),
        ({"group_by": [{"field": "branch", "by": "month"}]}, "group_by[0]"),
        ({"aggregates": [{"fn": "sum", "field": "branch"}]}, "aggregates[0]"),
        ({"aggregates": [{"fn": "median", "field": "balance"}]}, "aggregates[0]"),
        ({"sort": [{"key": "owner"}]}, "sort[0]"),
        ({"chart": {"type": "radar", "x": "branch", "y": "count"}}, "chart"),
        ({"limit": 0}, "limit"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_definitions_name_what_is_wrong(change, where):
    with pytest.raises(ValidationError) as raised:
        validate_definition({**BY_BRANCH, **change})
    assert where in raised.value.message_dict


def test_money_is_never_summed_across_currencies():
    definition = {**BY_BRANCH, "group_by": ["branch"]}
    with pytest.raises(ValidationError) as raised:
        validate_definition(definition)
    assert "aggregates" in raised.value.message_dict
    one_currency = {
        **definition,
        "filters": [*BY_BRANCH["filters"], {"field": "currency", "op": "eq", "value": "CNY"}],
        "sort": [],
    }
    assert validate_definition(one_currency)["group_by"] == [{"field": "branch", "by": ""}]


def test_parameters_are_required_and_typed():
    definition = validate_definition(
        {
            "entity": "accounts",
            "columns": ["branch"],
            "parameters": [{"name": "since", "type": "date"}],
            "filters": [{"field": "opened_on", "op": "gte", "param": "since"}],
        }
    )
    with pytest.raises(ValidationError) as missing:
        resolve_parameters(definition, {})
    assert "since" in missing.value.message_dict
    with pytest.raises(ValidationError):
        resolve_parameters(definition, {"since": "yesterday"})
    assert resolve_parameters(definition, {"since": "2026-01-31"}) == {
        "since": dt.date(2026, 1, 31)
    }
