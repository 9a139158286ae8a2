"""``bankcrm doctor``: one line per check, a fix for each failure, non-zero exit on failure."""

from __future__ import annotations

import os
import stat

import pytest
from django.core.management import call_command
from django.test import override_settings

from bankcrm.core.crypto.keyring import load_keyring
from bankcrm.core.management.commands import doctor


@pytest.fixture
def keyring_path(tmp_path, settings):
    path = tmp_path / "keyring.json"
    settings.KEYRING = str(path)
    settings.VAR_DIR = tmp_path
    return path


def run_doctor(capsys) -> tuple[int, list[str]]:
    try:
        call_command("doctor")
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out.splitlines()


def lines_of(output: list[str], name: str) -> list[str]:
    # "STATUS name-padded-to-14 detail": compare the whole name column.
    return [line for line in output if line[:4].strip() and line[5:19].rstrip() == name]


@pytest.mark.django_db
def test_healthy_installation_passes(keyring_path, capsys):
    code, output = run_doctor(capsys)
    assert code == 0, "\n".join(output)
    assert not [line for line in output if line.startswith("FAIL")]
    assert output[-1].startswith("doctor: ") and output[-1].endswith(" 0 FAIL")
    assert lines_of(output, "migrations") == ["OK   migrations     all applied"]
    # The embedded keyring is created on first use, private to its owner.
    assert lines_of(output, "keyring")[0].startswith(
        "OK   keyring        key versions 1; current 1"
    )
    assert stat.S_IMODE(os.stat(keyring_path).st_mode) == 0o600
    assert lines_of(output, "broker") == [
        "OK   broker         not configured: background jobs run in process"
    ]
    assert lines_of(output, "static files")[0].startswith("OK   static files   Bootstrap from ")


@pytest.mark.django_db
@override_settings(BROKER_URL="redis://127.0.0.1:1/0")
def test_broken_broker_fails_with_fix(keyring_path, capsys):
    code, output = run_doctor(capsys)
    assert code == 1
    broker = lines_of(output, "broker")
    assert broker[0].startswith("FAIL broker         cannot connect to redis://")
    assert "127.0.0.1:1/0" in broker[0]
    fix_line = output[output.index(broker[0]) + 1]
    assert fix_line.strip() == (
        "fix: start the broker (Redis or RabbitMQ) or correct BANKCRM_BROKER_URL"
    )
    assert output[-1].endswith(" 1 FAIL")


@pytest.mark.django_db
def test_insecure_keyring_file_mode_fails(keyring_path, capsys):
    load_keyring(str(keyring_path))  # creates it, 0600
    keyring_path.chmod(0o644)
    code, output = run_doctor(capsys)
    assert code == 1
    line = lines_of(output, "keyring file")[0]
    assert line == (
        f"FAIL keyring file   {keyring_path} has mode 0644: other users of this machine can "
        "read the keys"
    )
    assert output[output.index(line) + 1].strip() == (
        f"fix: chmod 600 {keyring_path} (and find out who may have copied it)"
    )
    # Nothing was loaded from an exposed file, and the file was left as found.
    assert lines_of(output, "keyring") == []
    assert stat.S_IMODE(keyring_path.stat().st_mode) == 0o644


@pytest.mark.django_db
def test_missing_keyring_variable_fails(settings, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DOCTOR_TEST_KEYRING_JSON", raising=False)
    settings.KEYRING = "env:DOCTOR_TEST_KEYRING_JSON"
    settings.VAR_DIR = tmp_path
    code, output = run_doctor(capsys)
    assert code == 1
    assert lines_of(output, "keyring source") == [
        "FAIL keyring source BANKCRM_KEYRING=env:DOCTOR_TEST_KEYRING_JSON but "
        "DOCTOR_TEST_KEYRING_JSON is not set"
    ]


@pytest.mark.django_db
def test_production_keyring_file_is_never_created(keyring_path, capsys):
    with override_settings(
        IS_PRODUCTION=True, ENVIRONMENT="production", STATIC_ROOT=keyring_path.parent
    ):
        code, output = run_doctor(capsys)
    assert code == 1
    assert lines_of(output, "keyring file") == [
        f"FAIL keyring file   {keyring_path} does not exist"
    ]
    assert not keyring_path.exists()


@pytest.mark.django_db
def test_unapplied_migrations_are_listed(keyring_path, capsys, monkeypatch):
    monkeypatch.setattr(
        doctor, "unapplied_migrations", lambda: ["access.0099_branch_codes", "audit.0042_x"]
    )
    code, output = run_doctor(capsys)
    assert code == 1
    line = lines_of(output, "migrations")[0]
    assert line == "FAIL migrations     2 not applied: access.0099_branch_codes, audit.0042_x"
    assert output[output.index(line) + 1].strip() == "fix: run: bankcrm migrate"


@pytest.mark.django_db
def test_production_problems_are_reported_per_line(keyring_path, capsys):
    with override_settings(
        IS_PRODUCTION=True,
        ENVIRONMENT="production",
        DEBUG=True,
        ALLOWED_HOSTS=["*"],
        SECRET_KEY_IS_DEFAULT=True,
        STATIC_ROOT=keyring_path.parent,
    ):
        code, output = run_doctor(capsys)
    assert code == 1
    assert lines_of(output, "secret key")[0].startswith(
        "FAIL secret key     BANKCRM_SECRET_KEY is not set"
    )
    assert lines_of(output, "debug")[0].startswith("FAIL debug          BANKCRM_DEBUG is on")
    assert lines_of(output, "allowed hosts")[0].startswith(
        "FAIL allowed hosts  BANKCRM_ALLOWED_HOSTS contains '*'"
    )
