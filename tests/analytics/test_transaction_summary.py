"""The nightly transaction summary: the transaction reports it answers read back exactly the
figures counted live from the bookings (the summary for its days, the bookings after), for
the bank and for a branch; other reports and portfolio viewers stay live; the run is
permissioned, audited, replaces the last one, and runs from the command line and Celery."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from bankcrm.access.models import Role
from bankcrm.analytics.builder import (
    report_table,
    resolve_parameters,
    run_report,
    validate_definition,
)
from bankcrm.analytics.models_transaction_summary import (
    TransactionDaySummary,
    TransactionSummaryRun,
)
from bankcrm.analytics.services_transaction_summary import transaction_summary_refresh
from bankcrm.analytics.standard_reports import STANDARD_REPORTS, standard_report
from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from tests.factories import OrgUnitFactory, UserFactory
from tests.factories.banking import AccountFactory, ProductFactory, TransactionFactory

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor("test.transaction_summary")
THROUGH = dt.date(2026, 10, 4)
PERIOD = {"since": "2026-09-01", "until": "2026-10-31"}
TRANSACTION_REPORTS = [r for r in STANDARD_REPORTS if r.definition["entity"] == "transactions"]
BY_CATEGORY_AND_WEEK = {
    "entity": "transactions",
    "parameters": [{"name": "since", "type": "date", "label": "From"}],
    "filters": [
        {"field": "booking_date", "op": "gte", "param": "since"},
        {"field": "kind", "op": "in", "value": ["salary", "card_payment", "transfer_in"]},
    ],
    "group_by": [
        "account.product.category",
        {"field": "booking_date", "by": "week"},
        "counterparty_country",
        "currency",
    ],
    "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "amount"}],
    "sort": [{"key": "sum_amount", "desc": True}],
}


@pytest.fixture
def bookings():
    """Two branches, two products, bookings on both sides of the summary's last day (4
    October), one before the period."""
    a, b = OrgUnitFactory(name="Branch A"), OrgUnitFactory(name="Branch B")
    current = ProductFactory(category="current")
    savings = ProductFactory(category="savings")
    first = AccountFactory(branch=a, product=current)
    second = AccountFactory(branch=a, product=savings)
    other = AccountFactory(branch=b, product=current)
    rows = (
        (first, dt.date(2026, 9, 10), "8000.00", "salary", "transfer", "CN"),
        (first, dt.date(2026, 9, 12), "-120.00", "card_payment", "card", "HK"),
        (first, dt.date(2026, 9, 12), "-80.00", "card_payment", "card", "HK"),
        (second, dt.date(2026, 9, 30), "500.00", "transfer_in", "online", ""),
        (first, dt.date(2026, 10, 3), "-300.00", "cash_withdrawal", "atm", ""),
        (first, dt.date(2026, 8, 30), "999.00", "transfer_in", "online", "CN"),
        (other, dt.date(2026, 10, 5), "50.00", "transfer_in", "online", "US"),
        (other, dt.date(2026, 9, 5), "7000.00", "salary", "transfer", "CN"),
        (second, dt.date(2026, 10, 9), "-40.00", "card_payment", "card", "HK"),
    )
    for account, day, amount, kind, channel, country in rows:
        TransactionFactory(
            account=account,
            booking_date=day,
            amount=Decimal(amount),
            kind=kind,
            channel=channel,
            counterparty_country=country,
        )
    return {"a": a, "b": b, "first": first, "other": other}


def _viewers(bookings):
    return {
        "bank": UserFactory(roles=[Role.objects.get(code="credit_analyst")]),
        "branch": UserFactory(
            roles=[Role.objects.get(code="branch_manager")], org_unit=bookings["a"]
        ),
    }


def _definitions():
    return [report.definition for report in TRANSACTION_REPORTS] + [BY_CATEGORY_AND_WEEK]


def _results(viewers):
    return {
        (index, name): run_report(definition, viewer, PERIOD)
        for index, definition in enumerate(_definitions())
        for name, viewer in viewers.items()
    }


def test_every_transaction_report_reads_back_the_live_figures(bookings):
    viewers = _viewers(bookings)
    live = _results(viewers)
    assert all(result.summary is None for result in live.values())
    run = transaction_summary_refresh(actor=SYSTEM, through=THROUGH)
    assert run.transaction_count == 7  # 5 and 9 October are after the run's last day
    summarised = _results(viewers)
    for key, result in summarised.items():
        assert result.summary == run, key
        assert result.rows == live[key].rows, key
        assert [c.key for c in result.columns] == [c.key for c in live[key].columns]
    # Hand figures: branch A's card payments, the bank's salaries.
    by_type = {(row[0], row[1]): row[3:] for row in summarised[(1, "branch")].rows}
    assert by_type[("Card payment", "Debit")] == [3, Decimal("-240.00")]
    bank_types = {(row[0], row[1]): row[3:] for row in summarised[(1, "bank")].rows}
    assert bank_types[("Salary", "Credit")] == [2, Decimal("15000.00")]
    by_branch = summarised[(3, "branch")].rows
    assert {row[0] for row in by_branch} == {"Branch A"}


def test_bookings_after_the_run_are_counted_and_earlier_ones_at_the_next_run(bookings):
    analyst = _viewers(bookings)["bank"]
    transaction_summary_refresh(actor=SYSTEM, through=THROUGH)
    definition = standard_report("transactions-by-month").definition

    def october_credit():
        rows = run_report(definition, analyst, PERIOD).rows
        october = dt.date(2026, 10, 1)
        return next(row[3:] for row in rows if row[0] == october and row[1] == "Credit")

    def credit(day, amount):
        TransactionFactory(
            account=bookings["other"],
            booking_date=day,
            amount=Decimal(amount),
            kind="transfer_in",
            channel="online",
        )

    assert october_credit() == [1, Decimal("50.00")]
    credit(dt.date(2026, 10, 20), "25.00")
    assert october_credit() == [2, Decimal("75.00")]
    # Loaded late for a day the run covers: counted from the next run on (documented).
    credit(dt.date(2026, 10, 2), "5.00")
    assert october_credit() == [2, Decimal("75.00")]
    transaction_summary_refresh(actor=SYSTEM, through=THROUGH)
    assert october_credit() == [3, Decimal("80.00")]


def test_other_reports_and_portfolio_viewers_are_counted_live(bookings):
    viewers = _viewers(bookings)
    transaction_summary_refresh(actor=SYSTEM, through=THROUGH)
    average = {**BY_CATEGORY_AND_WEEK, "aggregates": [{"fn": "avg", "field": "amount"}], "sort": []}
    on_amount = {
        **BY_CATEGORY_AND_WEEK,
        "filters": [{"field": "amount", "op": "lt", "value": "0"}],
        "parameters": [],
        "sort": [],
    }
    listing = {"entity": "transactions", "columns": ["booking_date", "amount"]}
    for definition in (average, on_amount, listing):
        assert run_report(definition, viewers["bank"], PERIOD).summary is None
    negative = run_report(on_amount, viewers["bank"], {})
    assert sum(row[4] for row in negative.rows) == 4  # the debits, counted booking by booking
    rm = UserFactory(roles=[Role.objects.get(code="relationship_manager")])
    by_type = standard_report("transactions-by-type").definition
    assert run_report(by_type, rm, PERIOD).summary is None


def test_the_row_count_of_an_export_and_the_page_note(client, bookings):
    viewers = _viewers(bookings)
    transaction_summary_refresh(actor=SYSTEM, through=THROUGH)
    definition = validate_definition(BY_CATEGORY_AND_WEEK)
    values = resolve_parameters(definition, {"since": "2026-09-01"})
    rows = run_report(definition, viewers["bank"], {"since": "2026-09-01"}).rows
    assert report_table(definition, viewers["bank"], values)[2] == len(rows) == 6
    client.force_login(viewers["branch"])
    page = client.get(reverse("analytics:standard_run", args=["transactions-by-type"]), PERIOD)
    html = page.content.decode()
    assert 'id="report-summary"' in html and "2026-10-04" in html
    export = client.get(
        reverse("analytics:standard_export", args=["transactions-by-type", "csv"]), PERIOD
    )
    assert export.status_code == 200
    body = b"".join(export.streaming_content).decode("utf-8-sig")
    lines = [line for line in body.splitlines() if line]
    event = AuditEvent.objects.filter(action="analytics.report_export").latest("pk")
    assert event.after["rows"] == len(lines) - 1 == 4


def test_a_run_replaces_the_last_is_audited_and_needs_its_permission(bookings):
    rm = UserFactory(roles=[Role.objects.get(code="relationship_manager")])
    with pytest.raises(PermissionDenied):
        transaction_summary_refresh(actor=rm, through=THROUGH)
    with pytest.raises(ValidationError):
        transaction_summary_refresh(actor=SYSTEM, through=dt.date.today() + dt.timedelta(400))
    assert not TransactionSummaryRun.objects.exists()
    first = transaction_summary_refresh(actor=SYSTEM, through=THROUGH)
    second = transaction_summary_refresh(actor=SYSTEM, through=dt.date(2026, 10, 31))
    assert list(TransactionSummaryRun.objects.all()) == [second]
    assert not TransactionDaySummary.objects.filter(run_id=first.pk).exists()
    assert second.transaction_count == 9
    assert second.row_count == TransactionDaySummary.objects.count()
    event = AuditEvent.objects.filter(action="analytics.transaction_summary_refresh").latest("pk")
    assert event.after == {"through": "2026-10-31", "rows": second.row_count, "transactions": 9}


def test_the_command_and_the_nightly_task(bookings):
    from bankcrm.analytics.tasks_dashboards import transaction_summary_refresh as task
    from bankcrm.config.celery import app

    out = StringIO()
    call_command("analytics", "refresh-transaction-summary", "--through", "2026-10-04", stdout=out)
    line = json.loads(out.getvalue())
    assert (line["through"], line["transactions"]) == ("2026-10-04", 7)
    with pytest.raises(CommandError, match="--through"):
        call_command("analytics", "refresh-transaction-summary", "--through", "4/10/2026")
    entry = app.conf.beat_schedule["analytics-transaction-summary-refresh"]
    assert entry["task"] == "analytics.transaction_summary_refresh" == task.name
    assert task.delay("2026-10-31").get()["through"] == "2026-10-31"
    assert AuditEvent.objects.filter(actor="system:analytics.transaction_summary_refresh").exists()
