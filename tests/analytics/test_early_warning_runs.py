"""The nightly early-warning run: the account-based signals stored per account scope read
back exactly as the live report computes them, for the viewers whose account scope is the
run's; every other question (other thresholds or day, a portfolio's viewer) is computed live;
a rerun replaces the day's run; the refresh is audited and needs its permission."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from bankcrm.access.models import Role
from bankcrm.analytics.models_early_warning import EarlyWarningRun, StoredEarlyWarning
from bankcrm.analytics.selectors_early_warning import (
    STORED_SIGNALS,
    early_warning_list,
    early_warning_report,
)
from bankcrm.analytics.services_early_warning import (
    KEEP_DAYS,
    early_warning_account_scopes,
    early_warnings_refresh,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.customers.models import Party
from tests.analytics.test_early_warning import AS_OF, THRESHOLDS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor("test.early_warnings")


def snapshot(actor, **options):
    """The report's counts and rows as plain data, and whether a run served it."""
    report = early_warning_report(actor=actor, thresholds=THRESHOLDS, page_size=100, **options)
    return report.counts, [row.as_dict() for row in report.rows], report.computed_at


def test_a_stored_run_reads_back_as_the_live_report(warning_bank):
    bank = warning_bank.bank
    viewers = [bank.manager_a, bank.analyst, bank.rm_a]
    live = {viewer.username: snapshot(viewer) for viewer in viewers}
    narrowed = snapshot(bank.analyst, unit=bank.branch_b)
    one_signal = snapshot(bank.manager_a, signal="salary_stopped")
    assert all(computed is None for _c, _r, computed in live.values())

    result = early_warnings_refresh(actor=SYSTEM, as_of=AS_OF)

    # The bank and branch A (its manager reads branch A's accounts); the relationship
    # manager reads a portfolio, which no run holds.
    assert sorted(result.runs) == sorted(["bank", bank.branch_a.path])
    assert result.runs["bank"] == {
        "balance_drop": 6,
        "salary_stopped": 1,
        "large_outflow": 2,
        "dormant_reactivated": 2,
    }
    for viewer in viewers:
        counts, rows, computed = snapshot(viewer)
        assert (counts, rows) == live[viewer.username][:2], viewer.username
        assert (computed is not None) == (viewer is not bank.rm_a)
    assert snapshot(bank.analyst, unit=bank.branch_b)[:2] == narrowed[:2]
    assert snapshot(bank.manager_a, signal="salary_stopped")[:2] == one_signal[:2]
    listed = early_warning_list(actor=bank.manager_a, thresholds=THRESHOLDS)
    assert [row.as_dict() for row in listed.rows] == live["manager_a"][1]


def test_other_thresholds_or_days_are_computed_live(warning_bank):
    bank = warning_bank.bank
    early_warnings_refresh(actor=SYSTEM, as_of=AS_OF)
    wider = dataclasses.replace(THRESHOLDS, drop_percent=40)
    report = early_warning_report(actor=bank.analyst, thresholds=wider, page_size=100)
    assert report.computed_at is None
    # The near miss at 49 % is in at 40 %: the live statement ran, not the stored rows.
    assert report.counts["balance_drop"] == 7
    other_day = dataclasses.replace(THRESHOLDS, as_of=AS_OF - dt.timedelta(days=1))
    assert early_warning_report(actor=bank.analyst, thresholds=other_day).computed_at is None
    # A run stored at other thresholds (the defaults changed since) is not read.
    EarlyWarningRun.objects.update(thresholds={"drop_percent": "60"})
    assert early_warning_report(actor=bank.analyst, thresholds=THRESHOLDS).computed_at is None


def test_whom_a_viewer_sees_is_decided_when_the_run_is_read(warning_bank):
    bank = warning_bank.bank
    early_warnings_refresh(actor=SYSTEM, as_of=AS_OF)
    drop51 = warning_bank.people["drop51"]
    Party.objects.filter(pk=drop51.pk).update(status=Party.Status.CLOSED)
    counts, rows, computed = snapshot(bank.analyst)
    assert computed is not None
    assert str(drop51.pk) not in {row["party"] for row in rows}
    assert counts["balance_drop"] == 5
    # A branch manager of branch B: no run of their own yet, so live; after the next run,
    # theirs, holding branch B's customers only.
    manager_b = UserFactory(
        username="manager_b",
        org_unit=bank.branch_b,
        roles=[Role.objects.get(code="branch_manager")],
    )
    live = snapshot(manager_b)
    assert live[2] is None
    early_warnings_refresh(actor=SYSTEM, as_of=AS_OF)
    stored = snapshot(manager_b)
    assert stored[2] is not None and stored[:2] == live[:2]
    assert {row["party"] for row in stored[1]} == {str(warning_bank.people["branch_b"].pk)}


def test_a_rerun_replaces_the_days_run_and_old_runs_go(warning_bank):
    early_warnings_refresh(actor=SYSTEM, as_of=AS_OF - dt.timedelta(days=KEEP_DAYS + 1))
    early_warnings_refresh(actor=SYSTEM, as_of=AS_OF)
    first = StoredEarlyWarning.objects.count()
    early_warnings_refresh(actor=SYSTEM, as_of=AS_OF)
    assert StoredEarlyWarning.objects.count() == first
    assert sorted(EarlyWarningRun.objects.values_list("account_scope", "as_of")) == sorted(
        [("", AS_OF), (warning_bank.bank.branch_a.path, AS_OF)]
    )
    assert set(StoredEarlyWarning.objects.values_list("signal", flat=True)) <= set(STORED_SIGNALS)
    events = AuditEvent.objects.filter(action="analytics.early_warnings_refresh")
    assert events.count() == 6
    latest = events.order_by("-pk").first()
    assert latest.after["as_of"] == AS_OF.isoformat() and "balance_drop" in latest.after["counts"]


def test_the_refresh_needs_its_permission_and_a_day_not_in_the_future(warning_bank):
    with pytest.raises(PermissionDenied):
        early_warnings_refresh(actor=warning_bank.bank.rm_a, as_of=AS_OF)
    with pytest.raises(ValidationError):
        early_warnings_refresh(actor=SYSTEM, as_of=dt.date.today() + dt.timedelta(days=400))
    assert not EarlyWarningRun.objects.exists()


def test_the_account_scopes_are_the_bank_and_the_units_read_whole(warning_bank):
    bank = warning_bank.bank
    assert early_warning_account_scopes() == sorted(["", bank.branch_a.path])
    bank.manager_a.is_active = False
    bank.manager_a.save(update_fields=["is_active"])
    assert early_warning_account_scopes() == [""]


def test_the_command_prints_the_runs_and_names_a_bad_day(warning_bank):
    out = StringIO()
    call_command("analytics", "refresh-early-warnings", "--as-of", AS_OF.isoformat(), stdout=out)
    line = json.loads(out.getvalue())
    assert line["as_of"] == AS_OF.isoformat()
    assert line["runs"]["bank"]["salary_stopped"] == 1
    with pytest.raises(CommandError, match="--as-of"):
        call_command("analytics", "refresh-early-warnings", "--as-of", "30/06/2026")


def test_the_celery_task_stores_a_run_nightly(warning_bank):
    from bankcrm.analytics.tasks_early_warning import early_warnings_refresh as task
    from bankcrm.config.celery import app

    entry = app.conf.beat_schedule["analytics-early-warnings-refresh"]
    assert entry["task"] == "analytics.early_warnings_refresh" == task.name
    result = task.delay(AS_OF.isoformat()).get()
    assert result["runs"]["bank"]["dormant_reactivated"] == 2
    assert AuditEvent.objects.filter(
        action="analytics.early_warnings_refresh",
        actor="system:analytics.early_warnings_refresh",
    ).exists()
