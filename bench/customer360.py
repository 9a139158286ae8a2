"""Customer 360 at scale: bulk load speed against a raw copy, and the customer queries.

Builds a throw-away database (an SQLite file in a temporary directory, or with
``--postgres URL`` a temporary database on that server, dropped afterwards), runs the
migrations and the demo organisation, then:

1. generates ``--customers`` people (names, resident IDs, contact points) with one current
   account each and spreads ``--transactions`` bookings over the accounts;
2. loads the customers through the demo loader and times the transactions' bulk load
   (``banking.services.transactions_append_bulk``: checks, duplicate skip, monthly totals);
3. loads the same transaction rows again with a raw ``COPY`` (PostgreSQL) or a raw
   ``executemany`` (SQLite) into a copy of the table with the same indexes, and reports the
   ratio of the two speeds;
4. times, ``--runs`` times each, the customer search by name prefix, by pinyin and by exact
   resident ID (blind index), the 360 summary of a random customer, and a 50-row page of a
   relationship manager's portfolio, all through the selectors the pages and the API use.

Prints one JSON line: sizes, load rows/s, the ratio, and median and p95 milliseconds.

    python bench/customer360.py [--customers 10000] [--transactions 100000] [--runs 30]
    python bench/customer360.py --postgres postgres://postgres@127.0.0.1:5432/postgres \\
        --customers 1000000 --transactions 10000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

AS_OF = dt.date(2025, 6, 30)


class _Demo:
    """What the demo loader notes as it goes (nothing to print here)."""

    def note(self, what: str) -> None:
        pass


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _timed(function: Any, runs: int) -> dict[str, float]:
    function()  # warm the caches once, as a page in use would be
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return {
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(_percentile(times, 0.95), 2),
    }


def _generate(customers: int, transactions: int, seed: int) -> tuple[Any, list[Any]]:
    from bankcrm.integrations.demo_generator import (
        AccountRecord,
        DemoBank,
        DemoBankPlan,
        _Builder,
        account_number_for,
        money,
    )

    builder = _Builder(DemoBankPlan(customers=customers, seed=seed, as_of=AS_OF))
    bank = DemoBank()
    branches = ("SH-PD", "HZ-WL", "BJ-CY")
    for index in range(1, customers + 1):
        person = builder.person(index, branch=branches[index % 3])
        bank.persons.append(person)
        bank.accounts.append(
            AccountRecord(
                key=f"{person.key}-current",
                owner=person.key,
                product="current",
                number=account_number_for("current", person.branch, index * 6),
                currency="CNY",
                opened_on=AS_OF - dt.timedelta(days=400 + index % 2000),
                branch=person.branch,
                opening_balance=money(1000 + index % 50_000),
            )
        )
    # Bookings: spread evenly over the accounts and over the year, salary-like credits and
    # card-like debits, with their running balances.
    rng = random.Random(seed)
    per_account, extra = divmod(transactions, customers)
    rows: list[tuple[int, int, dt.date, Decimal, Decimal]] = []
    for number, account in enumerate(bank.accounts):
        balance = account.opening_balance
        count = per_account + (1 if number < extra else 0)
        for sequence in range(count):
            booked = AS_OF - dt.timedelta(days=364 - (sequence * 364) // max(count, 1))
            amount = (
                money(rng.randrange(5000, 30000))
                if sequence % 10 == 0
                else -money(rng.uniform(10, 800))
            )
            balance += amount
            rows.append((number, sequence + 1, booked, amount, balance))
    return bank, rows


def _transaction_rows(bank: Any, account_pks: dict[str, uuid.UUID], raw: list[Any]) -> list[Any]:
    from bankcrm.banking.services import TransactionRow

    accounts = bank.accounts
    return [
        TransactionRow(
            account_id=account_pks[accounts[number].key],
            source_id=str(sequence),
            booking_date=booked,
            value_date=booked,
            amount=amount,
            currency="CNY",
            direction="credit" if amount >= 0 else "debit",
            kind="salary" if amount >= 0 else "card_payment",
            channel="system" if amount >= 0 else "card",
            description="Salary" if amount >= 0 else "Card payment",
            counterparty_name="",
            counterparty_account="",
            counterparty_bank="",
            counterparty_country="CN",
            running_balance=balance,
        )
        for number, sequence, booked, amount, balance in raw
    ]


_COLUMNS = (
    "account_id",
    "booking_date",
    "value_date",
    "amount",
    "currency",
    "direction",
    "kind",
    "channel",
    "description",
    "counterparty_name",
    "counterparty_account",
    "counterparty_bank",
    "counterparty_country",
    "running_balance",
    "source_id",
)


def _raw_copy(rows: list[Any]) -> float:
    """Seconds to write ``rows`` with a raw COPY / executemany into a same-shaped table."""
    from django.db import connection, transaction

    values = [
        (
            row.account_id if connection.vendor == "postgresql" else row.account_id.hex,
            row.booking_date,
            row.value_date,
            row.amount,
            row.currency,
            row.direction,
            row.kind,
            row.channel,
            row.description,
            row.counterparty_name,
            row.counterparty_account,
            row.counterparty_bank,
            row.counterparty_country,
            row.running_balance,
            row.source_id,
        )
        for row in rows
    ]
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE TABLE bench_transaction_copy "
                "(LIKE banking_transaction INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES)"
            )
        else:
            cursor.execute(
                "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'banking_transaction' "
                "AND sql IS NOT NULL ORDER BY type DESC"
            )
            for _kind, sql in cursor.fetchall():
                cursor.execute(
                    sql.replace('"banking_transaction"', '"bench_transaction_copy"')
                    .replace('"txn_', '"bench_txn_')
                    .replace('"banking_transaction_', '"bench_transaction_copy_')
                )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY bench_transaction_copy ({columns}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            placeholders = ", ".join(["%s"] * len(_COLUMNS))
            for start in range(0, len(values), 50_000):
                cursor.executemany(
                    f"INSERT INTO bench_transaction_copy ({columns}) VALUES ({placeholders})",
                    [
                        tuple(str(v) if isinstance(v, Decimal | dt.date) else v for v in value)
                        for value in values[start : start + 50_000]
                    ],
                )
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)

    from bankcrm.access.models import User
    from bankcrm.banking.models import Account
    from bankcrm.banking.services import transactions_append_bulk
    from bankcrm.core.actor import SystemActor
    from bankcrm.core.context import request_context
    from bankcrm.core.management.commands import demo as demo_command
    from bankcrm.customers.models import Party
    from bankcrm.customers.search import customer_search
    from bankcrm.customers.selectors import customer_360, portfolio_customers
    from bankcrm.integrations.demo import demo_bank_load

    actor = SystemActor("bench")
    run_state = demo_command.DemoRun(password="Bench-Password-2024-Xy!", stdout=None)  # type: ignore[arg-type]
    with request_context(channel="command"):
        demo_command.seed_organisation(actor=actor, demo=run_state)
        demo_command.seed_staff(actor=actor, demo=run_state)

    generated_at = time.perf_counter()
    bank, raw = _generate(args.customers, args.transactions, args.seed)
    generate_seconds = time.perf_counter() - generated_at

    started = time.perf_counter()
    with request_context(channel="command"):
        demo_bank_load(actor=actor, bank=bank, demo=_Demo())
    customers_seconds = time.perf_counter() - started
    account_pks = dict(Account.objects.filter(source_system="demo").values_list("source_id", "pk"))
    rows = _transaction_rows(bank, account_pks, raw)
    del raw

    started = time.perf_counter()
    with request_context(channel="command"):
        for start in range(0, len(rows), args.batch):
            transactions_append_bulk(actor=actor, rows=rows[start : start + args.batch])
    load_seconds = time.perf_counter() - started
    copy_seconds = _raw_copy(rows)
    load_rate = len(rows) / load_seconds
    copy_rate = len(rows) / copy_seconds
    del rows

    if connection.vendor == "postgresql":
        # What autovacuum does on a live database after a load: statistics for the
        # planner, and the visibility map that lets index-only scans skip the table.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    # A bank-wide reader of customers (the administrator role manages users, not customers).
    admin = User.objects.get(username="ca.zhao")
    manager = User.objects.get(username="rm.zhang")
    rng = random.Random(args.seed)
    chinese = [p for p in bank.persons if p.native_name]
    party_pks = list(Party.objects.values_list("pk", flat=True)[:5000])
    portfolio_size = Party.objects.filter(portfolio__manager=manager).count()
    pages = max(1, portfolio_size // 50)

    def by_name() -> None:
        person = rng.choice(chinese)
        customer_search(actor=admin, query=person.native_name[:2])

    def by_pinyin() -> None:
        person = rng.choice(chinese)
        customer_search(actor=admin, query=person.pinyin.lower())

    def by_identifier() -> None:
        person = rng.choice(chinese)
        result = customer_search(actor=admin, query=person.resident_id)
        assert len(result.parties) == 1

    def by_360() -> None:
        customer_360(actor=admin, pk=rng.choice(party_pks))

    def portfolio_page() -> None:
        portfolio_customers(actor=manager, page=rng.randint(1, pages), page_size=50)

    with request_context(channel="command"):
        queries = {
            "search_name_prefix": _timed(by_name, args.runs),
            "search_pinyin": _timed(by_pinyin, args.runs),
            "search_resident_id": _timed(by_identifier, args.runs),
            "customer_360": _timed(by_360, args.runs),
            "portfolio_page_50": _timed(portfolio_page, args.runs),
        }
    return {
        "benchmark": "customer360",
        "database": connection.vendor,
        "customers": args.customers,
        "transactions": args.transactions,
        "portfolio_customers": portfolio_size,
        "runs": args.runs,
        "generate_s": round(generate_seconds, 1),
        "customers_load_s": round(customers_seconds, 1),
        "customers_load_rows_per_s": round(args.customers / customers_seconds),
        "transactions_load_s": round(load_seconds, 1),
        "transactions_load_rows_per_s": round(load_rate),
        "raw_copy_rows_per_s": round(copy_rate),
        "load_vs_raw_copy_ratio": round(load_rate / copy_rate, 3),
        "queries": queries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each query")
    parser.add_argument("--batch", type=int, default=200_000, help="rows per bulk-load call")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keep-database",
        default="",
        help="PostgreSQL only: name the database (replacing one of that name) and keep it "
        "afterwards, to read query plans",
    )
    parser.add_argument(
        "--postgres", default="", help="server URL; a temporary database is created on it"
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    with tempfile.TemporaryDirectory(prefix="bankcrm-bench-") as tmp:
        os.environ["BANKCRM_VAR_DIR"] = tmp
        os.environ["BANKCRM_KEYRING"] = str(Path(tmp) / "keyring.json")
        if not args.postgres:
            os.environ["BANKCRM_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            print(json.dumps(run(args)))
            return
        import psycopg

        name = args.keep_database or f"bankcrm_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = args.postgres.rsplit("/", 1)[0]
            os.environ["BANKCRM_DATABASE_URL"] = f"{base}/{name}"
            print(json.dumps(run(args)))
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep_database:
                with psycopg.connect(args.postgres, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
