"""Bulk transaction load: idempotent by (account, source id), monthly flows kept."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.audit.models import AuditEvent
from bankcrm.banking import services
from bankcrm.banking.models import AccountMonthlyFlow, Transaction
from bankcrm.core.actor import SystemActor
from tests.factories.banking import AccountFactory

SYSTEM = SystemActor("import")


def _rows(account, count=30):
    rows = []
    for n in range(count):
        amount = Decimal("1000.50") if n % 3 == 0 else Decimal("-120.25")
        rows.append(
            services.TransactionRow(
                account_id=account.pk,
                source_id=f"T{n}",
                booking_date=dt.date(2024, 1 + n % 3, 1 + n),
                amount=amount,
                currency="CNY",
                kind="salary" if amount > 0 else "card_payment",
                counterparty_name=f"Shop {n}",
                running_balance=Decimal("5000") + n,
            )
        )
    return rows


def _flows(account):
    return list(
        AccountMonthlyFlow.objects.filter(account=account)
        .order_by("month")
        .values_list("month", "inflow", "outflow", "transaction_count")
    )


@pytest.mark.django_db(transaction=True)
def test_append_twice_gives_the_same_rows_and_flows(db_vendor):
    account = AccountFactory()
    first = services.transactions_append_bulk(actor=SYSTEM, rows=_rows(account), batch_size=7)
    assert (first.received, first.inserted, first.skipped, first.accounts) == (30, 30, 0, 1)
    stored = list(Transaction.objects.order_by("source_id").values_list("source_id", "amount"))
    flows = _flows(account)
    # 10 rows per month: months 1, 2, 3; n % 3 == 0 are the credits (all in January).
    assert flows == [
        (dt.date(2024, 1, 1), Decimal("10005.0000"), Decimal("0.0000"), 10),
        (dt.date(2024, 2, 1), Decimal("0.0000"), Decimal("1202.5000"), 10),
        (dt.date(2024, 3, 1), Decimal("0.0000"), Decimal("1202.5000"), 10),
    ]
    again = services.transactions_append_bulk(actor=SYSTEM, rows=_rows(account), batch_size=7)
    assert (again.received, again.inserted, again.skipped) == (30, 0, 30)
    assert list(Transaction.objects.order_by("source_id").values_list("source_id", "amount")) == (
        stored
    )
    assert _flows(account) == flows
    events = list(
        AuditEvent.objects.filter(action="transactions.append_bulk")
        .order_by("id")
        .values_list("after", flat=True)
    )
    assert events == [
        {"received": 30, "inserted": 30, "skipped": 0, "accounts": 1},
        {"received": 30, "inserted": 0, "skipped": 30, "accounts": 1},
    ]


@pytest.mark.django_db(transaction=True)
def test_new_rows_in_a_known_month_update_its_flow():
    account = AccountFactory()
    services.transactions_append_bulk(actor=SYSTEM, rows=_rows(account, 3))
    extra = {
        "account_id": account.pk, "source_id": "X1", "booking_date": dt.date(2024, 1, 20),
        "amount": Decimal("-50"), "currency": "CNY", "kind": "fee",
    }  # fmt: skip
    result = services.transactions_append_bulk(actor=SYSTEM, rows=[extra, extra])
    assert (result.inserted, result.skipped) == (1, 1)
    assert Transaction.objects.get(source_id="X1").direction == "debit"
    assert _flows(account)[0] == (dt.date(2024, 1, 1), Decimal("1000.5000"), Decimal("50.0000"), 2)


@pytest.mark.django_db(transaction=True)
def test_a_bad_row_stores_nothing():
    account = AccountFactory()
    rows = _rows(account, 5)
    rows.append({"account_id": account.pk, "source_id": "B", "booking_date": "2024-01-01",
                 "amount": Decimal("5"), "currency": "XXX"})  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        services.transactions_append_bulk(actor=SYSTEM, rows=rows, batch_size=2)
    assert list(caught.value.message_dict) == ["rows.5.currency"]
    assert Transaction.objects.count() == 0
    assert AccountMonthlyFlow.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_unknown_account_and_float_amounts_are_refused():
    import uuid

    row = {"account_id": uuid.uuid4(), "source_id": "1", "booking_date": dt.date(2024, 1, 1),
           "amount": Decimal("1"), "currency": "CNY"}  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        services.transactions_append_bulk(actor=SYSTEM, rows=[row])
    assert caught.value.message_dict["rows"][0].startswith("No account has the key")
    account = AccountFactory()
    with pytest.raises(ValidationError):
        services.transactions_append_bulk(
            actor=SYSTEM, rows=[{**row, "account_id": account.pk, "amount": 1.5}]
        )
    assert Transaction.objects.count() == 0


def test_an_rm_may_not_load_transactions(bank):
    account = AccountFactory(branch=bank.branch_a, owner=bank.customer_a)
    with pytest.raises(PermissionDenied):
        services.transactions_append_bulk(actor=bank.rm_a, rows=_rows(account, 1))
    assert Transaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_balances_from_running_balance():
    account = AccountFactory(balance=Decimal("0"))
    services.transactions_append_bulk(actor=SYSTEM, rows=_rows(account, 4))
    assert services.account_balances_from_transactions(actor=SYSTEM, account_ids=[account.pk]) == 1
    account.refresh_from_db()
    # Latest booking: n=2 on 2024-03-03 (running balance 5002).
    assert (account.balance, account.balance_as_of) == (Decimal("5002.0000"), dt.date(2024, 3, 3))


def _flows_recomputed_from_rows(account):
    """The monthly totals as summed from the stored rows, to compare with those kept."""
    totals = {}
    for booked, amount in Transaction.objects.filter(account=account).values_list(
        "booking_date", "amount"
    ):
        month = totals.setdefault(booked.replace(day=1), [Decimal(0), Decimal(0), 0])
        if amount > 0:
            month[0] += amount
        else:
            month[1] -= amount
        month[2] += 1
    return [(m, i, o, c) for m, (i, o, c) in sorted(totals.items())]


@pytest.mark.django_db(transaction=True)
def test_an_overlapping_load_stores_only_the_new_rows(db_vendor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    account = AccountFactory()
    rows = _rows(account, 30)
    with CaptureQueriesContext(connection) as fresh:
        first = services.transactions_append_bulk(actor=SYSTEM, rows=rows[:12], batch_size=4)
    assert (first.received, first.inserted, first.skipped) == (12, 12, 0)
    # Rows 8-11 again, then 18 new ones, in chunks of 4: the first chunks hold stored rows.
    with CaptureQueriesContext(connection) as overlapping:
        again = services.transactions_append_bulk(actor=SYSTEM, rows=rows[8:], batch_size=4)
    assert (again.received, again.inserted, again.skipped, again.accounts) == (22, 18, 4, 1)
    assert Transaction.objects.filter(account=account).count() == 30
    assert sorted(Transaction.objects.values_list("source_id", flat=True)) == sorted(
        f"T{n}" for n in range(30)
    )
    assert _flows(account) == _flows_recomputed_from_rows(account)
    assert _flows(account)[0] == (dt.date(2024, 1, 1), Decimal("10005.0000"), Decimal("0"), 10)
    if db_vendor == "postgresql":
        staging = "CREATE TEMPORARY TABLE IF NOT EXISTS banking_transaction_load"
        # New rows are copied straight into the table; only a chunk holding stored rows
        # goes through the staging table (and is not refused as a whole).
        assert not any(staging in q["sql"] for q in fresh.captured_queries)
        assert sum(staging in q["sql"] for q in overlapping.captured_queries) == 1
        assert sum("ON CONFLICT (account_id, source_id)" in q["sql"] for q in overlapping) == 1


@pytest.mark.django_db(transaction=True)
def test_an_unknown_account_in_a_later_chunk_stores_nothing():
    import uuid

    account = AccountFactory()
    rows = _rows(account, 9)
    missing = uuid.uuid4()
    rows.append(
        services.TransactionRow(
            account_id=missing,
            source_id="Z",
            booking_date=dt.date(2024, 1, 1),
            amount=Decimal("1"),
            currency="CNY",
        )
    )
    with pytest.raises(ValidationError) as caught:
        services.transactions_append_bulk(actor=SYSTEM, rows=rows, batch_size=3)
    assert caught.value.message_dict["rows"] == [f"No account has the key {missing}."]
    assert Transaction.objects.count() == 0
    assert AccountMonthlyFlow.objects.count() == 0
    assert not AuditEvent.objects.filter(action="transactions.append_bulk").exists()


@pytest.mark.django_db(transaction=True)
def test_amounts_are_stored_only_without_rounding():
    account = AccountFactory()
    base = {"account_id": account.pk, "booking_date": dt.date(2024, 1, 1), "currency": "CNY"}
    rows = [
        {**base, "source_id": "A", "amount": Decimal("12.3400000")},  # zeros lose nothing
        {**base, "source_id": "B", "amount": "-0.0001"},
    ]
    assert services.transactions_append_bulk(actor=SYSTEM, rows=rows).inserted == 2
    assert sorted(Transaction.objects.values_list("source_id", "amount")) == [
        ("A", Decimal("12.3400")),
        ("B", Decimal("-0.0001")),
    ]
    for bad in (Decimal("1.00001"), "0.00005", Decimal("1E+16"), Decimal("NaN")):
        with pytest.raises(ValidationError) as caught:
            services.transactions_append_bulk(
                actor=SYSTEM, rows=[{**base, "source_id": "C", "amount": bad}]
            )
        assert caught.value.message_dict == {"rows.0.amount": ["This amount cannot be stored."]}
    assert Transaction.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_only_a_load_in_its_own_transaction_skips_waiting_for_the_disk(db_vendor):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    if db_vendor != "postgresql":
        pytest.skip("synchronous_commit is a PostgreSQL setting")
    account = AccountFactory()
    rows = _rows(account, 6)
    setting = "SET LOCAL synchronous_commit = off"
    with CaptureQueriesContext(connection) as own:
        services.transactions_append_bulk(actor=SYSTEM, rows=rows[:3])
    assert [q["sql"] for q in own.captured_queries].count(setting) == 1
    with CaptureQueriesContext(connection) as inside, transaction.atomic():
        services.transactions_append_bulk(actor=SYSTEM, rows=rows[3:])
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
    assert setting not in [q["sql"] for q in inside.captured_queries]
    assert Transaction.objects.count() == 6
