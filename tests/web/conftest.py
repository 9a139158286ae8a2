"""Fixtures for the shell's tests: people with the bank's seeded roles."""

from __future__ import annotations

import pytest
from django.utils import timezone, translation

from bankcrm.access.models import Role
from tests.factories import OrgUnitFactory, RoleFactory, UserFactory

# Permissions as the access module seeds them, so these fixtures also work after a flush.
SEEDED_PERMISSIONS = {
    "relationship_manager": ["customers.*", "banking.view_*", "lending.view_*"],
    "auditor": ["*.view_*", "audit.export_auditevent"],
    "branch_manager": ["customers.*", "access.view_user"],
}


def role(code: str) -> Role:
    return RoleFactory(
        code=code,
        permissions=SEEDED_PERMISSIONS.get(code, []),
        data_scope=Role.DataScope.PORTFOLIO
        if code == "relationship_manager"
        else Role.DataScope.BANK,
    )


def person(code: str, **kwargs):
    # A current password, so the sign-in policy lets the person straight through.
    kwargs.setdefault("password_changed_at", timezone.now())
    return UserFactory(roles=[role(code)], **kwargs)


@pytest.fixture
def relationship_manager(db):
    head_office = OrgUnitFactory(name="Head office", kind="head_office")
    branch = OrgUnitFactory(name="Riverside branch", parent=head_office)
    head_office.path = f"/{head_office.pk}/"
    branch.path = f"/{head_office.pk}/{branch.pk}/"
    head_office.save(update_fields=["path"])
    branch.save(update_fields=["path"])
    return person("relationship_manager", first_name="Lena", last_name="Fischer", org_unit=branch)


@pytest.fixture
def auditor(db):
    # The auditor's role requires two-factor sign-in: this one has enrolled.
    return person("auditor", first_name="Ada", last_name="Quist", mfa_enabled=True)


@pytest.fixture
def rm_client(client, relationship_manager):
    client.force_login(relationship_manager)
    return client


@pytest.fixture(autouse=True)
def _english_by_default():
    # A request in Chinese leaves the thread's language active; each test starts in English.
    translation.activate("en")
    yield
    translation.activate("en")
