"""Fixtures of the audit trail tests: people with and without access to the trail."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from tests.factories import RoleFactory, UserFactory


def _staff(role_code: str, **extra):
    # The seeded role (migration access.0003) is the one the bank gets: test the real grant.
    role = RoleFactory(code=role_code)
    return UserFactory(roles=[role], mfa_enabled=True, password_changed_at=timezone.now(), **extra)


@pytest.fixture
def auditor(db):
    return _staff(Role.Code.AUDITOR, username="auditor1")


@pytest.fixture
def compliance_officer(db):
    return _staff(Role.Code.COMPLIANCE_OFFICER, username="compliance1")


@pytest.fixture
def relationship_manager(db):
    return _staff(Role.Code.RELATIONSHIP_MANAGER, username="rm1")


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


def record_sample_events(count: int = 5):
    """``count`` events of varied content: people, jobs, unicode, decimals, dates."""
    events = []
    for number in range(1, count + 1):
        actor = (
            SystemActor("nightly")
            if number % 2 == 0
            else UserFactory.build(username=f"clerk{number}")
        )
        events.append(
            audit_record(
                actor=actor,
                action=f"customer.update.{number}",
                object_type="customers.party",
                object_pk=f"c-{number}",
                object_repr=f"李伟 {number}",
                before={"limit": decimal.Decimal("1000.10"), "segment": "retail"},
                after={
                    "limit": decimal.Decimal(f"{1000 + number}.10"),
                    "segment": "retail",
                    "reviewed": dt.date(2026, 3, number),
                },
                changed_secrets=["national_id"] if number == 3 else (),
                reason=f"annual review {number}",
            )
        )
    return events
