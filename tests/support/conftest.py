"""Shared fixtures of the customer service tests: the customers' two-branch bank plus a
contact centre at head office and a service queue in each branch, with their agents.

Fixture names are stable (every support test module may use them):

* ``bank`` — the two-branch bank of ``tests/customers/conftest.py`` (customers
  ``customer_a`` 王小明 in branch A, ``customer_b`` 李大伟 in branch B, RMs, ``manager_a``);
* ``service_bank`` — :class:`ServiceBank`: that bank plus queues and service staff;
* ``utc(y, m, d, h, mi)`` — an aware UTC datetime helper (a plain function, imported).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from bankcrm.access.models import Role
from bankcrm.core.models import BusinessCalendar
from tests.customers.conftest import Bank, bank  # noqa: F401  (re-exported fixture)
from tests.factories import UserFactory
from tests.factories.support import QueueFactory, QueueMemberFactory


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An instant given in Shanghai wall-clock time (the CN calendar's zone), as UTC."""
    from zoneinfo import ZoneInfo

    local = dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))
    return local.astimezone(dt.UTC)


@dataclass
class ServiceBank:
    """The two-branch bank with its service desk."""

    bank: Bank
    head_office: Any
    branch_a: Any
    branch_b: Any
    calendar: Any  # the seeded "CN" business calendar (09:00–12:00, 13:00–17:30 Shanghai)
    contact_centre: Any  # queue "contact_centre" at head office, supervised by supervisor
    queue_a: Any  # queue "branch_a" in branch A, supervised by manager_a
    queue_b: Any  # queue "branch_b" in branch B
    agent_cc: Any  # service agent at head office, member of the contact centre
    agent_cc2: Any  # a second contact-centre agent
    agent_a: Any  # service agent in branch A, member of queue_a
    agent_b: Any  # service agent in branch B, member of queue_b
    supervisor: Any  # branch manager at head office, supervisor of the contact centre
    manager_a: Any  # branch manager of branch A (supervisor of queue_a)
    manager_a2: Any  # a second branch manager of A (a checker distinct from manager_a)
    compliance: Any  # compliance officer at head office
    admin: Any  # administrator at head office
    auditor: Any
    customer_a: Any
    customer_b: Any
    rm_a: Any
    rm_b: Any


def _user(username: str, unit: Any, role: str) -> Any:
    return UserFactory(username=username, org_unit=unit, roles=[Role.objects.get(code=role)])


@pytest.fixture
def service_bank(bank: Bank) -> ServiceBank:  # noqa: F811
    calendar = BusinessCalendar.objects.get(code="CN")
    supervisor = _user("supervisor", bank.head_office, "branch_manager")
    manager_a2 = _user("manager_a2", bank.branch_a, "branch_manager")
    agent_cc = _user("agent_cc", bank.head_office, "service_agent")
    agent_cc2 = _user("agent_cc2", bank.head_office, "service_agent")
    agent_a = _user("agent_a", bank.branch_a, "service_agent")
    agent_b = _user("agent_b", bank.branch_b, "service_agent")
    contact_centre = QueueFactory(
        code="contact_centre",
        name="Contact centre",
        name_zh="客服中心",
        org_unit=bank.head_office,
        supervisor=supervisor,
        calendar=calendar,
        email_address="service@bank.example",
    )
    queue_a = QueueFactory(
        code="branch_a", name="Branch A desk", org_unit=bank.branch_a,
        supervisor=bank.manager_a, calendar=calendar,
    )  # fmt: skip
    queue_b = QueueFactory(
        code="branch_b", name="Branch B desk", org_unit=bank.branch_b, calendar=calendar
    )
    for queue, members in (
        (contact_centre, [agent_cc, agent_cc2]),
        (queue_a, [agent_a]),
        (queue_b, [agent_b]),
    ):
        for member in members:
            QueueMemberFactory(queue=queue, user=member, languages=["zh-hans", "en"])
    return ServiceBank(
        bank=bank,
        head_office=bank.head_office,
        branch_a=bank.branch_a,
        branch_b=bank.branch_b,
        calendar=calendar,
        contact_centre=contact_centre,
        queue_a=queue_a,
        queue_b=queue_b,
        agent_cc=agent_cc,
        agent_cc2=agent_cc2,
        agent_a=agent_a,
        agent_b=agent_b,
        supervisor=supervisor,
        manager_a=bank.manager_a,
        manager_a2=manager_a2,
        compliance=_user("compliance", bank.head_office, "compliance_officer"),
        admin=_user("admin", bank.head_office, "administrator"),
        auditor=_user("auditor", bank.head_office, "auditor"),
        customer_a=bank.customer_a,
        customer_b=bank.customer_b,
        rm_a=bank.rm_a,
        rm_b=bank.rm_b,
    )
