"""Banking API: scoped reads, masked numbers, transaction filters and cursor paging."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.test import Client

from tests.factories.banking import AccountFactory, TransactionFactory

API = "/api/v1/banking"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_accounts_scoped_and_masked(bank):
    mine = AccountFactory(owner=bank.customer_a, branch=bank.branch_a)
    theirs = AccountFactory(owner=bank.customer_b, branch=bank.branch_b)
    client = _client(bank.rm_a)
    assert [a["id"] for a in client.get(f"{API}/accounts").json()] == [str(mine.pk)]
    assert client.get(f"{API}/accounts/{theirs.pk}").status_code == 404
    body = client.get(f"{API}/accounts/{mine.pk}").json()
    assert body["number"] == f"**** {mine.number_last4}"
    assert client.get(f"{API}/transactions?account={theirs.pk}").status_code == 404
    assert client.get(f"{API}/party-roles?party={bank.customer_b.pk}").status_code == 404


def test_transactions_filter_and_page(bank):
    account = AccountFactory(owner=bank.customer_a, branch=bank.branch_a)
    for n in range(5):
        TransactionFactory(
            account=account, booking_date=dt.date(2024, 1, 1 + n), amount=Decimal(100 * (n + 1))
        )
    TransactionFactory(
        account=account,
        amount=Decimal("-700"),
        kind="rent",
        booking_date=dt.date(2024, 2, 1),
        counterparty_name="Landlord Wu",
    )
    client = _client(bank.rm_a)
    page = client.get(f"{API}/transactions?party={bank.customer_a.pk}&limit=4").json()
    assert [t["booking_date"] for t in page["items"]] == [
        "2024-02-01", "2024-01-05", "2024-01-04", "2024-01-03"
    ]  # fmt: skip
    rest = client.get(
        f"{API}/transactions?party={bank.customer_a.pk}&limit=4&cursor={page['next_cursor']}"
    ).json()
    assert [t["booking_date"] for t in rest["items"]] == ["2024-01-02", "2024-01-01"]
    assert rest["next_cursor"] is None
    big = client.get(f"{API}/transactions?account={account.pk}&amount_min=400").json()
    assert [t["amount"] for t in big["items"]] == ["-700.0000", "500.0000", "400.0000"]
    landlord = client.get(f"{API}/transactions?account={account.pk}&counterparty=wu").json()
    assert [t["kind"] for t in landlord["items"]] == ["rent"]
    dated = client.get(
        f"{API}/transactions?account={account.pk}&date_from=2024-01-02&date_to=2024-01-03"
    ).json()
    assert len(dated["items"]) == 2
