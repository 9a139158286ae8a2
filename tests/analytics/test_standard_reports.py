"""The standard summaries (report-builder definitions shipped with bankcrm): valid, checked
against hand-computed figures, scoped, exported, copied into the builder."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.access.models import Role
from bankcrm.analytics.builder import run_report
from bankcrm.analytics.standard_reports import (
    STANDARD_REPORTS,
    check_standard_reports,
    default_parameters,
    standard_report,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Transaction
from tests.factories import OrgUnitFactory, UserFactory
from tests.factories.banking import AccountFactory, TransactionFactory

pytestmark = pytest.mark.django_db

PERIOD = {"since": "2026-09-01", "until": "2026-10-31"}


@pytest.fixture
def bookings():
    """Branch A: a salary of 8,000 and a card payment of -120 in September, an ATM
    withdrawal of -300 in October and one booking before the period; branch B: a transfer in
    of 50 in October."""
    a, b = OrgUnitFactory(name="Branch A"), OrgUnitFactory(name="Branch B")
    first, other = AccountFactory(branch=a), AccountFactory(branch=b)
    rows = (
        (first, dt.date(2026, 9, 10), "8000.00", "salary", "transfer"),
        (first, dt.date(2026, 9, 12), "-120.00", "card_payment", "card"),
        (first, dt.date(2026, 10, 3), "-300.00", "cash_withdrawal", "atm"),
        (first, dt.date(2026, 8, 30), "999.00", "transfer_in", "online"),
        (other, dt.date(2026, 10, 5), "50.00", "transfer_in", "online"),
    )
    for account, day, amount, kind, channel in rows:
        TransactionFactory(
            account=account, booking_date=day, amount=Decimal(amount), kind=kind, channel=channel
        )
    return a, b


def _bank_wide():
    return UserFactory(roles=[Role.objects.get(code="credit_analyst")])


def test_every_standard_definition_is_valid():
    check_standard_reports()
    assert len({r.key for r in STANDARD_REPORTS}) == len(STANDARD_REPORTS)


def test_transactions_by_month_match_hand_figures(bookings):
    report = standard_report("transactions-by-month")
    result = run_report(report.definition, _bank_wide(), PERIOD)
    assert result.rows == [
        [dt.date(2026, 9, 1), "Credit", "CNY", 1, Decimal("8000.00")],
        [dt.date(2026, 9, 1), "Debit", "CNY", 1, Decimal("-120.00")],
        [dt.date(2026, 10, 1), "Credit", "CNY", 1, Decimal("50.00")],
        [dt.date(2026, 10, 1), "Debit", "CNY", 1, Decimal("-300.00")],
    ]


def test_transactions_by_channel_and_by_branch(bookings):
    by_channel = run_report(
        standard_report("transactions-by-channel").definition, _bank_wide(), PERIOD
    )
    channels = {(row[0], row[1]): (row[3], row[4]) for row in by_channel.rows}
    atm = str(Transaction.Channel.ATM.label)
    assert channels[(atm, "Debit")] == (1, Decimal("-300.00"))
    assert sum(count for count, _amount in channels.values()) == 4
    by_branch = run_report(
        standard_report("transactions-by-branch").definition, _bank_wide(), PERIOD
    )
    assert [row[0] for row in by_branch.rows] == ["Branch A", "Branch A", "Branch B"]


def test_a_branch_manager_sees_their_branch_only(bookings):
    manager = UserFactory(roles=[Role.objects.get(code="branch_manager")], org_unit=bookings[0])
    result = run_report(standard_report("transactions-by-branch").definition, manager, PERIOD)
    assert {row[0] for row in result.rows} == {"Branch A"}


def test_the_default_period_is_the_last_twelve_months():
    report = standard_report("transactions-by-month")
    assert default_parameters(report, dt.date(2026, 12, 1)) == {
        "since": "2025-12-01",
        "until": "2026-12-01",
    }
    assert default_parameters(standard_report("customers-by-segment")) == {}


def test_page_export_and_copy(client, bookings):
    analyst = _bank_wide()
    client.force_login(analyst)
    index = client.get(reverse("analytics:report_index")).content.decode()
    assert reverse("analytics:standard_run", args=["transactions-by-month"]) in index
    page = client.get(reverse("analytics:standard_run", args=["transactions-by-type"]), PERIOD)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="report-table"' in html
    assert str(Transaction.Kind.SALARY.label) in html
    download = client.get(
        reverse("analytics:standard_export", args=["transactions-by-month", "xlsx"]), PERIOD
    )
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.content), read_only=True).worksheets[0]
    values = [row for row in sheet.iter_rows(values_only=True)]
    assert any(row and 8000 in row for row in values)
    event = AuditEvent.objects.filter(action="analytics.report_export").latest("pk")
    assert event.after["report"] == "analytics.standard_report"
    copy = client.get(reverse("analytics:builder"), {"standard": "transactions-by-month"})
    assert copy.status_code == 200
    assert 'value="Transactions by month"' in copy.content.decode()


def test_without_the_entity_permission_the_report_is_not_found(client):
    agent = UserFactory(roles=[Role.objects.get(code="marketing_manager")])
    client.force_login(agent)
    # Marketing managers read customers but not loans.
    assert (
        client.get(reverse("analytics:standard_run", args=["loans-by-bucket"])).status_code == 404
    )
