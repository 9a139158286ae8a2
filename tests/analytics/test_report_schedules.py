"""Report schedules: due times in the schedule's zone, e-mails to each recipient with the rows
their own scope allows, audited; bad schedules refused with the field named."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from openpyxl import load_workbook

from bankcrm.access.models import Role
from bankcrm.analytics.models_report_definitions import ReportSchedule
from bankcrm.analytics.services_report_definitions import report_definition_create
from bankcrm.analytics.services_report_schedules import (
    next_run_after,
    report_schedule_create,
    report_schedules_run_due,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Product
from tests.factories import OrgUnitFactory, UserFactory
from tests.factories.banking import AccountFactory, ProductFactory

UTC = dt.UTC


def _at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "rule", "expected"),
    [
        # 08:00 in Shanghai is 00:00 UTC; just after it, the next is tomorrow's.
        (_at(2026, 12, 1, 0, 30), {"frequency": "daily"}, _at(2026, 12, 2, 0, 0)),
        (_at(2026, 11, 30, 23, 0), {"frequency": "daily"}, _at(2026, 12, 1, 0, 0)),
        # 2026-12-01 is a Tuesday: the next Monday is the 7th.
        (_at(2026, 12, 1, 0, 30), {"frequency": "weekly", "weekday": 0}, _at(2026, 12, 7, 0, 0)),
        # The 31st in a 28-day month is its last day.
        (
            _at(2027, 2, 1, 0, 0),
            {"frequency": "monthly", "day_of_month": 31},
            _at(2027, 2, 28, 0, 0),
        ),
    ],
)
def test_next_run_in_the_schedule_s_zone(after, rule, expected):
    moment = next_run_after(
        after=after, time_of_day=dt.time(8, 0), time_zone="Asia/Shanghai", **rule
    )
    assert moment == expected


def test_a_wall_time_skipped_by_daylight_saving_runs_after_the_gap():
    # Berlin springs forward at 02:00 on 2026-03-29: 02:30 does not exist that day.
    moment = next_run_after(
        after=_at(2026, 3, 28, 12, 0),
        frequency="daily",
        time_of_day=dt.time(2, 30),
        time_zone="Europe/Berlin",
    )
    assert moment == _at(2026, 3, 29, 1, 30)  # 03:30 summer time


@pytest.fixture
def bank(db):
    a, b = OrgUnitFactory(name="Branch A"), OrgUnitFactory(name="Branch B")
    savings = ProductFactory(code="SAV", category=Product.Category.SAVINGS)
    AccountFactory(branch=a, product=savings, balance=Decimal("100.00"))
    AccountFactory(branch=b, product=savings, balance=Decimal("7.00"))
    analyst = UserFactory(roles=[Role.objects.get(code="credit_analyst")], email="an@bank.example")
    manager = UserFactory(
        roles=[Role.objects.get(code="branch_manager")], org_unit=a, email="bm@bank.example"
    )
    report = report_definition_create(
        actor=analyst,
        name="Deposits",
        definition={
            "entity": "accounts",
            "group_by": ["branch", "currency"],
            "aggregates": [{"fn": "sum", "field": "balance"}],
            "sort": [{"key": "branch"}],
        },
        shared_with_roles=["branch_manager"],
    )
    return {"analyst": analyst, "manager": manager, "report": report}


def _schedule(bank, **changes):
    values = {
        "actor": bank["analyst"],
        "name": "Deposits every morning",
        "source": "analytics.saved_report",
        "parameters": {"report": bank["report"].pk},
        "fmt": "xlsx",
        "frequency": "daily",
        "time_of_day": dt.time(8, 0),
        "recipients": [bank["analyst"], bank["manager"]],
        "now": _at(2026, 12, 1, 1, 0),
    }
    values.update(changes)
    return report_schedule_create(**values)


@pytest.mark.django_db
def test_each_recipient_gets_the_rows_of_their_own_scope(bank):
    schedule = _schedule(bank)
    assert schedule.next_run_at == _at(2026, 12, 2, 0, 0)
    assert report_schedules_run_due(now=_at(2026, 12, 1, 23, 59)) == 0
    assert mail.outbox == []
    assert report_schedules_run_due(now=_at(2026, 12, 2, 0, 5)) == 1
    by_address = {message.to[0]: message for message in mail.outbox}
    assert set(by_address) == {"an@bank.example", "bm@bank.example"}

    def branches(message):
        _name, content, _type = message.attachments[0]
        sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
        return {row[0] for row in sheet.iter_rows(values_only=True)} & {"Branch A", "Branch B"}

    assert branches(by_address["an@bank.example"]) == {"Branch A", "Branch B"}
    assert branches(by_address["bm@bank.example"]) == {"Branch A"}
    schedule.refresh_from_db()
    assert schedule.next_run_at == _at(2026, 12, 3, 0, 0)
    assert AuditEvent.objects.filter(action="analytics.report_schedule_run").count() == 1
    # Running again before the next time sends nothing more.
    assert report_schedules_run_due(now=_at(2026, 12, 2, 0, 10)) == 0
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_recipient_without_the_permission_is_skipped_and_named(bank):
    teller = UserFactory(roles=[Role.objects.get(code="service_agent")], email="t@bank.example")
    schedule = _schedule(bank, recipients=[teller])
    report_schedules_run_due(now=schedule.next_run_at)
    assert mail.outbox == []
    schedule.refresh_from_db()
    assert teller.get_username() in schedule.last_outcome and "skipped" in schedule.last_outcome


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"source": "nothing"}, "source"),
        ({"fmt": "doc"}, "format"),
        ({"frequency": "weekly"}, "weekday"),
        ({"frequency": "monthly", "day_of_month": 40}, "day_of_month"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"recipients": []}, "recipients"),
    ],
)
def test_bad_schedules_are_refused(bank, changes, field):
    with pytest.raises(ValidationError) as raised:
        _schedule(bank, **changes)
    assert field in raised.value.message_dict
    assert not ReportSchedule.objects.exists()


@pytest.mark.django_db
def test_only_who_may_export_the_report_schedules_it(bank):
    agent = UserFactory(roles=[Role.objects.get(code="service_agent")])
    with pytest.raises(PermissionDenied):
        _schedule(bank, actor=agent)
