"""A small bank for the customer page tests: branches A and B, an RM in each with a
portfolio, customers with phones, resident IDs, accounts and transactions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Portfolio, Role, User
from bankcrm.banking.models import Account, Product, Transaction
from bankcrm.customers.models import ContactPoint, Party
from tests.factories import OrgUnitFactory, PortfolioFactory, RoleFactory, UserFactory
from tests.factories.banking import (
    AccountFactory,
    AccountMonthlyFlowFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import (
    ContactPointFactory,
    IdentifierFactory,
    PersonFactory,
    make_resident_id,
)

LI_WEI_ID = make_resident_id(dt.date(1985, 3, 14), region="330102", sequence=123)
ZHANG_ID = make_resident_id(dt.date(1990, 7, 1), region="110105", sequence=456)
LI_WEI_PHONE = "+8613812345678"
ZHANG_PHONE = "+8613987654321"
LI_WEI_ACCOUNT = "6222 0210 0000 1234"
ZHANG_ACCOUNT = "6222 0210 0000 9876"


@dataclass
class World:
    branch_a: OrgUnit
    branch_b: OrgUnit
    rm_a: User
    rm_b: User
    portfolio_a: Portfolio
    portfolio_b: Portfolio
    li_wei: Party
    wang_fang: Party
    zhang: Party
    account_li: Account
    account_zhang: Account
    savings: Product


def relationship_manager_role() -> Role:
    # The seeded role (browser tests flush the database, seeds included: same grants then).
    return RoleFactory(
        code=Role.Code.RELATIONSHIP_MANAGER,
        name="Relationship manager",
        permissions=["customers.*", "banking.view_*"],
        data_scope=Role.DataScope.PORTFOLIO,
        may_unmask=True,
    )


def rm(username: str, unit: OrgUnit) -> User:
    return UserFactory(
        username=username,
        first_name=username.split(".")[0].title(),
        last_name="RM",
        org_unit=unit,
        roles=[relationship_manager_role()],
        password_changed_at=timezone.now(),
    )


def person(name: str, unit: OrgUnit, portfolio: Portfolio, **kwargs) -> Party:
    party = PersonFactory(display_name=name, owning_unit=unit, portfolio=portfolio, **kwargs)
    return Party.objects.get(pk=party.pk)


@pytest.fixture
def world(db) -> World:
    branch_a = OrgUnitFactory(name="Branch A", code="BR-A")
    branch_b = OrgUnitFactory(name="Branch B", code="BR-B")
    rm_a = rm("anna.rm", branch_a)
    rm_b = rm("bruno.rm", branch_b)
    portfolio_a = PortfolioFactory(manager=rm_a, org_unit=branch_a)
    portfolio_b = PortfolioFactory(manager=rm_b, org_unit=branch_b)
    li_wei = person("李伟", branch_a, portfolio_a, customer_since=dt.date(2015, 5, 1))
    wang_fang = person("王芳", branch_a, portfolio_a)
    zhang = person("张伟", branch_b, portfolio_b)
    ContactPointFactory(
        party=li_wei, kind=ContactPoint.Kind.PHONE, value=LI_WEI_PHONE, is_primary=True
    )
    ContactPointFactory(
        party=li_wei, kind=ContactPoint.Kind.EMAIL, value="li.wei@mail.example", is_primary=True
    )
    ContactPointFactory(
        party=zhang, kind=ContactPoint.Kind.PHONE, value=ZHANG_PHONE, is_primary=True
    )
    IdentifierFactory(party=li_wei, number=LI_WEI_ID, is_primary=True)
    IdentifierFactory(party=zhang, number=ZHANG_ID, is_primary=True)
    savings = ProductFactory(code="SAV", name="Savings account", category=Product.Category.SAVINGS)
    account_li = AccountFactory(
        number=LI_WEI_ACCOUNT,
        owner=li_wei,
        branch=branch_a,
        product=savings,
        balance=Decimal("12500.00"),
    )
    account_zhang = AccountFactory(
        number=ZHANG_ACCOUNT,
        owner=zhang,
        branch=branch_b,
        product=savings,
        balance=Decimal("800.00"),
    )
    today = timezone.localdate()
    month = today.replace(day=1)
    AccountMonthlyFlowFactory(
        account=account_li, month=month, inflow=Decimal("9000.00"), outflow=Decimal("4000.00")
    )
    for day, amount, kind, counterparty in (
        (1, Decimal("9000.00"), Transaction.Kind.SALARY, "Acme Ltd"),
        (2, Decimal("-3500.00"), Transaction.Kind.RENT, "Landlord Chen"),
        (3, Decimal("-500.00"), Transaction.Kind.CARD_PAYMENT, "Supermarket"),
    ):
        TransactionFactory(
            account=account_li,
            booking_date=month.replace(day=day),
            amount=amount,
            kind=kind,
            counterparty_name=counterparty,
        )
    TransactionFactory(
        account=account_zhang,
        booking_date=month,
        amount=Decimal("-20.00"),
        kind=Transaction.Kind.FEE,
        counterparty_name="Bank B fee",
    )
    return World(
        branch_a=branch_a,
        branch_b=branch_b,
        rm_a=rm_a,
        rm_b=rm_b,
        portfolio_a=portfolio_a,
        portfolio_b=portfolio_b,
        li_wei=li_wei,
        wang_fang=wang_fang,
        zhang=zhang,
        account_li=account_li,
        account_zhang=account_zhang,
        savings=savings,
    )


@pytest.fixture
def rm_a_client(client, world):
    client.force_login(world.rm_a)
    return client
