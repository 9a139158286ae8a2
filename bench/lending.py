"""Lending at scale: the schedule engine, the pipeline board and the nightly delinquency run.

Builds a throw-away database (an SQLite file in a temporary directory, or with
``--postgres URL`` a temporary database on that server, dropped afterwards), runs the
migrations, the demo organisation and ``--customers`` demo customers with their accounts,
then:

1. times ``schedule_build`` of a 360-month annuity (``--runs`` times; no database);
2. writes ``--applications`` loan applications spread over the workflow's states (bulk
   insert, untimed) and times ``selectors_pipeline.pipeline_board`` for a bank-wide credit
   analyst;
3. writes ``--loans`` loans with 12 monthly instalments each (COPY on PostgreSQL, one
   ``INSERT … SELECT`` for the instalments; ``executemany`` on SQLite), untimed, as the
   previous night left them: most paid up, ``--new-arrears`` of them with an instalment
   unpaid since yesterday and ``--delinquent`` of them further behind. Then times
   ``delinquency_run`` for today (chunks of ``--chunk-size`` as Celery tasks, in process
   without a broker), and, for comparison, the same recalculation of every loan in one
   transaction without chunks, change rows or events (rolled back).

The outbox events the run writes are left pending (delivering them, and the RM tasks they
create, is the workers' job): the figure is the recalculation alone. Prints one JSON line.

    python bench/lending.py [--loans 20000] [--applications 5000]
    python bench/lending.py --postgres postgres://postgres@127.0.0.1:5432/postgres \\
        --loans 1000000 --applications 100000
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
    def note(self, what: str) -> None:
        pass


def _median_ms(function: Any, runs: int) -> dict[str, float]:
    function()  # warm up once
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
    }


def _schedule_bench(runs: int) -> dict[str, Any]:
    from bankcrm.lending.schedule import ScheduleTerms, schedule_build

    terms = ScheduleTerms(
        principal=Decimal("1000000.00"),
        annual_rate=Decimal("3.85"),
        periods=360,
        method="annuity",
        day_count="act365",
        start=dt.date(2025, 1, 15),
    )
    assert len(schedule_build(terms).lines) == 360
    return {"periods": 360, **_median_ms(lambda: schedule_build(terms), runs)}


def _applications(count: int, seed: int) -> int:
    """``count`` applications over the open and final states, by bulk insert."""
    from django.db import transaction
    from django.utils import timezone

    from bankcrm.access.models import OrgUnit, User
    from bankcrm.banking.models import Account
    from bankcrm.core.models.workflow import WorkflowDefinition
    from bankcrm.integrations.bulk import bulk_insert
    from bankcrm.lending.models import LoanApplication

    rng = random.Random(seed)
    workflow = WorkflowDefinition.objects.get(key="loan_application", is_active=True)
    states = list(workflow.states.values_list("code", "sla_hours"))
    products = _products()
    branches = list(OrgUnit.objects.filter(kind="branch").values_list("pk", flat=True))
    officers = list(User.objects.filter(roles__code="loan_officer").values_list("pk", flat=True))
    owners = list(Account.objects.values_list("owner_id", "branch_id"))
    now = timezone.now()
    made = 0
    for start in range(0, count, 20_000):
        rows = []
        for index in range(start, min(count, start + 20_000)):
            state, sla = states[index % len(states)]
            entered = now - dt.timedelta(hours=rng.randrange(1, 24 * 60))
            applicant, branch = owners[index % len(owners)]
            product = products[index % len(products)]
            rows.append(
                LoanApplication(
                    id=uuid.uuid4(),
                    reference=f"LA-2025-{index + 1:06d}",
                    product=product,
                    applicant_id=applicant,
                    branch_id=branch if branch in branches else branches[0],
                    officer_id=officers[index % len(officers)] if officers else None,
                    purpose="Home renovation",
                    amount=Decimal(rng.randrange(10, 500)) * 1000,
                    currency="CNY",
                    term_months=12 * rng.randrange(1, 6),
                    workflow=workflow,
                    state=state,
                    state_entered_at=entered,
                    state_due_at=entered + dt.timedelta(hours=sla) if sla else None,
                )
            )
        with transaction.atomic():
            made += bulk_insert(LoanApplication, rows)
    return made


def _products() -> list[Any]:
    from bankcrm.lending.models import LoanProduct

    specs = [
        ("pl01", "Personal loan", "personal", 12, 60),
        ("mg01", "Home mortgage", "mortgage", 60, 360),
    ]
    products = []
    for code, name, kind, low, high in specs:
        product, _created = LoanProduct.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "type": kind,
                "currency": "CNY",
                "min_amount": Decimal("10000"),
                "max_amount": Decimal("5000000"),
                "min_term_months": low,
                "max_term_months": high,
                "nominal_rate": Decimal("4.2"),
            },
        )
        products.append(product)
    return products


_LOAN_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "custom_fields",
    "reference",
    "product_id",
    "borrower_id",
    "account_id",
    "branch_id",
    "principal",
    "currency",
    "annual_rate",
    "term_months",
    "method",
    "day_count",
    "frequency",
    "disbursed_on",
    "maturity_date",
    "status",
    "outstanding_principal",
    "arrears",
    "oldest_unpaid_due_on",
    "days_past_due",
    "bucket",
    "bucket_since",
    "delinquency_as_of",
    "source_system",
)


def _add_months(day: dt.date, months: int) -> dt.date:
    import calendar

    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _loans(count: int, new_arrears: float, delinquent: float, seed: int) -> dict[str, int]:
    """``count`` loans of 12 monthly instalments, as yesterday's run left them."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bankcrm.banking.models import Account
    from bankcrm.lending.delinquency import bucket_for

    rng = random.Random(seed)
    product = _products()[0]
    accounts = list(Account.objects.values_list("pk", "owner_id", "branch_id"))
    yesterday = AS_OF - dt.timedelta(days=1)
    now = timezone.now()
    postgres = connection.vendor == "postgresql"
    kinds = {"new_arrears": 0, "delinquent": 0, "current": 0}
    rows = []
    for index in range(count):
        disbursed = AS_OF - dt.timedelta(days=35 + index % 300)
        dues = [_add_months(disbursed, k) for k in range(1, 13)]
        draw = rng.random()
        if draw < new_arrears:
            # An instalment fell due yesterday and is not paid.
            disbursed = _add_months(yesterday, -3)
            dues = [_add_months(disbursed, k) for k in range(1, 13)]
            oldest = dues[2]
            kinds["new_arrears"] += 1
        elif draw < new_arrears + delinquent:
            oldest = AS_OF - dt.timedelta(days=rng.randrange(2, 200))
            disbursed = oldest - dt.timedelta(days=31)
            dues = [_add_months(disbursed, k) for k in range(1, 13)]
            oldest = dues[0]
            kinds["delinquent"] += 1
        else:
            oldest = next((day for day in dues if day > yesterday), None)
            kinds["current"] += 1
        dpd = max(0, (yesterday - oldest).days) if oldest else 0
        account, owner, branch = accounts[index % len(accounts)]
        principal = Decimal(rng.randrange(10, 300)) * 1000
        values = (
            uuid.uuid4(),
            now,
            now,
            "{}",
            f"LN-2025-{index + 1:07d}",
            product.pk,
            owner,
            account,
            branch,
            principal,
            "CNY",
            Decimal("4.2"),
            12,
            "annuity",
            "30360",
            "monthly",
            disbursed,
            dues[-1],
            "performing",
            principal,
            Decimal(0),
            oldest,
            dpd,
            bucket_for(dpd),
            disbursed,
            yesterday,
            "bench",
        )
        rows.append(values if postgres else tuple(_sqlite(value) for value in values))
    columns = ", ".join(_LOAN_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            with cursor.copy(f"COPY lending_loan ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(_LOAN_COLUMNS))
            cursor.executemany(
                f"INSERT INTO lending_loan ({columns}) VALUES ({placeholders})", rows
            )
    del rows
    _instalments(postgres)
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) lending_loan")
            cursor.execute("VACUUM (ANALYZE) lending_instalment")
    return kinds


def _sqlite(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, Decimal | dt.date):
        return str(value)
    return value


def _instalments(postgres: bool) -> None:
    """12 equal-principal-and-interest lines per loan: paid before its oldest unpaid day."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            # Build the secondary indexes once after the load rather than row by row.
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                "'lending_instalment' AND indexname NOT LIKE '%%_pkey'"
            )
            indexes = cursor.fetchall()
            constraints = {
                name
                for (name,) in _rows(
                    cursor,
                    "SELECT conname FROM pg_constraint WHERE conrelid = "
                    "'lending_instalment'::regclass AND contype = 'u'",
                )
            }
            for name, _definition in indexes:
                if name in constraints:
                    cursor.execute(f'ALTER TABLE lending_instalment DROP CONSTRAINT "{name}"')
                else:
                    cursor.execute(f'DROP INDEX "{name}"')
            cursor.execute(
                """
                INSERT INTO lending_instalment (loan_id, schedule_version, is_current, number,
                    due_on, principal, interest, fee, amount_due, closing_balance,
                    amount_paid, paid_on)
                SELECT l.id, 1, true, k.n,
                    (l.disbursed_on + make_interval(months => k.n))::date,
                    round(l.principal / 12, 2), round(l.principal * 0.0035, 2), 0,
                    round(l.principal / 12, 2) + round(l.principal * 0.0035, 2),
                    l.principal - round(l.principal / 12, 2) * k.n,
                    CASE WHEN l.oldest_unpaid_due_on IS NULL
                              OR (l.disbursed_on + make_interval(months => k.n))::date
                                 < l.oldest_unpaid_due_on
                         THEN round(l.principal / 12, 2) + round(l.principal * 0.0035, 2)
                         ELSE 0 END,
                    NULL
                FROM lending_loan l CROSS JOIN generate_series(1, 12) AS k(n)
                """
            )
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # check the keys now
            for name, definition in indexes:
                if name in constraints:
                    columns = definition[definition.index("(") :]
                    cursor.execute(
                        f'ALTER TABLE lending_instalment ADD CONSTRAINT "{name}" UNIQUE {columns}'
                    )
                else:
                    cursor.execute(definition)
        else:
            cursor.execute(
                """
                WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 12)
                INSERT INTO lending_instalment (loan_id, schedule_version, is_current, number,
                    due_on, principal, interest, fee, amount_due, closing_balance,
                    amount_paid, paid_on)
                SELECT l.id, 1, 1, k.n, date(l.disbursed_on, '+' || k.n || ' months'),
                    round(l.principal / 12, 2), round(l.principal * 0.0035, 2), 0,
                    round(l.principal / 12, 2) + round(l.principal * 0.0035, 2),
                    l.principal - round(l.principal / 12, 2) * k.n,
                    CASE WHEN l.oldest_unpaid_due_on IS NULL
                              OR date(l.disbursed_on, '+' || k.n || ' months')
                                 < l.oldest_unpaid_due_on
                         THEN round(l.principal / 12, 2) + round(l.principal * 0.0035, 2)
                         ELSE 0 END,
                    NULL
                FROM lending_loan l CROSS JOIN k
                """
            )


def _rows(cursor: Any, sql: str) -> list[Any]:
    cursor.execute(sql)
    return cursor.fetchall()


def _one_statement_seconds() -> float:
    """The same recalculation over every loan in one transaction, without chunks, tasks,
    change rows or events (rolled back): what the chunked run is compared with."""
    from django.db import transaction

    from bankcrm.lending.delinquency import recalculate

    started = time.perf_counter()
    seconds = 0.0
    try:
        with transaction.atomic():
            recalculate(as_of=AS_OF, record_changes=False)
            seconds = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return seconds


class _Rollback(Exception):
    pass


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)

    from bankcrm.access.models import User
    from bankcrm.core.actor import SystemActor
    from bankcrm.core.context import request_context
    from bankcrm.core.management.commands import demo as demo_command
    from bankcrm.events import tasks as event_tasks
    from bankcrm.events.models import OutboxEvent
    from bankcrm.integrations.demo import demo_bank_load
    from bankcrm.integrations.demo_generator import DemoBankPlan, generate_demo_bank
    from bankcrm.lending.models import DelinquencyChange, LoanApplication
    from bankcrm.lending.selectors_pipeline import pipeline_board
    from bankcrm.lending.services_loans import delinquency_run

    actor = SystemActor("bench")
    result: dict[str, Any] = {"benchmark": "lending", "database": connection.vendor}
    result["schedule_360"] = _schedule_bench(args.runs * 10)

    run_state = demo_command.DemoRun(password="Bench-Password-2024-Xy!", stdout=None)  # type: ignore[arg-type]
    with request_context(channel="command"):
        demo_command.seed_organisation(actor=actor, demo=run_state)
        demo_command.seed_staff(actor=actor, demo=run_state)
        bank = generate_demo_bank(
            DemoBankPlan(customers=args.customers, seed=args.seed, as_of=AS_OF)
        )
        demo_bank_load(actor=actor, bank=bank, demo=_Demo())

    started = time.perf_counter()
    made = _applications(args.applications, args.seed)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) lending_loanapplication")
    generate_applications = time.perf_counter() - started
    analyst = User.objects.get(username="ca.zhao")
    board = pipeline_board(actor=analyst)
    result["pipeline_board"] = {
        "applications": LoanApplication.objects.count(),
        "columns": len(board.columns),
        "generate_s": round(generate_applications, 1),
        **_median_ms(lambda: pipeline_board(actor=analyst), args.runs),
    }
    assert made == args.applications

    started = time.perf_counter()
    kinds = _loans(args.loans, args.new_arrears, args.delinquent, args.seed)
    generate_loans = time.perf_counter() - started
    # The events stay in the outbox for the workers: no delivery inside the timed run.
    event_tasks.events_dispatch_pending.delay = lambda *a, **k: None  # type: ignore[method-assign]
    started = time.perf_counter()
    with request_context(channel="job"):
        figures = delinquency_run(actor=actor, as_of=AS_OF, chunk_size=args.chunk_size)
    seconds = time.perf_counter() - started
    one_seconds = _one_statement_seconds()
    result["delinquency"] = {
        "loans": args.loans,
        "instalments": args.loans * 12,
        "generated": kinds,
        "generate_s": round(generate_loans, 1),
        "chunk_size": args.chunk_size,
        "chunks": figures["chunks"],
        "loans_recalculated": figures["loans"],
        "rows_written": figures["updated"],
        "changes": figures["changes"],
        "deteriorations": figures["deteriorations"],
        "improvements": figures["improvements"],
        "change_rows": DelinquencyChange.objects.count(),
        "events_written": OutboxEvent.objects.filter(type="loan.delinquency_changed").count(),
        "elapsed_s": round(seconds, 2),
        "rows_per_s": round(args.loans / seconds),
        "one_transaction_rerun_s": round(one_seconds, 2),
        "run_vs_one_transaction_ratio": round(seconds / one_seconds, 2),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=20_000)
    parser.add_argument("--applications", type=int, default=5_000)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument(
        "--new-arrears", type=float, default=0.02, help="share unpaid since yesterday"
    )
    parser.add_argument("--delinquent", type=float, default=0.08, help="share further behind")
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each query")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--postgres", default="", help="server URL; a temporary database is created on it"
    )
    parser.add_argument(
        "--keep-database",
        default="",
        help="PostgreSQL only: name the database (replacing one of that name) and keep it "
        "afterwards, to read query plans",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    os.environ.pop("BANKCRM_BROKER_URL", None)  # chunks run in this process
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
