"""Two branches, each with a relationship manager and a portfolio, and a branch manager."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from bankcrm.access.models import OrgUnit, Role
from tests.factories import OrgUnitFactory, PortfolioFactory, UserFactory
from tests.factories.customers import PersonFactory


@dataclass
class Bank:
    head_office: Any
    branch_a: Any
    branch_b: Any
    rm_a: Any
    rm_b: Any
    manager_a: Any
    analyst: Any
    portfolio_a: Any
    portfolio_b: Any
    customer_a: Any
    customer_b: Any


@pytest.fixture
def bank(db) -> Bank:
    head = OrgUnitFactory(code="HO", name="Head office", kind=OrgUnit.Kind.HEAD_OFFICE)
    branch_a = OrgUnitFactory(code="BRA", name="Branch A", parent=head)
    branch_b = OrgUnitFactory(code="BRB", name="Branch B", parent=head)
    rm_role = Role.objects.get(code="relationship_manager")
    rm_a = UserFactory(username="rm_a", org_unit=branch_a, roles=[rm_role])
    rm_b = UserFactory(username="rm_b", org_unit=branch_b, roles=[rm_role])
    manager_a = UserFactory(
        username="manager_a", org_unit=branch_a, roles=[Role.objects.get(code="branch_manager")]
    )
    analyst = UserFactory(
        username="analyst", org_unit=head, roles=[Role.objects.get(code="credit_analyst")]
    )
    portfolio_a = PortfolioFactory(code="PA", manager=rm_a, org_unit=branch_a)
    portfolio_b = PortfolioFactory(code="PB", manager=rm_b, org_unit=branch_b)
    customer_a = PersonFactory(display_name="王小明", owning_unit=branch_a, portfolio=portfolio_a)
    customer_b = PersonFactory(display_name="李大伟", owning_unit=branch_b, portfolio=portfolio_b)
    return Bank(
        head, branch_a, branch_b, rm_a, rm_b, manager_a, analyst,
        portfolio_a, portfolio_b, customer_a, customer_b,
    )  # fmt: skip
