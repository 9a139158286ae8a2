"""Fixtures for API tests: users with and without custom-field rights, test definitions."""

from __future__ import annotations

import pytest
from django.test import Client

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.customization.models import CustomFieldDefinition
from bankcrm.customization.services import custom_field_definition_create
from tests.factories import RoleFactory, UserFactory

MODEL = "testapp.customisedrecord"
SETUP = SystemActor("test-setup")


@pytest.fixture
def admin_user(db):
    role = RoleFactory(
        code="cf_admin", permissions=["customization.*"], data_scope=Role.DataScope.BANK
    )
    return UserFactory(roles=[role])


@pytest.fixture
def clerk_user(db):
    role = RoleFactory(
        code="cf_clerk", permissions=["customers.view_party"], data_scope=Role.DataScope.UNIT
    )
    return UserFactory(roles=[role])


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def clerk_client(clerk_user) -> Client:
    client = Client()
    client.force_login(clerk_user)
    return client


@pytest.fixture
def definitions(db) -> dict[str, CustomFieldDefinition]:
    specs = [
        {"key": "nickname", "label": "Nickname", "field_type": "text", "max_length": 10},
        {"key": "employees", "label": "Employees", "field_type": "number", "min_value": 0},
        {"key": "turnover", "label": "Turnover", "field_type": "decimal", "is_required": True},
        {
            "key": "segment",
            "label": "Segment",
            "field_type": "choice",
            "choices": [
                {"value": "retail", "label": "Retail", "label_zh": "零售"},
                {"value": "sme", "label": "SME", "label_zh": "小微"},
            ],
        },
    ]
    return {
        spec["key"]: custom_field_definition_create(actor=SETUP, model_label=MODEL, **spec)
        for spec in specs
    }


def row_counts() -> tuple[int, int]:
    """What an API error must never change: definitions and audit events."""
    return CustomFieldDefinition.objects.count(), AuditEvent.objects.count()
