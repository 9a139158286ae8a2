"""A small bank for access tests: Head Office > East region > branches A and B."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock

import pytest
from django.utils import timezone

from bankcrm.access import services
from bankcrm.access.models import OrgUnit, Role, User
from bankcrm.core.actor import SystemActor
from tests.factories import UserFactory

SYSTEM = SystemActor("tests")


@contextlib.contextmanager
def frozen_now(moment: dt.datetime) -> Iterator[None]:
    """Make ``django.utils.timezone.now`` answer ``moment`` (sessions, lockout, tokens, TOTP)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


@dataclass
class Bank:
    head_office: OrgUnit
    region: OrgUnit
    branch_a: OrgUnit
    branch_b: OrgUnit


@pytest.fixture
def bank(db) -> Bank:
    head_office = services.org_unit_create(
        actor=SYSTEM, code="HO", name="Head Office", kind=OrgUnit.Kind.HEAD_OFFICE
    )
    region = services.org_unit_create(
        actor=SYSTEM, code="EAST", name="East", kind=OrgUnit.Kind.REGION, parent=head_office
    )
    branch_a = services.org_unit_create(
        actor=SYSTEM, code="BR-A", name="Branch A", kind=OrgUnit.Kind.BRANCH, parent=region
    )
    branch_b = services.org_unit_create(
        actor=SYSTEM, code="BR-B", name="Branch B", kind=OrgUnit.Kind.BRANCH, parent=region
    )
    return Bank(head_office, region, branch_a, branch_b)


def role(code: str) -> Role:
    return Role.objects.get(code=code)


def staff(username: str, unit: OrgUnit, *role_codes: str, **fields: object) -> User:
    return UserFactory(
        username=username, org_unit=unit, roles=[role(code) for code in role_codes], **fields
    )


@pytest.fixture
def now() -> dt.datetime:
    return timezone.now().replace(microsecond=0)
