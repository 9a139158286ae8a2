"""The nightly RFM run: the stored scores read back exactly the live report and customer
lists for a branch manager and bank-wide; other days and windows and portfolio viewers are
scored live; a customer moved out of the unit after the run is not shown; the run is
permissioned, audited, replaces the day's earlier run and runs from the command line and
Celery."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from bankcrm.analytics.models_rfm import RfmRun, StoredRfmScore
from bankcrm.analytics.rfm import DEFAULT_MONTHS
from bankcrm.analytics.selectors_rfm import rfm_customer_list, rfm_report
from bankcrm.analytics.services_rfm import rfm_refresh
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from tests.analytics.test_rfm import AS_OF, EXPECTED
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor("test.rfm")


def _executive():
    from bankcrm.access.models import Role

    return UserFactory(roles=[Role.objects.get(code="executive")])


def _read(actor):
    report = rfm_report(actor=actor, as_of=AS_OF)
    rows = rfm_customer_list(actor=actor, as_of=AS_OF, limit=None)
    lost = rfm_customer_list(actor=actor, as_of=AS_OF, segment="lost")
    return report, rows, lost


def test_the_stored_run_reads_back_the_live_report_and_lists(rfm_bank):
    bank, _people = rfm_bank
    executive = _executive()
    live = {name: _read(actor) for name, actor in (("a", bank.manager_a), ("x", executive))}
    assert all(report.computed_at is None for report, _r, _l in live.values())
    runs = rfm_refresh(actor=SYSTEM, as_of=AS_OF)
    assert runs["bank"] == 6 and runs[bank.branch_a.path] == 5
    for name, actor in (("a", bank.manager_a), ("x", executive)):
        report, rows, lost = _read(actor)
        assert report.computed_at is not None
        live_report = live[name][0]
        assert report.as_dict() == live_report.as_dict()
        assert [row.as_dict() for row in rows] == [row.as_dict() for row in live[name][1]]
        assert [row.as_dict() for row in lost] == [row.as_dict() for row in live[name][2]]
    # The hand-computed figures, from the branch's own run (ranked among its customers).
    rows = {row.display_name[-1]: row for row in _read(bank.manager_a)[1]}
    for name, (last, days, frequency, monetary, scores, segment) in EXPECTED.items():
        row = rows[name]
        assert (row.last_booking, row.recency_days, row.frequency, row.monetary) == (
            last,
            days,
            frequency,
            monetary,
        )
        scored = (row.recency_score, row.frequency_score, row.monetary_score)
        assert (scored, row.segment) == (scores, segment)


def test_other_windows_days_and_portfolios_are_scored_live(rfm_bank):
    bank, _people = rfm_bank
    rfm_refresh(actor=SYSTEM, as_of=AS_OF)
    assert rfm_report(actor=bank.manager_a, as_of=AS_OF, months=6).computed_at is None
    other_day = AS_OF.replace(day=29)
    assert rfm_report(actor=bank.manager_a, as_of=other_day).computed_at is None
    assert rfm_report(actor=bank.rm_a, as_of=AS_OF).computed_at is None


def test_a_customer_moved_after_the_run_is_not_shown_to_the_old_unit(rfm_bank):
    bank, people = rfm_bank
    rfm_refresh(actor=SYSTEM, as_of=AS_OF)
    moved = people["A"]
    moved.owning_unit = bank.branch_b
    moved.save(update_fields=["owning_unit"])
    report, rows, _lost = _read(bank.manager_a)
    assert report.computed_at is not None
    assert str(moved.pk) not in {row.party_pk for row in rows}
    assert report.customers == 4


def test_the_page_says_where_the_scores_come_from(client, rfm_bank):
    bank, _people = rfm_bank
    rfm_refresh(actor=SYSTEM, as_of=AS_OF)
    client.force_login(bank.manager_a)
    page = client.get(reverse("analytics:report_rfm"), {"as_of": AS_OF.isoformat()})
    assert page.status_code == 200
    assert 'id="rfm-run"' in page.content.decode()


def test_reruns_replace_the_day_are_audited_and_need_the_permission(rfm_bank):
    bank, _people = rfm_bank
    with pytest.raises(PermissionDenied):
        rfm_refresh(actor=bank.rm_a, as_of=AS_OF)
    with pytest.raises(ValidationError):
        rfm_refresh(actor=SYSTEM, as_of=AS_OF.replace(year=2999))
    assert not RfmRun.objects.exists()
    rfm_refresh(actor=SYSTEM, as_of=AS_OF)
    rfm_refresh(actor=SYSTEM, as_of=AS_OF)
    assert RfmRun.objects.count() == 2  # the bank and branch A, once each
    assert StoredRfmScore.objects.count() == 6 + 5
    assert {run.months for run in RfmRun.objects.all()} == {DEFAULT_MONTHS}
    events = AuditEvent.objects.filter(action="analytics.rfm_refresh")
    assert events.count() == 4
    assert events.latest("pk").after["as_of"] == AS_OF.isoformat()


def test_the_command_and_the_nightly_task(rfm_bank):
    from bankcrm.analytics.tasks_dashboards import rfm_refresh as task
    from bankcrm.config.celery import app

    out = StringIO()
    call_command("analytics", "refresh-rfm", "--as-of", AS_OF.isoformat(), stdout=out)
    line = json.loads(out.getvalue())
    assert line["as_of"] == AS_OF.isoformat() and line["runs"]["bank"] == 6
    with pytest.raises(CommandError, match="--as-of"):
        call_command("analytics", "refresh-rfm", "--as-of", "30/06/2026")
    entry = app.conf.beat_schedule["analytics-rfm-refresh"]
    assert entry["task"] == "analytics.rfm_refresh" == task.name
    assert task.delay(AS_OF.isoformat()).get()["bank"] == 6
    assert AuditEvent.objects.filter(actor="system:analytics.rfm_refresh").exists()
