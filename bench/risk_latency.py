"""Real-time credit scoring: how long one loan application takes to score, in process.

Builds a throw-away database (an SQLite file in a temporary directory, or with
``--database-url URL`` of a PostgreSQL server a temporary database on it, dropped
afterwards), runs the migrations, the demo organisation and ``--customers`` demo customers
with their accounts and bookings (the background: other customers' rows in every table).
Then one demo person gets a realistic history: their demo accounts plus a current account
and a US-dollar savings account (with a year of exchange rates), ``--bookings`` bookings in
all over the last twelve months, a repaid loan that was once 45 days past due, and the
figures of their branch's district. A personal-loan application of theirs is scored by a
hand-made production scorecard of ten CRM features with grade bands.

Times, over ``--runs`` runs after a warm-up (median and 95th percentile, milliseconds):

* ``party_features``: the customer's features (one statement), and for comparison
  ``party_features_bulk`` for that one customer (the set-based path with its temporary
  tables) — the ratio is the gain of the single-customer path;
* ``application_features``: the customer's features and the loan asked for;
* ``score_values``: the scorecard on those values, without and with the stored score and
  its audit record;
* ``score_application``: all of it, as lending's underwriting calls it.

Checks first that the single and bulk features of the customer agree. Prints one JSON line.

    python bench/risk_latency.py [--runs 200] [--bookings 500] [--customers 200]
    python bench/risk_latency.py --database-url postgres://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
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


def _num(name: str, splits: list[float], points: list[int], missing: int, code: str) -> dict:
    from bankcrm.risk.features import FEATURE_CATALOGUE

    feature = FEATURE_CATALOGUE[name]
    return {
        "name": name,
        "type": "numerical",
        "reason": {"en": feature.reason_en, "zh": feature.reason_zh},
        "code": code,
        "splits": splits,
        "points": points,
        "missing_points": missing,
    }


def _scorecard() -> dict[str, Any]:
    """A ten-feature application scorecard in the registry's spec format."""
    from bankcrm.risk.features import FEATURE_CATALOGUE

    product = FEATURE_CATALOGUE["product_type"]
    return {
        "kind": "scorecard",
        "format": 1,
        "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20},
        "features": [
            _num("age", [25, 35, 50], [20, 35, 45, 40], 25, "R01"),
            _num("customer_years", [1, 3, 8], [10, 25, 35, 45], 15, "R02"),
            _num("avg_balance_6m", [0, 5000, 20000, 100000], [5, 20, 35, 50, 60], 15, "R03"),
            _num("min_balance_6m", [0, 1000], [0, 25, 40], 15, "R04"),
            _num("balance_volatility_6m", [0.3, 0.7, 1.5], [45, 35, 20, 5], 20, "R05"),
            _num("inflow_months_6m", [3, 5], [5, 25, 45], 10, "R06"),
            _num("outflow_inflow_ratio_6m", [0.8, 1.0, 1.3], [45, 35, 15, 0], 20, "R07"),
            _num("instalment_to_inflow", [0.2, 0.4, 0.6], [50, 35, 15, 0], 10, "R08"),
            _num("worst_days_past_due", [1, 30, 90], [40, 20, 5, 0], 30, "R09"),
            {
                "name": "product_type",
                "type": "categorical",
                "reason": {"en": product.reason_en, "zh": product.reason_zh},
                "code": "R10",
                "categories": [["mortgage"], ["personal", "auto"]],
                "points": [40, 25],
                "other_points": 20,
                "missing_points": 20,
            },
        ],
    }


BANDS = [
    {"grade": "A", "min_score": 400, "recommendation": "approve"},
    {"grade": "B", "min_score": 340, "recommendation": "refer"},
    {"grade": "C", "min_score": None, "recommendation": "decline"},
]


def _timed(function: Any, runs: int) -> dict[str, float]:
    for _ in range(max(5, runs // 20)):  # warm up: caches, prepared plans, imports
        function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 3),
    }


def _history(bookings: int, seed: int, today: dt.date) -> dict[str, Any]:
    """Give the demo person with the most bookings a fuller history (see the module text)."""
    from django.db.models import Count, Q

    from bankcrm.access.models import OrgUnit
    from bankcrm.banking.models import Account, AccountRole, FxRate, Product, Transaction
    from bankcrm.customers.models import Party
    from bankcrm.integrations.models import SourceRecord
    from bankcrm.lending.models import DelinquencyChange, Loan, LoanProduct

    year_ago = today - dt.timedelta(days=365)
    in_year = Q(owned_accounts__transactions__booking_date__gte=year_ago)
    party = (
        Party.objects.filter(kind="person", person__birth_year__isnull=False)
        .annotate(recent=Count("owned_accounts__transactions", filter=in_year))
        .order_by("-recent", "pk")
        .first()
    )
    if party is None:
        raise RuntimeError("the demo bank has no person with a year of birth")
    branch = party.owning_unit or OrgUnit.objects.filter(kind="branch").first()
    rng = random.Random(seed)
    current = Product.objects.filter(category="current", currency="CNY").first()
    dollars = Product.objects.create(
        code="BENCH-USD-SAV", name="USD savings", category="savings", currency="USD"
    )
    for month in range(13):
        FxRate.objects.create(
            currency="USD",
            rate_to_base=Decimal("7.1") + Decimal(month) / 100,
            as_of=year_ago + dt.timedelta(days=30 * month),
        )
        FxRate.objects.create(
            currency="EUR",
            rate_to_base=Decimal("7.7") + Decimal(month) / 100,
            as_of=year_ago + dt.timedelta(days=30 * month),
        )
    accounts = []
    for product, currency in ((current, "CNY"), (dollars, "USD")):
        account = Account.objects.create(
            number=f"62{rng.randrange(10**14, 10**15)}",
            number_last4=f"{rng.randrange(10000):04d}",
            product=product,
            currency=currency,
            opened_on=year_ago - dt.timedelta(days=400),
            branch=branch,
            owner=party,
        )
        AccountRole.objects.create(account=account, party=party, role="owner")
        accounts.append(account)
    existing = Transaction.objects.filter(
        account__roles__party=party, booking_date__gte=year_ago, booking_date__lt=today
    ).count()
    wanted = max(0, bookings - existing)
    kinds = [
        ("salary", "online", 1),
        ("card_payment", "card", -1),
        ("cash_withdrawal", "atm", -1),
        ("transfer_out", "online", -1),
        ("transfer_in", "online", 1),
    ]
    rows = []
    balances = {account.pk: Decimal("3000") for account in accounts}
    days = sorted(year_ago + dt.timedelta(days=rng.randrange(365)) for _ in range(wanted))
    for index, day in enumerate(days):
        account = accounts[0] if index % 6 else accounts[1]
        kind, channel, sign = kinds[0] if day.day == 1 else rng.choice(kinds)
        amount = Decimal(sign * rng.randrange(50, 9000 if kind == "salary" else 2500))
        balances[account.pk] += amount
        rows.append(
            Transaction(
                account=account,
                booking_date=day,
                amount=amount,
                currency=account.currency,
                direction="credit" if amount > 0 else "debit",
                kind=kind,
                channel=channel,
                running_balance=balances[account.pk],
                source_id=f"bench-{index}",
            )
        )
    Transaction.objects.bulk_create(rows, batch_size=1000)
    loan = Loan.objects.create(
        reference="LN-BENCH-1",
        product=LoanProduct.objects.get(code="personal-loan"),
        borrower=party,
        account=accounts[0],
        branch=branch,
        principal=Decimal("30000"),
        currency="CNY",
        annual_rate=Decimal("5.5"),
        term_months=12,
        method="annuity",
        day_count="30360",
        disbursed_on=year_ago - dt.timedelta(days=300),
        maturity_date=year_ago + dt.timedelta(days=65),
        closed_on=year_ago + dt.timedelta(days=65),
        outstanding_principal=Decimal("0"),
    )
    DelinquencyChange.objects.create(
        loan=loan,
        as_of=year_ago - dt.timedelta(days=100),
        from_bucket="current",
        to_bucket="31-60",
        days_past_due=45,
        is_deterioration=True,
    )
    if branch is not None:
        SourceRecord.objects.create(
            source_system="bench",
            kind="district",
            source_id="bench-district",
            owning_unit=branch,
            data={
                "inhabitants": 2_500_000,
                "urban_ratio": "88.5",
                "average_salary": 12000,
                "unemployment_1995": "2.9",
                "unemployment_1996": "3.1",
                "entrepreneurs_per_1000": 140,
                "crimes_1995": 60000,
                "crimes_1996": 62000,
            },
        )
    total = Transaction.objects.filter(
        account__roles__party=party, booking_date__gte=year_ago, booking_date__lt=today
    ).count()
    return {
        "party": party,
        "account": accounts[0],
        "accounts": Account.objects.filter(roles__party=party).distinct().count(),
        "bookings_12m": total,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)

    from bankcrm.core.actor import SystemActor
    from bankcrm.core.context import request_context
    from bankcrm.core.management.commands import demo as demo_command
    from bankcrm.core.timefmt import bank_today
    from bankcrm.integrations.demo import demo_bank_load
    from bankcrm.integrations.demo_generator import DemoBankPlan, generate_demo_bank
    from bankcrm.integrations.demo_lending import PRODUCTS
    from bankcrm.lending.services_applications import loan_application_create, loan_product_create
    from bankcrm.risk import features, services_scoring
    from bankcrm.risk.models import ModelVersion

    actor = SystemActor("bench")
    today = bank_today()
    run_state = demo_command.DemoRun(password="Bench-Password-2024-Xy!", stdout=None)  # type: ignore[arg-type]
    with request_context(channel="command"):
        demo_command.seed_organisation(actor=actor, demo=run_state)
        demo_command.seed_staff(actor=actor, demo=run_state)
        bank = generate_demo_bank(
            DemoBankPlan(
                customers=args.customers, seed=args.seed, as_of=today - dt.timedelta(days=1)
            )
        )
        demo_bank_load(actor=actor, bank=bank, demo=run_state)
        product = loan_product_create(actor=actor, data=PRODUCTS["personal"])
        history = _history(args.bookings, args.seed, today)
        party = history["party"]
        application = loan_application_create(
            actor=actor,
            data={
                "product": product,
                "applicant": party,
                "amount": Decimal("80000.00"),
                "term_months": 36,
                "purpose": "Home renovation",
                "monthly_income": Decimal("15000.00"),
                "monthly_obligations": Decimal("1200.00"),
                "monthly_expenses": Decimal("4000.00"),
                "settlement_account": history["account"],
            },
        )
    version = ModelVersion.objects.create(
        name="retail-application",
        version=1,
        purpose="application",
        method="scorecard",
        status="production",
        spec=_scorecard(),
        grade_bands=BANDS,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    day = features.application_day(application)
    single = features.party_features(party, as_of=day)
    bulk = features.party_features_bulk(day, party_ids=[party.pk])
    for name, value in single.items():
        other = features._plain(bulk.loc[party.pk, name])
        same = value == other or (
            isinstance(value, float)
            and isinstance(other, float)
            and math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-9)
        )
        if not same:
            raise RuntimeError(f"single and bulk {name} differ: {value!r} != {other!r}")
    values = features.application_features(application)
    scorer = SystemActor("risk.scoring")
    result = services_scoring.score_application(application)
    if result is None:
        raise RuntimeError("no production application model")

    def score_stored() -> Any:
        return services_scoring.score_values(
            actor=scorer,
            version=version,
            values=values,
            subject_kind="application",
            subject_id=str(application.pk),
        )

    def score_only() -> Any:
        return services_scoring.score_values(
            actor=scorer, version=version, values=values, store=False
        )

    runs = args.runs
    with request_context(channel="api"):
        timings = {
            "party_features": _timed(lambda: features.party_features(party, as_of=day), runs),
            "party_features_bulk_one": _timed(
                lambda: features.party_features_bulk(day, party_ids=[party.pk]), max(20, runs // 4)
            ),
            "application_features": _timed(
                lambda: features.application_features(application), runs
            ),
            "score_values_no_store": _timed(score_only, runs),
            "score_values_stored": _timed(score_stored, runs),
            "score_application": _timed(
                lambda: services_scoring.score_application(application), runs
            ),
        }
    single_ms = timings["party_features"]["median_ms"]
    bulk_ms = timings["party_features_bulk_one"]["median_ms"]
    return {
        "benchmark": "risk-latency",
        "database": connection.vendor,
        "customers": args.customers,
        "customer": {
            "accounts": history["accounts"],
            "bookings_12m": history["bookings_12m"],
            "features_known": sum(v is not None for v in values.values()),
            "features": len(values),
        },
        "score": {"score": result.score, "grade": result.grade},
        "runs": runs,
        **timings,
        "bulk_one_vs_single_ratio": round(bulk_ms / single_ms, 1) if single_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs of each call")
    parser.add_argument("--bookings", type=int, default=500, help="the customer's, 12 months")
    parser.add_argument("--customers", type=int, default=200, help="demo customers around")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default="",
        help="PostgreSQL server URL: a temporary database is created on it (default SQLite)",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    os.environ.pop("BANKCRM_BROKER_URL", None)
    with tempfile.TemporaryDirectory(prefix="bankcrm-bench-") as tmp:
        os.environ["BANKCRM_VAR_DIR"] = tmp
        os.environ["BANKCRM_KEYRING"] = str(Path(tmp) / "keyring.json")
        if not args.database_url:
            os.environ["BANKCRM_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            print(json.dumps(run(args)))
            return
        import psycopg

        name = f"bankcrm_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.database_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = args.database_url.rsplit("/", 1)[0]
            os.environ["BANKCRM_DATABASE_URL"] = f"{base}/{name}"
            print(json.dumps(run(args)))
        finally:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(args.database_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
