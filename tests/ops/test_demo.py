"""``bankcrm demo``: the demo bank, created once; running it again changes nothing."""

from __future__ import annotations

import os
import stat

import pytest
from django.core.management import call_command

from bankcrm.access.models import OrgUnit, Portfolio, Role, User
from bankcrm.audit.models import AuditEvent
from bankcrm.core.management.commands import demo

DEMO_PASSWORD = "Demo-Bank-2024-Xy!"

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_env(settings, tmp_path, monkeypatch):
    # Argon2 is deliberately slow; hashing is not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VAR_DIR = tmp_path
    settings.PORT = 8765
    monkeypatch.setenv("BANKCRM_DEMO_PASSWORD", DEMO_PASSWORD)
    return tmp_path


def counts() -> dict[str, int]:
    return {
        "units": OrgUnit.objects.count(),
        "users": User.objects.count(),
        "portfolios": Portfolio.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def test_demo_bank_is_created_once(demo_env, capsys):
    before = counts()
    call_command("demo")
    first = capsys.readouterr().out
    after_first = counts()
    call_command("demo")
    second = capsys.readouterr().out

    assert after_first["units"] - before["units"] == 6
    # The 15 demo staff (one per role, two relationship managers, two marketing managers)
    # and two more service agents for the service desk's queues.
    assert after_first["users"] - before["users"] == 17
    assert after_first["portfolios"] - before["portfolios"] == 2
    assert counts() == after_first
    assert "Demo bank: " in first and "change(s) made." in first
    assert "Demo bank: already in place, nothing changed." in second


def test_organisation_tree(demo_env):
    call_command("demo")
    head = OrgUnit.objects.get(code="HO")
    assert head.kind == OrgUnit.Kind.HEAD_OFFICE and head.parent is None
    regions = {unit.code: unit for unit in OrgUnit.objects.filter(parent=head)}
    assert set(regions) == {"EAST", "NORTH"}
    assert set(OrgUnit.objects.filter(parent=regions["EAST"]).values_list("name", flat=True)) == {
        "Shanghai Pudong",
        "Hangzhou West Lake",
    }
    chaoyang = OrgUnit.objects.get(code="BJ-CY")
    assert chaoyang.parent == regions["NORTH"]
    assert chaoyang.path == f"/{head.pk}/{regions['NORTH'].pk}/{chaoyang.pk}/"


def test_every_role_has_a_demo_user_with_a_working_password(demo_env):
    call_command("demo")
    users = {
        u.username: u
        for u in User.objects.filter(username__in=[p.username for p in demo.DEMO_STAFF])
    }
    assert len(users) == 15
    held = {code for user in users.values() for code in user.roles.values_list("code", flat=True)}
    assert held == set(Role.Code.values)
    for person in demo.DEMO_STAFF:
        user = users[person.username]
        assert list(user.roles.values_list("code", flat=True)) == [person.role]
        assert user.org_unit.code == person.unit
        assert user.check_password(DEMO_PASSWORD)
        assert user.must_change_password is False
    zhang = Portfolio.objects.get(code="PF-SH-PD-01")
    assert zhang.manager == users["rm.zhang"] and zhang.org_unit.code == "SH-PD"
    assert Portfolio.objects.get(code="PF-BJ-CY-01").manager == users["rm.sun"]


def test_everything_is_audited_as_the_demo_job(demo_env):
    first_new = (AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    call_command("demo")
    events = AuditEvent.objects.filter(pk__gte=first_new)
    # The service desk's demo drives the real services the way its people do: agents reply
    # and move cases, the mail, web-form and survey jobs take in customers' messages. Those
    # events, and only those, carry the agents' or the jobs' names.
    service = events.exclude(actor="system:demo")
    assert set(service.values_list("actor", flat=True)) <= {
        "sa.liu", "sa.xu", "sa.guo", "bm.li", "bm.he",
        "system:support.mail", "system:support.survey", "system:support.web_form",
        "system:support.inbound", "system:support.sla_sweep", "system:support.complaints_overdue",
    }  # fmt: skip
    assert {t.split(".")[0] for t in service.values_list("object_type", flat=True)} <= {
        "support",
        "customers",
        "core",
    }
    actions = list(events.values_list("action", flat=True))
    assert actions.count("access.org_unit_create") == 6
    assert actions.count("access.user_create") == 17
    assert actions.count("access.portfolio_create") == 2


def test_logins_table(demo_env, capsys):
    call_command("demo")
    out = capsys.readouterr().out
    assert "bankcrm demo: open http://127.0.0.1:8765/" in out
    assert f"password for every demo user: {DEMO_PASSWORD}" in out
    assert "(from BANKCRM_DEMO_PASSWORD)" in out
    rows = {
        line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()
    }
    assert rows["co.chen"].rstrip().endswith("yes (enrol at first sign-in)")
    assert rows["au.zhou"].rstrip().endswith("yes (enrol at first sign-in)")
    assert rows["admin"].rstrip().endswith("yes (enrol at first sign-in)")
    assert rows["mr.wang"].rstrip().endswith("yes (enrol at first sign-in)")
    assert rows["rm.zhang"].rstrip().endswith("no")
    assert "Shanghai Pudong" in rows["rm.zhang"]
    assert "Relationship manager" in rows["rm.zhang"]


def test_changed_password_is_restored(demo_env, capsys):
    call_command("demo")
    user = User.objects.get(username="rm.zhang")
    user.set_password("Another-Secret-99")
    user.save(update_fields=["password"])
    capsys.readouterr()
    call_command("demo")
    assert "Demo bank: 1 change(s) made." in capsys.readouterr().out
    user.refresh_from_db()
    assert user.check_password(DEMO_PASSWORD)


def test_generated_password_is_kept_private(settings, tmp_path, monkeypatch, capsys):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("BANKCRM_DEMO_PASSWORD", raising=False)
    call_command("demo")
    path = tmp_path / "demo-password.txt"
    password = path.read_text().strip()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(password) == 22
    assert User.objects.get(username="au.zhou").check_password(password)
    out = capsys.readouterr().out
    assert f"password for every demo user: {password}" in out
    assert f"(from {path})" in out
    # The second run prints the same password and changes nothing.
    call_command("demo")
    assert f"password for every demo user: {password}" in capsys.readouterr().out
    assert path.read_text().strip() == password


def test_extension_point_runs_seeders_in_order(demo_env, monkeypatch):
    ran: list[str] = []

    def extra_seeder(*, actor, demo):
        ran.append(f"{actor}|{demo.password}")

    monkeypatch.setattr(demo, "extra_seeder", extra_seeder, raising=False)
    monkeypatch.setattr(demo, "DEMO_SEEDERS", [*demo.DEMO_SEEDERS, f"{demo.__name__}.extra_seeder"])
    call_command("demo")
    assert ran == [f"system:demo|{DEMO_PASSWORD}"]
