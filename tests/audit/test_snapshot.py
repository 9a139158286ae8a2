"""Snapshots for before/after: non-secret fields only; only the changed keys are stored."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from django.db import models

from bankcrm.audit.chain import row_hash
from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import (
    audit_changes,
    audit_record,
    audit_secret_state,
    audit_secrets_changed,
    audit_snapshot,
    event_fields,
)
from bankcrm.core.actor import SystemActor
from tests.factories import OrgUnitFactory, UserFactory


class _EncryptedText(models.TextField):
    is_encrypted = True


class _BlindIndex(models.CharField):
    is_blind_index = True


class _Account(models.Model):
    """Test-only model (never migrated): a mix of plain and secret fields."""

    number = models.CharField(max_length=20)
    balance = models.DecimalField(max_digits=12, decimal_places=2)
    opened_on = models.DateField()
    owner_name = _EncryptedText()
    owner_name_index = _BlindIndex(max_length=64)
    pin_hash = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64)
    key_material = models.BinaryField()
    unit = models.ForeignKey("access.OrgUnit", on_delete=models.PROTECT, null=True)

    audit_secret_fields = ("pin_hash",)

    class Meta:
        # Not an installed app: the model stays out of migrations and the schema.
        app_label = "audit_tests"
        managed = False


def _account(**overrides):
    values = {
        "pk": 7,
        "number": "6222 0001",
        "balance": decimal.Decimal("1200.50"),
        "opened_on": dt.date(2024, 2, 29),
        "owner_name": "王芳",
        "owner_name_index": "abc123",
        "pin_hash": "argon2$secret",
        "token_hash": "sha256$secret",
        "key_material": b"\x00\x01",
        "unit_id": 4,
    }
    values.update(overrides)
    return _Account(**values)


def test_snapshot_keeps_plain_fields_only_as_json_values():
    assert audit_snapshot(_account()) == {
        "id": 7,
        "number": "6222 0001",
        "balance": "1200.50",
        "opened_on": "2024-02-29",
        "unit": 4,
    }


def test_snapshot_can_be_narrowed_and_never_widens_to_secrets():
    account = _account()
    assert audit_snapshot(account, fields=["balance", "pin_hash", "owner_name"]) == {
        "balance": "1200.50"
    }


@pytest.mark.django_db
def test_user_snapshot_never_holds_the_password_hash():
    user = UserFactory(org_unit=OrgUnitFactory())
    snapshot = audit_snapshot(user)
    assert "password" not in snapshot
    assert snapshot["username"] == user.username
    assert snapshot["org_unit"] == user.org_unit_id


def test_changes_keep_only_differing_keys():
    before = {"balance": decimal.Decimal("1.10"), "status": "open", "gone": 1}
    after = {"balance": decimal.Decimal("2.20"), "status": "open", "new": None}
    assert audit_changes(before, after) == (
        {"balance": "1.10", "gone": 1},
        {"balance": "2.20", "new": None},
    )


def test_secret_state_tells_which_secrets_changed_without_keeping_them():
    before = audit_secret_state(_account())
    after = audit_secret_state(_account(pin_hash="argon2$other", owner_name="王芳"))
    assert sorted(before) == [
        "key_material",
        "owner_name",
        "owner_name_index",
        "pin_hash",
        "token_hash",
    ]
    assert "argon2$secret" not in repr(before)
    assert audit_secrets_changed(before, after) == ["pin_hash"]


@pytest.mark.django_db
def test_record_stores_only_changed_keys_and_names_secrets():
    old = _account()
    new = _account(balance=decimal.Decimal("10.00"), pin_hash="argon2$new")
    event = audit_record(
        actor=SystemActor("batch"),
        action="account.update",
        target=old,
        before=audit_snapshot(old),
        after=audit_snapshot(new),
        changed_secrets=audit_secrets_changed(audit_secret_state(old), audit_secret_state(new)),
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.before, stored.after) == ({"balance": "1200.50"}, {"balance": "10.00"})
    assert stored.changed_secrets == ["pin_hash"]
    assert (stored.object_type, stored.object_pk) == ("audit_tests._account", "7")
    assert row_hash(stored.prev_hash, event_fields(stored)) == stored.row_hash


@pytest.mark.django_db
def test_record_with_only_after_keeps_it_whole():
    event = audit_record(
        actor=SystemActor("batch"), action="account.create", after={"a": 1, "b": {2, 1}}
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.before, stored.after) == (None, {"a": 1, "b": [1, 2]})
    assert row_hash(stored.prev_hash, event_fields(stored)) == stored.row_hash
