import io

import pytest
from django.core.management import CommandError, call_command

from bankcrm.access.models import OrgUnit, User
from bankcrm.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "Strong-Vault-1357"


def run(monkeypatch, *args, stdin=PASSWORD + "\n"):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("createuser", *args, stdout=out)
    return out.getvalue()


def test_creates_first_administrator_with_head_office(monkeypatch):
    out = run(
        monkeypatch,
        "ada",
        "--role",
        "administrator",
        "--unit",
        "HO",
        "--create-unit",
        "Head Office",
        "--email",
        "ada@bank.example",
        "--password-stdin",
    )
    assert "Created user ada in HO (administrator)." in out
    assert "Two-factor authentication will be set up at first sign-in." in out
    user = User.objects.get(username="ada")
    assert user.check_password(PASSWORD)
    assert list(user.roles.values_list("code", flat=True)) == ["administrator"]
    assert user.org_unit == OrgUnit.objects.get(code="HO", kind=OrgUnit.Kind.HEAD_OFFICE)
    assert user.must_change_password is False
    actors = set(AuditEvent.objects.values_list("actor", "channel"))
    assert actors == {("system:createuser", "command")}
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {
        "access.org_unit_create",
        "access.user_create",
        "access.user_roles_set",
    }


def test_unknown_unit_is_explained(monkeypatch):
    with pytest.raises(CommandError, match="No organisation unit has the code 'XX'"):
        run(monkeypatch, "ada", "--unit", "XX", "--password-stdin")
    assert User.objects.count() == 0


def test_unknown_role_is_named(monkeypatch):
    with pytest.raises(CommandError, match="Unknown role\\(s\\): wizard"):
        run(monkeypatch, "ada", "--role", "wizard", "--unit", "HO", "--password-stdin")


def test_weak_password_is_refused_with_reason(monkeypatch):
    with pytest.raises(CommandError) as exc:
        run(
            monkeypatch,
            "ada",
            "--unit",
            "HO",
            "--create-unit",
            "Head Office",
            "--password-stdin",
            stdin="short\n",
        )
    assert "password: This password is too short." in str(exc.value)
    # The transaction rolled back: not even the unit was created.
    assert (User.objects.count(), OrgUnit.objects.count()) == (0, 0)


def test_no_terminal_and_no_stdin_flag(monkeypatch):
    with pytest.raises(CommandError, match="pass --password-stdin"):
        run(monkeypatch, "ada", "--unit", "HO")
