# ruff: noqa: F811 - the shared fixtures are imported by name
"""The account and transaction lists and their exports: filters, scope, audit."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Transaction
from tests.customers.c360_world import World, rm_a_client, world  # noqa: F401
from tests.factories.banking import AccountFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_rows(response) -> list[list]:
    sheet = load_workbook(io.BytesIO(response.content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_account_list_shows_only_accounts_in_reach(rm_a_client, world: World):
    response = rm_a_client.get(reverse("banking:account_list"))
    accounts = list(response.context["page"].object_list)
    assert accounts == [world.account_li]
    content = response.content.decode()
    assert "**** 1234" in content and "9876" not in content
    assert "6222 0210 0000 1234" not in content


def test_account_list_query_count_is_fixed(rm_a_client, world: World):
    url = reverse("banking:account_list")
    rm_a_client.get(url)
    with CaptureQueriesContext(connection) as few:
        rm_a_client.get(url)
    for index in range(10):
        AccountFactory(
            number=f"6222 0210 1111 {index:04d}",
            owner=world.li_wei,
            branch=world.branch_a,
            product=world.savings,
        )
    with CaptureQueriesContext(connection) as many:
        response = rm_a_client.get(url)
    assert len(response.context["page"].object_list) == 11
    assert len(many) == len(few)


def test_transaction_list_filters(rm_a_client, world: World):
    url = reverse("banking:transaction_list")
    response = rm_a_client.get(url)
    assert [t.counterparty_name for t in response.context["items"]] == [
        "Supermarket",
        "Landlord Chen",
        "Acme Ltd",
    ]
    response = rm_a_client.get(url, {"direction": "debit", "amount_max": "1000"})
    assert [t.counterparty_name for t in response.context["items"]] == ["Supermarket"]
    response = rm_a_client.get(url, {"amount_min": "-5"})
    assert "Give the size of the amount, without a sign." in response.content.decode()
    assert response.context["items"] == []


def test_transaction_list_pages_with_more(rm_a_client, world: World, monkeypatch):
    from bankcrm.banking import views

    monkeypatch.setattr(views, "TRANSACTIONS_PER_PAGE", 2)
    url = reverse("banking:transaction_list")
    first = rm_a_client.get(url)
    assert len(first.context["items"]) == 2
    more = rm_a_client.get(url, {"cursor": first.context["next_cursor"]}, HTTP_HX_REQUEST="true")
    assert [t.counterparty_name for t in more.context["items"]] == ["Acme Ltd"]
    assert more.context["next_cursor"] is None
    assert rm_a_client.get(url, {"cursor": "not-a-cursor"}).status_code == 400


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_transaction_export_equals_the_filtered_list_and_is_audited(rm_a_client, world: World, fmt):
    filters = {"direction": "debit", "customer": str(world.li_wei.pk)}
    listed = rm_a_client.get(reverse("banking:transaction_list"), filters).context["items"]
    response = rm_a_client.get(reverse("banking:transaction_export", args=[fmt]), filters)
    assert response.status_code == 200
    rows = csv_rows(response) if fmt == "csv" else xlsx_rows(response)
    assert rows[0][:3] == ["Booking date", "Value date", "Account"]
    body = rows[1:]
    assert [(row[9], row[2]) for row in body] == [
        (t.counterparty_name, "**** 1234") for t in listed
    ]
    amounts = [Decimal(str(row[6])) for row in body]
    assert amounts == [Decimal("-500.00"), Decimal("-3500.00")]
    event = AuditEvent.objects.get(action="transaction.export")
    assert event.after == {
        "filters": {"direction": "debit", "customer": str(world.li_wei.pk)},
        "format": fmt,
        "rows": 2,
    }
    assert event.actor_user_id == world.rm_a.pk


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_account_export_equals_the_list(rm_a_client, world: World, fmt):
    response = rm_a_client.get(reverse("banking:account_export", args=[fmt]), {"status": "active"})
    rows = csv_rows(response) if fmt == "csv" else xlsx_rows(response)
    assert rows[0][0] == "Account number"
    assert [(row[0], row[3]) for row in rows[1:]] == [("**** 1234", "李伟")]
    assert Decimal(str(rows[1][5])) == Decimal("12500.00")
    assert AuditEvent.objects.get(action="account.export").after == {
        "filters": {"status": "active"},
        "format": fmt,
        "rows": 1,
    }


def test_exports_hold_nothing_of_branch_b(rm_a_client, world: World):
    for name in ("banking:account_export", "banking:transaction_export"):
        rows = csv_rows(rm_a_client.get(reverse(name, args=["csv"])))
        flat = " ".join(" ".join(row) for row in rows)
        assert "9876" not in flat and "张伟" not in flat and "Bank B fee" not in flat


def test_bad_export_filters_are_refused_and_nothing_is_recorded(rm_a_client, world: World):
    response = rm_a_client.get(
        reverse("banking:transaction_export", args=["csv"]), {"date_from": "not a date"}
    )
    assert response.status_code == 400
    assert rm_a_client.get("/banking/transactions/export.pdf").status_code == 404
    assert not AuditEvent.objects.filter(action__endswith=".export").exists()


def test_a_formula_in_a_description_stays_text(rm_a_client, world: World):
    TransactionFactory(
        account=world.account_li,
        amount=Decimal("1.00"),
        counterparty_name="=HYPERLINK(1)",
        kind=Transaction.Kind.OTHER,
    )
    rows = csv_rows(
        rm_a_client.get(reverse("banking:transaction_export", args=["csv"]), {"kind": "other"})
    )
    assert rows[1][9] == "'=HYPERLINK(1)"
