"""Marketing at scale: a five-condition segment compiled by the rule engine against the same
query written by hand in SQL; optionally the campaign queue figures.

With ``--database postgres://.../NAME`` the PostgreSQL database NAME is created if absent,
migrated, filled once (customers, people, accounts with sealed numbers, account roles and
transactions, each table with one ``COPY``) and kept: a second run reuses the data. Without
it, an SQLite file in a temporary directory is used (``executemany``), for the test suite.

The segment (as of ``AS_OF``): active people aged 25 to 55, salary credited in each of the
last 3 complete months, card payments of more than 5,000 in 90 days, no branch-channel
transaction in 180 days, and no term deposit. It is counted ``--runs`` times (after one
warm-up) through ``segment_parties(...).count()`` and through the hand-written SQL; the
medians and their ratio are printed as one JSON line. ``--queue`` adds the figures of
``bench.marketing_queue.queue_bench(database_url, parties)`` when that module exists.

    python bench/marketing.py --database postgres://postgres@127.0.0.1:5432/bankcrm_bench_mkt \\
        --customers 1000000 --transactions 10000000
    python bench/marketing.py --customers 2000 --transactions 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT / "src"), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

BENCH = "bench-mkt"
AS_OF = dt.date(2026, 11, 30)
HISTORY_DAYS = 183
CARD_SPEND = 5000
TARGET_S = 2.0
TARGET_RATIO = 1.2

SEGMENT = {
    "all": [
        {"field": "party.status", "op": "eq", "value": "active"},
        {"field": "person.age", "op": "between", "value": [25, 55]},
        {
            "field": "transactions.months_with",
            "kind": "salary",
            "direction": "credit",
            "months": 3,
            "op": "gte",
            "value": 3,
        },
        {
            "field": "transactions.sum",
            "kind": "card_payment",
            "within_days": 90,
            "op": "lt",
            "value": -CARD_SPEND,
        },
        {
            "field": "transactions.count",
            "channel": "branch",
            "within_days": 180,
            "op": "eq",
            "value": 0,
        },
        {"not": {"field": "holdings.holds", "category": "term_deposit"}},
    ]
}

PRODUCTS = (
    ("MKT-CUR", "Current account", "current", False),
    ("MKT-SAV", "Savings account", "savings", False),
    ("MKT-TD12", "12-month term deposit", "term_deposit", False),
    ("MKT-CARD", "Credit card", "credit_card", True),
)

PARTY_COLUMNS = (
    "id", "created_at", "updated_at", "custom_fields", "kind", "display_name", "status",
    "segment", "customer_since", "source_system", "source_id", "search_name", "search_pinyin",
    "owning_unit_id", "do_not_contact",
)  # fmt: skip
PERSON_COLUMNS = (
    "id", "created_at", "updated_at", "party_id", "family_name", "given_name", "native_name",
    "native_name_pinyin", "birth_year", "gender", "nationality", "occupation", "employer",
    "income_band",
)  # fmt: skip
ACCOUNT_COLUMNS = (
    "id", "created_at", "updated_at", "custom_fields", "number", "number_index",
    "number_last4", "product_id", "currency", "status", "opened_on", "branch_id", "owner_id",
    "balance", "available_balance", "balance_as_of", "source_system",
)  # fmt: skip
ROLE_COLUMNS = ("created_at", "updated_at", "account_id", "party_id", "role", "source_system")
TXN_COLUMNS = (
    "account_id", "booking_date", "amount", "currency", "direction", "kind", "channel",
    "description", "counterparty_name", "counterparty_account", "counterparty_bank",
    "counterparty_country", "source_id",
)  # fmt: skip


# Both hand-written queries: the customer (``p``) holds no open term deposit.
_NO_TERM_DEPOSIT = """NOT EXISTS (
            SELECT 1 FROM banking_accountrole ar
            JOIN banking_account a ON a.id = ar.account_id
            JOIN banking_product pr ON pr.id = a.product_id
            WHERE ar.party_id = p.id AND ar.role IN ('owner', 'joint_owner')
              AND a.status <> 'closed' AND pr.category = 'term_deposit')"""


def _hand_params(vendor: str) -> list[Any]:
    """The parameters of both hand-written queries, in their order: ages, the salary
    window and its months, the card window, the card threshold, the branch window."""
    from bankcrm.marketing.segments.compiler import month_starts, months_window

    first, end = months_window(AS_OF, 3)
    params: list[Any] = [AS_OF.year - 55, AS_OF.year - 25, first, end]
    params += [day for month in month_starts(first, end) for day in month]
    params += [
        AS_OF - dt.timedelta(days=89),
        -CARD_SPEND,
        AS_OF - dt.timedelta(days=179),
    ]
    if vendor != "postgresql":
        params = [p.isoformat() if isinstance(p, dt.date) else p for p in params]
    return params


def hand_sql(vendor: str) -> tuple[str, list[Any]]:
    """The segment as an engineer would write it by hand over the same tables the engine
    reads (customers, people, the daily activity per customer, accounts and products)."""
    from bankcrm.marketing.segments.compiler import month_starts, months_window

    first, end = months_window(AS_OF, 3)
    flags = " + ".join(
        "MAX(CASE WHEN d.day >= %s AND d.day < %s THEN 1 ELSE 0 END)"
        for _month in month_starts(first, end)
    )
    sql = f"""
        SELECT COUNT(*) FROM customers_party p
        JOIN customers_personprofile pp ON pp.party_id = p.id
        WHERE p.status = 'active' AND pp.birth_year BETWEEN %s AND %s
          AND p.id IN (
            SELECT d.party_id FROM banking_partydailyactivity d
            WHERE d.kind = 'salary' AND d.direction = 'credit'
              AND d.day >= %s AND d.day < %s
            GROUP BY d.party_id HAVING {flags} >= 3)
          AND p.id IN (
            SELECT d.party_id FROM banking_partydailyactivity d
            WHERE d.kind = 'card_payment' AND d.day >= %s
            GROUP BY d.party_id HAVING SUM(d.amount_total) < %s)
          AND NOT EXISTS (
            SELECT 1 FROM banking_partydailyactivity d
            WHERE d.party_id = p.id AND d.channel = 'branch' AND d.day >= %s)
          AND {_NO_TERM_DEPOSIT}
    """
    return sql, _hand_params(vendor)


def hand_sql_raw(vendor: str) -> tuple[str, list[Any]]:
    """The segment by hand over the raw bookings joined to their holders (what every
    transaction rule cost before the daily activity table): the baseline of the speed-up."""
    from bankcrm.marketing.segments.compiler import month_starts, months_window

    first, end = months_window(AS_OF, 3)
    # One flag per month (the hash-aggregate form; COUNT(DISTINCT month) would sort).
    flags = " + ".join(
        "MAX(CASE WHEN t.booking_date >= %s AND t.booking_date < %s THEN 1 ELSE 0 END)"
        for _month in month_starts(first, end)
    )
    holder = "ar.role IN ('owner', 'joint_owner')"
    sql = f"""
        SELECT COUNT(*) FROM customers_party p
        JOIN customers_personprofile pp ON pp.party_id = p.id
        WHERE p.status = 'active' AND pp.birth_year BETWEEN %s AND %s
          AND p.id IN (
            SELECT ar.party_id FROM banking_transaction t
            JOIN banking_accountrole ar ON ar.account_id = t.account_id AND {holder}
            WHERE t.kind = 'salary' AND t.direction = 'credit'
              AND t.booking_date >= %s AND t.booking_date < %s
            GROUP BY ar.party_id HAVING {flags} >= 3)
          AND p.id IN (
            SELECT ar.party_id FROM banking_transaction t
            JOIN banking_accountrole ar ON ar.account_id = t.account_id AND {holder}
            WHERE t.kind = 'card_payment' AND t.booking_date >= %s
            GROUP BY ar.party_id HAVING SUM(t.amount) < %s)
          AND NOT EXISTS (
            SELECT 1 FROM banking_accountrole ar
            JOIN banking_transaction t ON t.account_id = ar.account_id
            WHERE ar.party_id = p.id AND {holder}
              AND t.channel = 'branch' AND t.booking_date >= %s)
          AND {_NO_TERM_DEPOSIT}
    """
    return sql, _hand_params(vendor)


# --- Loading --------------------------------------------------------------------------------


def _adapt(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _load(table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> int:
    """Write rows with one COPY (PostgreSQL) or batched executemany (SQLite)."""
    from django.db import connection

    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    count = 0
    if connection.vendor == "postgresql":
        # Table and column names are the models' own, never input.
        statement = f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    marks = ", ".join(["%s"] * len(columns))
    statement = f"INSERT INTO {connection.ops.quote_name(table)} ({names}) VALUES ({marks})"
    batch: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(tuple(_adapt(v) for v in row))
            if len(batch) >= 5000:
                cursor.executemany(statement, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(statement, batch)
            count += len(batch)
    return count


class _AccountSealer:
    """Seals account numbers as ``Account.save()`` would (the table's data key, fetched once)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from bankcrm.banking.models import Account
        from bankcrm.core.crypto import envelope
        from bankcrm.core.crypto.fields import FORMAT_VERSION, _aad, _b64encode, _pad

        key_pk, dek = envelope.data_key_for_scope(f"table:{Account._meta.db_table}")
        self._header = bytes([FORMAT_VERSION]) + key_pk.bytes
        self._aead = AESGCM(dek)
        self._aad, self._pad, self._b64 = _aad, _pad, _b64encode
        self._field = Account._meta.get_field("number")
        self._index = Account._meta.get_field("number_index")

    def seal(self, value: str, pk: uuid.UUID) -> str:
        nonce = os.urandom(12)
        aad = self._aad(self._header, self._field, str(pk))
        sealed = self._aead.encrypt(nonce, self._pad(value.encode("utf-8")), aad)
        return self._b64(self._header + nonce + sealed)

    def index(self, value: str) -> str | None:
        return self._index.compute(value)


def _generate_customers(
    *, customers: int, seed: int, units: list[int], products: dict[str, int]
) -> dict[str, int]:
    """Customers, their person profiles and accounts (numbers sealed), one COPY each."""
    rng = random.Random(f"{BENCH}-{seed}")  # nosec B311
    now = dt.datetime.now(tz=dt.UTC)
    start = AS_OF - dt.timedelta(days=HISTORY_DAYS)
    party_ids: list[uuid.UUID] = []
    people: list[uuid.UUID] = []

    def parties() -> Iterator[tuple[Any, ...]]:
        for number in range(customers):
            pk = uuid.UUID(int=rng.getrandbits(128), version=4)
            is_person = rng.random() < 0.95
            party_ids.append(pk)
            if is_person:
                people.append(pk)
            status = "active" if rng.random() < 0.9 else rng.choice(("dormant", "closed"))
            name = f"Customer {number:07d}"
            yield (
                pk, now, now, "{}", "person" if is_person else "organisation", name, status,
                rng.choice(("mass", "mass", "affluent", "private")) if is_person else "sme",
                start - dt.timedelta(days=rng.randrange(4000)), BENCH, f"P{number:07d}",
                name.lower(), "", units[number % len(units)], False,
            )  # fmt: skip

    def persons() -> Iterator[tuple[Any, ...]]:
        for pk in people:
            yield (
                uuid.UUID(int=rng.getrandbits(128), version=4), now, now, pk, "Li", "Wei", "",
                "", AS_OF.year - rng.randrange(18, 80), rng.choice(("female", "male")), "CN",
                "", "", rng.choice(("under_50k", "50k_150k", "150k_500k")),
            )  # fmt: skip

    sealer = _AccountSealer()

    def accounts() -> Iterator[tuple[Any, ...]]:
        serial = 0
        for index, party in enumerate(party_ids):
            held = ["MKT-CUR"]
            if rng.random() < 0.4:
                held.append("MKT-SAV")
            if rng.random() < 0.15:
                held.append("MKT-TD12")
            if rng.random() < 0.5:
                held.append("MKT-CARD")
            for code in held:
                serial += 1
                pk = uuid.UUID(int=rng.getrandbits(128), version=4)
                number = f"62{serial:014d}"
                balance = Decimal(rng.randrange(0, 20_000_000)) / 100
                if code == "MKT-CARD":
                    balance = -balance / 10
                yield (
                    pk, now, now, "{}", sealer.seal(number, pk), sealer.index(number),
                    number[-4:], products[code], "CNY", "active",
                    start - dt.timedelta(days=rng.randrange(2000)), units[index % len(units)],
                    party, balance, balance, AS_OF, BENCH,
                )  # fmt: skip

    return {
        "parties": _load("customers_party", PARTY_COLUMNS, parties()),
        "people": _load("customers_personprofile", PERSON_COLUMNS, persons()),
        "accounts": _load("banking_account", ACCOUNT_COLUMNS, accounts()),
    }


def _roles_from_accounts() -> int:
    """Each bench account's holder as its owner, in one INSERT ... SELECT."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO banking_accountrole "
            "(created_at, updated_at, account_id, party_id, role, source_system) "
            "SELECT created_at, updated_at, id, owner_id, 'owner', source_system "
            "FROM banking_account WHERE source_system = %s",
            [BENCH],
        )
        return int(cursor.rowcount)


def _generate_transactions(*, transactions: int, seed: int) -> int:
    """``transactions`` bookings over the last ``HISTORY_DAYS`` days, one COPY: monthly
    salaries (at most 40 per cent of the rows; some customers skip a month), then card
    payments, transfers, ATM and branch cash, fees and standing orders."""
    from django.db import connection

    rng = random.Random(f"{BENCH}-transactions-{seed}")  # nosec B311
    start = AS_OF - dt.timedelta(days=HISTORY_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, p.kind, pr.code FROM banking_account a "
            "JOIN customers_party p ON p.id = a.owner_id "
            "JOIN banking_product pr ON pr.id = a.product_id "
            "WHERE a.source_system = %s AND pr.code IN ('MKT-CUR', 'MKT-CARD') "
            "ORDER BY p.source_id, pr.code",
            [BENCH],
        )
        rows = cursor.fetchall()
    current = [(pk, kind == "person") for pk, kind, code in rows if code == "MKT-CUR"]
    cards = [pk for pk, _kind, code in rows if code == "MKT-CARD"]
    months = []
    month = start.replace(day=1)
    while month <= AS_OF:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    days = [start + dt.timedelta(days=d) for d in range(HISTORY_DAYS + 1)]
    others = (
        ("transfer_in", "credit", "transfer", 1),
        ("transfer_out", "debit", "online", -1),
        ("cash_withdrawal", "debit", "atm", -1),
        ("cash_withdrawal", "debit", "branch", -1),
        ("cash_deposit", "credit", "branch", 1),
        ("fee", "debit", "system", -1),
        ("standing_order", "debit", "online", -1),
    )

    def txns() -> Iterator[tuple[Any, ...]]:
        made = 0
        budget = int(transactions * 0.4)
        for account, is_person in current:
            if made >= budget:
                break
            if not (is_person and rng.random() < 0.6):
                continue
            skip = rng.randrange(len(months)) if rng.random() < 0.15 else -1
            for position, first in enumerate(months):
                day = first.replace(day=10)
                if position == skip or not start <= day <= AS_OF or made >= budget:
                    continue
                made += 1
                yield (
                    account, day, Decimal(rng.randrange(500_000, 3_000_000)) / 100, "CNY",
                    "credit", "salary", "transfer", "", "", "", "", "", f"T{made:09d}",
                )  # fmt: skip
        while made < transactions:
            made += 1
            day = days[rng.randrange(len(days))]
            if cards and rng.random() < 0.45:
                amount = -Decimal(rng.randrange(1_000, 300_000)) / 100
                yield (
                    cards[rng.randrange(len(cards))], day, amount, "CNY", "debit",
                    "card_payment", "card", "", "", "", "", "", f"T{made:09d}",
                )  # fmt: skip
                continue
            account = current[rng.randrange(len(current))][0]
            kind, direction, channel, sign = others[rng.randrange(len(others))]
            if channel == "branch" and rng.random() < 0.7:
                channel = "atm" if direction == "debit" else "transfer"
            amount = sign * Decimal(rng.randrange(1_000, 500_000)) / 100
            yield (
                account, day, amount, "CNY", direction, kind, channel, "", "", "", "", "",
                f"T{made:09d}",
            )  # fmt: skip

    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _load("banking_transaction", TXN_COLUMNS, txns())
    # A bulk load as a DBA would run it: the secondary indexes built once afterwards, and
    # the foreign-key triggers off for this session (the rows reference bench accounts).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'banking_transaction' "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%%'"
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute("SET session_replication_role = replica")
        try:
            count = _load("banking_transaction", TXN_COLUMNS, txns())
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _name, definition in indexes:
            cursor.execute(definition)
    return count


def _setup(*, customers: int, transactions: int, seed: int, log: Callable[[str], None]) -> dict:
    from django.db import connection

    from bankcrm.access.models import OrgUnit
    from bankcrm.banking.models import AccountRole, Product, Transaction
    from bankcrm.core.actor import SystemActor
    from bankcrm.core.management.commands import demo as demo_command
    from bankcrm.customers.models import Party

    actor = SystemActor(BENCH)
    run_state = demo_command.DemoRun(password="Bench-Password-2024-Xy!", stdout=None)  # type: ignore[arg-type]
    demo_command.seed_organisation(actor=actor, demo=run_state)
    units = list(
        OrgUnit.objects.filter(kind=OrgUnit.Kind.BRANCH)
        .order_by("code")
        .values_list("pk", flat=True)
    )
    products = {}
    for code, name, category, liability in PRODUCTS:
        product, _created = Product.objects.get_or_create(
            code=code,
            defaults={"name": name, "category": category, "is_liability": liability},
        )
        products[code] = product.pk
    figures: dict[str, Any] = {"generated": False}
    started = time.perf_counter()
    existing = Party.objects.filter(source_system=BENCH).count()
    if existing == 0:
        figures.update(
            _generate_customers(customers=customers, seed=seed, units=units, products=products)
        )
        log(f"customers and accounts copied in {time.perf_counter() - started:.1f} s")
    elif existing != customers:
        raise SystemExit(
            f"bench/marketing.py: the database holds {existing} customers of this bench, "
            f"not {customers}"
        )
    if not AccountRole.objects.filter(source_system=BENCH).exists():
        figures["account_roles"] = _roles_from_accounts()
    held = Transaction.objects.filter(account__source_system=BENCH).count()
    if held == 0:
        moment = time.perf_counter()
        figures["transactions_copied"] = _generate_transactions(
            transactions=transactions, seed=seed
        )
        log(f"transactions copied in {time.perf_counter() - moment:.1f} s")
        # Loaded around the services (COPY): the daily activity per customer is rebuilt
        # as an operator would (``bankcrm banking rebuild-activity``).
        from bankcrm.banking.activity import party_activity_rebuild

        moment = time.perf_counter()
        party_activity_rebuild()
        figures["activity_rebuild_s"] = round(time.perf_counter() - moment, 1)
        log(f"daily activity rebuilt in {figures['activity_rebuild_s']} s")
        figures["generated"] = True
    elif held != transactions:
        raise SystemExit(
            f"bench/marketing.py: the database holds {held} transactions of this bench, "
            f"not {transactions}"
        )
    else:
        log(f"reusing {existing} customers and {held} transactions")
    figures["generate_s"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # Inside a transaction (the test suite): ANALYZE alone is allowed there.
            cursor.execute("ANALYZE")
        elif connection.vendor == "postgresql" and figures["generated"]:
            # What autovacuum would do after a load; the visibility map enables index-only scans.
            connection.ensure_connection()
            raw = connection.connection
            previous = raw.autocommit
            raw.autocommit = True
            try:
                for table in (
                    "customers_party",
                    "customers_personprofile",
                    "banking_account",
                    "banking_accountrole",
                    "banking_transaction",
                    "banking_partydailyactivity",
                ):
                    cursor.execute(f"VACUUM (ANALYZE) {table}")
            finally:
                raw.autocommit = previous
        elif connection.vendor != "postgresql":
            cursor.execute("ANALYZE")
    return figures


def _median_run(function: Callable[[], Any], runs: int) -> tuple[float, Any]:
    result = function()  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def bench(
    *,
    customers: int,
    transactions: int,
    runs: int = 7,
    seed: int = 1,
    queue: bool = False,
    database_url: str = "",
    jit_off: bool = False,
    log: Callable[[str], None] = lambda _message: None,
) -> dict[str, Any]:
    """The whole bench in the current (migrated) database; one result dict."""
    from django.db import connection

    from bankcrm.core.context import request_context
    from bankcrm.customers.models import Party
    from bankcrm.marketing.segments.compiler import segment_parties

    with request_context(channel="command"):
        setup = _setup(customers=customers, transactions=transactions, seed=seed, log=log)

    def compiled() -> int:
        return segment_parties(definition=SEGMENT, today=AS_OF).count()

    sql, params = hand_sql(connection.vendor)
    if jit_off and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")

    def by_hand() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.fetchone()[0])

    compiled_s, compiled_count = _median_run(compiled, runs)
    hand_s, hand_count = _median_run(by_hand, runs)
    raw_sql, raw_params = hand_sql_raw(connection.vendor)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(raw_sql, raw_params)
        raw_count = int(cursor.fetchone()[0])
        raw_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "benchmark": "marketing",
        "database": connection.vendor,
        "customers": Party.objects.filter(source_system=BENCH).count(),
        "transactions": transactions,
        "conditions": 5,
        "runs": runs,
        "jit": "off" if jit_off and connection.vendor == "postgresql" else "default",
        **setup,
        "members_compiled": compiled_count,
        "members_hand": hand_count,
        "counts_equal": compiled_count == hand_count == raw_count,
        "compiled_median_s": round(compiled_s, 4),
        "hand_sql_median_s": round(hand_s, 4),
        "ratio": round(compiled_s / hand_s, 3) if hand_s else None,
        # Once, after the medians: the same segment by hand over the raw bookings.
        "members_raw": raw_count,
        "hand_sql_raw_s": round(raw_s, 4),
        "speedup_vs_raw": round(raw_s / compiled_s, 2) if compiled_s else None,
        "target_compiled_s": TARGET_S,
        "target_ratio": TARGET_RATIO,
    }
    result["targets_met"] = {
        "compiled_under_2s": compiled_s < TARGET_S,
        "ratio_at_most_1_2": result["ratio"] is not None and result["ratio"] <= TARGET_RATIO,
    }
    if queue:
        if importlib.util.find_spec("bench.marketing_queue") is None:
            result["queue"] = {"skipped": "bench/marketing_queue.py is absent"}
        else:
            from bench.marketing_queue import queue_bench  # type: ignore[import-not-found]

            parties = list(
                Party.objects.filter(source_system=BENCH)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            result["queue"] = queue_bench(database_url, parties)
    return result


def _ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not found:
            admin.execute(f'CREATE DATABASE "{name}"')


def run(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[marketing bench] {message}", file=sys.stderr, flush=True)

    return bench(
        customers=args.customers,
        transactions=args.transactions,
        runs=args.runs,
        seed=args.seed,
        queue=args.queue,
        database_url=database_url,
        jit_off=args.no_jit,
        log=log,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queue", action="store_true", help="add the campaign queue figures")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--no-jit",
        action="store_true",
        help="PostgreSQL: SET jit = off for the timed queries (JIT compiles both for seconds)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("BANKCRM_BENCH_DATABASE_URL", ""),
        help="PostgreSQL database to create if absent, fill once and keep",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    if args.database:
        _ensure_database(args.database)
        # A kept database keeps its data keys: use the installation's keyring (var/).
        os.environ["BANKCRM_DATABASE_URL"] = args.database
        print(json.dumps(run(args, args.database), ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory(prefix="bankcrm-bench-mkt-") as tmp:
        os.environ["BANKCRM_VAR_DIR"] = tmp
        os.environ["BANKCRM_KEYRING"] = str(Path(tmp) / "keyring.json")
        url = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ["BANKCRM_DATABASE_URL"] = url
        print(json.dumps(run(args, url), ensure_ascii=False))


if __name__ == "__main__":
    main()
