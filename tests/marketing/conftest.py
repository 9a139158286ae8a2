"""Shared fixtures of the marketing tests: the customers' two-branch bank plus marketers and
the products and contact details campaigns need.

Fixture names are stable (every marketing test module may use them):

* ``bank`` — the two-branch bank of ``tests/customers/conftest.py`` (customers
  ``customer_a`` 王小明 in branch A, ``customer_b`` 李大伟 in branch B, RMs, ``manager_a``);
* ``marketing_bank`` — :class:`MarketingBank`: that bank plus marketers and products;
* ``reachable_customer(marketing_bank, unit, name, consents=("email_marketing",))`` (a function):
  an active person in ``unit`` with a primary e-mail and phone and the given consents granted.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db.migrations import RunPython

from bankcrm.access.models import Role
from bankcrm.banking.models import Product
from bankcrm.customers.models import CONSENT_PURPOSE_CONTACT_KIND, ContactPoint, Party
from tests.customers.conftest import Bank, bank  # noqa: F401  (re-exported fixture)
from tests.factories import UserFactory
from tests.factories.banking import ProductFactory
from tests.factories.customers import ConsentFactory, ContactPointFactory, PersonFactory


@dataclass
class MarketingBank:
    """The two-branch bank with its marketing staff and products."""

    bank: Bank
    head_office: Any
    branch_a: Any
    branch_b: Any
    marketer: Any  # marketing manager at head office (bank-wide reach through the subtree)
    marketer2: Any  # a second head-office marketing manager: the checker of launches
    marketer_a: Any  # marketing manager of branch A only
    rm_a: Any
    rm_b: Any
    manager_a: Any
    customer_a: Any
    customer_b: Any
    current: Any  # product CUR (current account)
    deposit: Any  # product TD12 (12-month term deposit): what campaigns offer


def _user(username: str, unit: Any, role: str) -> Any:
    return UserFactory(username=username, org_unit=unit, roles=[Role.objects.get(code=role)])


def reachable_customer(
    marketing: Any,
    unit: Any,
    name: str,
    consents: Iterable[str] = ("email_marketing",),
    **party: Any,
) -> Party:
    """An active person in ``unit`` with a primary e-mail and phone; each purpose in
    ``consents`` granted (on the e-mail or phone for the channel purposes)."""
    person = PersonFactory(display_name=name, owning_unit=unit, status="active", **party)
    slug = abs(hash((name, str(person.pk)))) % 10**8
    email = ContactPointFactory(
        party=person, kind=ContactPoint.Kind.EMAIL, value=f"c{slug}@example.com", is_primary=True
    )
    phone = ContactPointFactory(
        party=person, kind=ContactPoint.Kind.PHONE, value=f"+86139{slug:08d}", is_primary=True
    )
    for purpose in consents:
        kind = CONSENT_PURPOSE_CONTACT_KIND.get(purpose)
        point = email if kind == "email" else phone if kind == "phone" else None
        ConsentFactory(party=person, purpose=purpose, contact_point=point)
    return person


# The roles and their permissions, as the access migrations seed them. A transactional test
# (live server, PostgreSQL locking) runs on a database flushed by the one before it, seeds
# included: the marketing fixtures put them back first (the seeds only add what is missing).
ACCESS_SEEDS = (
    "bankcrm.access.migrations.0003_seed_bank_roles",
    "bankcrm.access.migrations.0004_lending_role_permissions",
    "bankcrm.access.migrations.0005_model_risk_role",
    "bankcrm.access.migrations.0006_compliance_permissions",
    "bankcrm.access.migrations.0007_support_permissions",
    "bankcrm.access.migrations.0008_marketing_permissions",
)


@pytest.fixture
def access_seeds(db: Any) -> None:
    if Role.objects.filter(code="marketing_manager").exists():
        return
    for name in ACCESS_SEEDS:
        for operation in importlib.import_module(name).Migration.operations:
            if isinstance(operation, RunPython):
                operation.code(django_apps, None)


@pytest.fixture
def marketing_bank(access_seeds: None, bank: Bank) -> MarketingBank:  # noqa: F811
    return MarketingBank(
        bank=bank,
        head_office=bank.head_office,
        branch_a=bank.branch_a,
        branch_b=bank.branch_b,
        marketer=_user("marketer", bank.head_office, "marketing_manager"),
        marketer2=_user("marketer2", bank.head_office, "marketing_manager"),
        marketer_a=_user("marketer_a", bank.branch_a, "marketing_manager"),
        rm_a=bank.rm_a,
        rm_b=bank.rm_b,
        manager_a=bank.manager_a,
        customer_a=bank.customer_a,
        customer_b=bank.customer_b,
        current=ProductFactory(
            code="CUR", name="Current account", category=Product.Category.CURRENT
        ),
        deposit=ProductFactory(
            code="TD12",
            name="12-month term deposit",
            name_zh="12个月定期存款",
            category=Product.Category.TERM_DEPOSIT,
        ),
    )
