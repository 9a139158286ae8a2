import json
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.crypto import envelope, get_keyring, reset_keyring_cache
from bankcrm.core.crypto.fields import Sealed
from bankcrm.core.crypto.keyring import new_keyring_document
from bankcrm.core.models import DataKey, KeyRotation
from bankcrm.core.services import data_key_destroy
from tests.testapp.models import PersonalRecord, SecretNote

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("keys", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return lines, json.loads(lines[-1]) if lines[-1].startswith("{") else None


def versions():
    return dict(
        DataKey.objects.filter(destroyed_at__isnull=True)
        .values_list("kek_version")
        .order_by("kek_version")
        .annotate(n=Count("pk"))
    )


@pytest.fixture
def bank(tmp_keyring):
    """Five records with their own keys and one table key (six data keys, version 1)."""
    records = [
        PersonalRecord.objects.create(national_id=f"33010219850315{i:04d}") for i in range(5)
    ]
    note = SecretNote.objects.create(body="table key value", phone="13800138000")
    assert versions() == {1: 6}
    return records, note


def drop_key_version(path, version):
    document = json.loads(path.read_text())
    del document["keks"][str(version)]
    path.write_text(json.dumps(document))
    reset_keyring_cache()


def assert_all_readable(records, note):
    envelope.clear_caches()
    assert [PersonalRecord.objects.get(pk=r.pk).national_id for r in records] == [
        f"33010219850315{i:04d}" for i in range(len(records))
    ]
    assert SecretNote.objects.get(pk=note.pk).body == "table key value"


def test_rotate_adds_a_version_and_rewraps_every_key(bank, tmp_keyring):
    records, note = bank
    before = dict(DataKey.objects.values_list("pk", "wrapped_key"))
    lines, summary = run("rotate", "--batch-size", "4")
    assert summary == {"rewrapped": 6, "kek_version": 2, "complete": True}
    assert "  re-wrapped 4/6 data keys" in lines
    assert "  re-wrapped 6/6 data keys" in lines
    assert get_keyring().versions() == [1, 2]
    assert versions() == {2: 6}
    after = dict(DataKey.objects.values_list("pk", "wrapped_key"))
    assert all(after[pk] != before[pk] for pk in before)
    assert DataKey.objects.filter(rewrapped_at__isnull=True).count() == 0
    # The old key-encryption key is no longer needed: retire it and read everything.
    drop_key_version(tmp_keyring, 1)
    assert_all_readable(records, note)
    rotation = KeyRotation.objects.get()
    assert (rotation.kek_version, rotation.rewrapped) == (2, 6)
    assert rotation.finished_at is not None
    actions = list(
        AuditEvent.objects.filter(actor="system:keys-rotate")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["keys.rotation_start", "keys.rewrap", "keys.rewrap", "keys.rotate"]
    final = AuditEvent.objects.get(action="keys.rotate")
    assert final.after == {"kek_version": 2, "rewrapped": 6, "reencrypted": 0}


def test_interrupted_rotation_is_resumed_by_running_again(bank, tmp_keyring):
    records, note = bank
    lines, summary = run("rotate", "--batch-size", "2", "--max-batches", "1")
    assert summary == {
        "rewrapped": 2,
        "kek_version": 2,
        "complete": False,
        "remaining_data_keys": 4,
    }
    assert versions() == {1: 4, 2: 2}
    assert KeyRotation.objects.get().finished_at is None
    assert_all_readable(records, note)  # half-rotated data stays readable

    lines, summary = run("rotate", "--batch-size", "2")
    assert lines[0] == "Resuming the unfinished rotation to key version 2."
    assert summary == {"rewrapped": 4, "kek_version": 2, "complete": True}
    assert get_keyring().versions() == [1, 2]  # no third version for a resumed run
    assert versions() == {2: 6}
    assert KeyRotation.objects.get().rewrapped == 6
    drop_key_version(tmp_keyring, 1)
    assert_all_readable(records, note)


def test_crash_in_a_batch_rolls_back_that_batch_only(bank, monkeypatch):
    records, note = bank
    real = envelope.rewrap_data_key
    calls = []

    def failing(data_key, version):
        calls.append(data_key.pk)
        if len(calls) == 4:
            raise RuntimeError("process killed")
        return real(data_key, version)

    monkeypatch.setattr(envelope, "rewrap_data_key", failing)
    with pytest.raises(RuntimeError, match="process killed"):
        run("rotate", "--batch-size", "3")
    assert versions() == {1: 3, 2: 3}  # the first batch committed, the second rolled back
    monkeypatch.setattr(envelope, "rewrap_data_key", real)
    _lines, summary = run("rotate", "--batch-size", "3")
    assert summary == {"rewrapped": 3, "kek_version": 2, "complete": True}
    assert versions() == {2: 6}
    assert_all_readable(records, note)


def test_no_new_version_rewraps_stale_keys_to_the_current_version(bank):
    get_keyring().add_version()
    _lines, summary = run("rotate", "--no-new-version")
    assert summary == {"rewrapped": 6, "kek_version": 2, "complete": True}
    assert get_keyring().versions() == [1, 2]


def test_destroyed_keys_are_not_rewrapped(bank):
    records, _note = bank
    data_key_destroy(actor=SystemActor("erasure"), data_key=records[0].data_key)
    _lines, summary = run("rotate")
    assert summary["rewrapped"] == 5
    destroyed = DataKey.objects.get(pk=records[0].data_key_id)
    assert (destroyed.kek_version, destroyed.wrapped_key) == (1, "")


def test_reencrypt_gives_every_value_a_fresh_ciphertext_resumably(bank, tmp_keyring):
    records, note = bank
    data_key_destroy(actor=SystemActor("erasure"), data_key=records[4].data_key)
    extra = [SecretNote.objects.create(body=f"note {i}", phone=f"1390013900{i}") for i in range(3)]

    def tokens():
        found = {}
        for model, column in ((PersonalRecord, "national_id"), (SecretNote, "body")):
            for pk, value in model.objects.values_list("pk", column):
                found[pk] = value.token if isinstance(value, Sealed) else value
        return found

    before = tokens()
    phone_index = SecretNote.objects.get(pk=extra[0].pk).phone_index
    _lines, summary = run("rotate", "--reencrypt", "--batch-size", "2", "--max-batches", "4")
    assert summary["complete"] is False
    # 5 live keys in 3 batches, then one batch of re-encryption.
    assert summary["rewrapped"] == 5 and summary["reencrypted"] == 2
    _lines, summary = run("rotate", "--batch-size", "2")  # resumes, --reencrypt remembered
    assert summary["complete"] is True
    assert summary["rewrapped"] == 0
    assert summary["reencrypted"] == 7
    rotation = KeyRotation.objects.get()
    assert rotation.reencrypted == 8  # 4 readable records + 4 notes; the erased one skipped
    assert rotation.progress["testapp.personalrecord"] == "done"
    assert rotation.progress["testapp.secretnote"] == "done"
    assert set(rotation.progress.values()) == {"done"}  # every model with encrypted fields
    after = tokens()
    erased = records[4].pk
    assert after[erased] == before[erased]
    assert all(after[pk] != before[pk] for pk in before if pk != erased)
    assert_all_readable(records[:4], note)
    assert [SecretNote.objects.get(pk=n.pk).body for n in extra] == ["note 0", "note 1", "note 2"]
    assert SecretNote.objects.get(pk=extra[0].pk).phone_index == phone_index
    assert AuditEvent.objects.filter(action="keys.reencrypt").count() == 5


def test_read_only_keyring_asks_for_the_version_elsewhere(settings, monkeypatch):
    monkeypatch.setenv("BANKCRM_TEST_ENV_KEYRING", json.dumps(new_keyring_document()))
    settings.KEYRING = "env:BANKCRM_TEST_ENV_KEYRING"
    reset_keyring_cache()
    try:
        with pytest.raises(CommandError, match="--no-new-version"):
            run("rotate")
        assert not KeyRotation.objects.exists()
        _lines, summary = run("rotate", "--no-new-version")
        assert summary == {"rewrapped": 0, "kek_version": 1, "complete": True}
    finally:
        reset_keyring_cache()


def test_status_reports_versions_and_counts(bank):
    records, _note = bank
    run("rotate", "--max-batches", "1", "--batch-size", "2")
    data_key_destroy(actor=SystemActor("erasure"), data_key=records[0].data_key)
    lines, report = run("status", "--json")
    assert report["versions"] == [1, 2]
    assert report["current_version"] == 2
    assert report["rotation_in_progress"] == 2
    assert sum(v["live"] for v in report["data_keys"].values()) == 5
    assert sum(v["destroyed"] for v in report["data_keys"].values()) == 1
    lines, _ = run("status")
    assert lines[1] == "Key versions: 1, 2 (current 2)"
    assert any("unfinished" in line for line in lines)


def test_bad_options_are_refused(tmp_keyring):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        run("rotate", "--batch-size", "0")
    assert not KeyRotation.objects.exists()
    assert get_keyring().versions() == [1]
    assert os.path.exists(tmp_keyring)
