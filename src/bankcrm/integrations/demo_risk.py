"""The demo bank's credit risk: an application scorecard developed, validated, approved and
put into production through the model registry, so that the demo's loan applications are
scored in underwriting (score, grade, probability of default and reasons).

``seed_risk(actor=, demo=)`` is a ``bankcrm demo`` seeder that runs after the customers and
before lending. Its learning data are *synthetic past applications* with the CRM's own
feature names: each row takes the features the CRM computes (``risk.features``) of one of
the customers the demo's lending lends to, varied a little, with a loan drawn as the demo's
lending draws them, and an outcome drawn from a known relationship — risk falls with the
minimum balance, the months with money coming in and the applicant's age, and rises with
the instalment's share of the inflow and with past arrears — with a seeded generator.
Then, as staff would:

* the credit analyst trains the scorecard (3-fold cross-validation, one repeat: quick);
* a model risk officer validates it and a second one approves it (``mr.wang``, of the demo
  staff, and ``mr.liu``; either is opened here when missing);
* the analyst asks for its promotion to production and a model risk officer approves the
  request (maker-checker).

``seed_risk_monitoring(actor=, demo=)`` runs after lending: a model risk officer runs the
monitoring report of the production model over the last 30 days.

Both are idempotent: they stop once the demo model (or its report) exists. Without demo
customers they do nothing.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bankcrm.access.models import Role, User
from bankcrm.core.timefmt import bank_today

from .demo_staff import demo_user, staff_ensure

MODEL_NAME = "demo-retail-application"
DATASET_NAME = "demo past applications (synthetic, 2023–2025)"
ROWS = 3000
# How many demo customers the synthetic past applications are drawn from.
POPULATION = 600
TARGET = "turned_bad"
# The share of past applications that turned bad.
BAD_RATE = 0.10
MONITORING_DAYS = 30

# (username, first name, last name, unit): the model risk officers who validate, approve
# and promote.
MODEL_RISK_STAFF = (
    ("mr.wang", "Hui", "Wang", "HO"),
    ("mr.liu", "Min", "Liu", "HO"),
)

# The CRM features the demo model learns from (names as ``risk.features`` computes them).
FEATURES = (
    "age",
    "customer_years",
    "accounts_count",
    "avg_balance_6m",
    "min_balance_6m",
    "balance_volatility_6m",
    "negative_balance_days_6m",
    "inflow_months_6m",
    "salary_months_6m",
    "card_payments_6m",
    "worst_days_past_due",
    "loan_amount",
    "term_months",
    "instalment_to_inflow",
    "debt_to_income",
)
# Risk rises ("ascending") or falls ("descending") with these: the scorecard keeps the
# trend monotone.
MONOTONE = {
    "min_balance_6m": "descending",
    "inflow_months_6m": "descending",
    "instalment_to_inflow": "ascending",
    "worst_days_past_due": "ascending",
}
# How the demo's loan products are repaid, at what rate (percent a year): the instalment the
# underwriting compares with the applicant's money is the largest one of the schedule.
REPAYMENT = {
    "personal": ("annuity", 4.35),
    "mortgage": ("equal_principal", 3.8),
    "auto": ("annuity", 3.8),
    "sme": ("interest_only", 3.85),
    "credit_line": ("bullet", 5.5),
}
# Money figures vary by a few per cent between the synthetic rows drawn from one customer.
JITTERED = ("avg_balance_6m", "min_balance_6m", "balance_volatility_6m")


def _z(values: pd.Series) -> np.ndarray:
    """Standardised, with missing values at the mean (0)."""
    numbers = values.astype(float)
    filled = numbers.fillna(numbers.mean() if numbers.notna().any() else 0.0)
    spread = float(filled.std()) or 1.0
    return ((filled - filled.mean()) / spread).to_numpy()


def _signed_log(values: pd.Series) -> pd.Series:
    numbers = values.astype(float)
    return np.sign(numbers) * np.log1p(numbers.abs())


def outcome_log_odds(frame: pd.DataFrame) -> np.ndarray:
    """The known relationship the demo's outcomes are drawn from (log-odds of turning bad,
    before the intercept)."""
    ratio = frame["instalment_to_inflow"].astype(float).clip(upper=3.0)
    arrears = (frame["worst_days_past_due"].astype(float).fillna(0) > 30).astype(float)
    return (
        -0.9 * _z(_signed_log(frame["min_balance_6m"]))
        - 0.6 * _z(frame["inflow_months_6m"])
        - 0.4 * _z(frame["age"])
        + 0.8 * _z(ratio)
        + 1.2 * arrears.to_numpy()
    )


def largest_instalment(product: str, amount: float, term: int) -> float:
    """The largest instalment of a loan of the demo's ``product`` (monthly repayments)."""
    method, annual_rate = REPAYMENT.get(product, ("annuity", 4.35))
    rate = annual_rate / 100 / 12
    if method == "equal_principal":
        return amount / term + amount * rate
    if method == "interest_only":
        return amount + amount * rate
    if method == "bullet":
        return amount * (1 + rate * term)
    return amount * rate / (1 - (1 + rate) ** -term)


def _intercept_for(log_odds: np.ndarray, rate: float) -> float:
    """The intercept that makes the mean probability ``rate`` (bisection)."""
    low, high = -15.0, 15.0
    for _step in range(60):
        middle = (low + high) / 2
        mean = float(np.mean(1 / (1 + np.exp(-(log_odds + middle)))))
        if mean > rate:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def learning_data(parties: pd.DataFrame, *, rows: int, seed: int) -> pd.DataFrame:
    """Synthetic past applications from the CRM features of the demo customers
    (``parties``: one row per customer, as ``party_features_bulk`` gives them): a loan drawn
    as the demo's lending draws them, the application features computed from it, and the
    outcome drawn from :func:`outcome_log_odds`."""
    from bankcrm.risk.features import loan_facts_frame

    from .demo_lending import APPLICATION_MIX

    rng = np.random.default_rng(seed)
    keys = list(APPLICATION_MIX)
    weights = np.array([APPLICATION_MIX[key][3] for key in keys], dtype=float)
    chosen = [
        keys[int(index)] for index in rng.choice(len(keys), size=rows, p=weights / weights.sum())
    ]
    # As the demo's lending does: organisations ask for SME loans, persons for the others.
    kind = parties["party_kind"] if "party_kind" in parties else pd.Series("person", parties.index)
    organisations = np.flatnonzero((kind == "organisation").to_numpy())
    persons = np.flatnonzero((kind != "organisation").to_numpy())
    if not len(persons):
        persons = np.arange(len(parties))
    positions = [
        int(rng.choice(organisations if key == "sme" and len(organisations) else persons))
        for key in chosen
    ]
    picked = parties.iloc[positions].reset_index(drop=True)
    for name in JITTERED:
        if name in picked:
            factor = rng.lognormal(0.0, 0.08, size=rows)
            picked[name] = picked[name].astype(float) * factor
    amounts, terms, instalments, incomes, kinds = [], [], [], [], []
    product_types = {"sme": "sme_working_capital"}
    for key in chosen:
        low, high, term_choices, _weight = APPLICATION_MIX[key]
        amount = float(rng.integers(low, high + 1)) * 1000
        term = int(rng.choice(term_choices))
        amounts.append(amount)
        terms.append(term)
        instalments.append(round(largest_instalment(key, amount, term), 2))
        # The declared income, as the demo's lending states it.
        rough = amount / term + amount * 0.004
        incomes.append(round(rough * rng.uniform(2.6, 6.0), -2))
        kinds.append(product_types.get(key, key))
    loans = loan_facts_frame(
        picked,
        loan_amount=amounts,
        term_months=terms,
        instalment=instalments,
        declared_income=incomes,
        declared_obligations=[round(income * 0.05, -2) for income in incomes],
        product_type=kinds,
    )
    frame = pd.concat([picked, loans], axis=1)
    columns = [name for name in FEATURES if name in frame.columns]
    frame = frame[columns].copy()
    log_odds = outcome_log_odds(frame)
    probability = 1 / (1 + np.exp(-(log_odds + _intercept_for(log_odds, BAD_RATE))))
    frame[TARGET] = (rng.random(rows) < probability).astype(int)
    return frame


def _risk_staff(actor: Any, demo: Any, counts: Counter[str]) -> list[User]:
    """The model risk officers, opened when missing."""
    return staff_ensure(
        actor=actor,
        demo=demo,
        role_code=Role.Code.MODEL_RISK_OFFICER,
        people=MODEL_RISK_STAFF,
        counts=counts,
        label="model risk officers",
    )


def _analyst() -> User | None:
    return (
        User.objects.filter(is_active=True, roles__code=Role.Code.CREDIT_ANALYST)
        .order_by("pk")
        .first()
    )


def _population(as_of: dt.date, seed: int) -> pd.DataFrame:
    """The CRM features, as of ``as_of``, of up to :data:`POPULATION` of the customers the
    demo's lending lends to (persons of working age and organisations with a current
    account), drawn with the seed: enough variety for the learning data, and quick."""
    from bankcrm.risk.features import party_features_bulk

    from .demo_lending import _borrowers

    keys = sorted(
        {borrower.party.pk for pool in _borrowers(as_of).values() for borrower in pool}, key=str
    )
    if not keys:
        return pd.DataFrame()
    if len(keys) > POPULATION:
        rng = np.random.default_rng(seed)
        picked = sorted(rng.choice(len(keys), size=POPULATION, replace=False).tolist())
        keys = [keys[index] for index in picked]
    return party_features_bulk(as_of, party_ids=keys)


def _train(analyst: User, frame: pd.DataFrame, seed: int) -> Any:
    from bankcrm.risk import services
    from bankcrm.risk.pipeline.train import TrainingSettings

    settings = TrainingSettings(
        method="scorecard",
        folds=3,
        repeats=1,
        seed=seed,
        monotone={name: trend for name, trend in MONOTONE.items() if name in frame.columns},
    )
    with tempfile.TemporaryDirectory(prefix="bankcrm-demo-") as folder:
        path = Path(folder) / "demo-applications.csv"
        frame.to_csv(path, index=False)
        versions = services.model_train(
            actor=analyst,
            path=path,
            target=TARGET,
            bad="1",
            name=MODEL_NAME,
            method="scorecard",
            purpose="application",
            settings=settings,
            description=(
                "Application scorecard for retail loans, learnt from the demo bank's past "
                "applications: balances, money coming in, card use, arrears and the loan "
                "asked for."
            ),
            dataset_name=DATASET_NAME,
        )
    return versions[0]


def seed_risk(*, actor: Any, demo: Any) -> dict[str, int]:
    """Train the demo application scorecard and take it through validation, approval and
    promotion to production (see the module text). Returns what was created, by kind."""
    from bankcrm.risk import services
    from bankcrm.risk.models import ModelVersion

    counts: Counter[str] = Counter()
    if ModelVersion.objects.filter(name=MODEL_NAME).exists():
        return dict(counts)
    as_of = getattr(demo, "as_of", None) or bank_today()
    seed = int(getattr(demo, "seed", 1) or 1)
    parties = _population(as_of, seed)
    analyst = _analyst()
    if parties.empty or analyst is None:
        return dict(counts)  # nothing to learn from without demo customers
    officers = _risk_staff(actor, demo, counts)
    if len(officers) < 2:
        _notes(demo, counts)
        return dict(counts)
    frame = learning_data(parties, rows=ROWS, seed=seed)
    version = _train(analyst, frame, seed)
    counts["credit models"] += 1
    validator, approver = officers[0], officers[1]
    auc = version.metrics.get("auc_cv_mean")
    services.model_validate(
        actor=validator,
        version=version,
        note=(
            f"Independent validation: learning data and exclusions reviewed, bins monotone "
            f"where declared, cross-validated AUC {auc}, calibration by band acceptable."
        ),
    )
    services.model_approve(
        actor=approver,
        version=version,
        note="Approved for retail application scoring; monitor stability monthly.",
    )
    services.model_promote(
        actor=analyst, version=version, reason="Replaces judgemental scoring of retail loans."
    )
    services.model_promote(
        actor=validator, version=version, reason="Validated and approved; put it in use."
    )
    _notes(demo, counts)
    return dict(counts)


def seed_risk_monitoring(*, actor: Any, demo: Any) -> dict[str, int]:
    """A model risk officer runs the monitoring report of the demo model over the last
    30 days (after lending has scored the demo applications)."""
    from bankcrm.risk.models import ModelVersion, MonitoringReport
    from bankcrm.risk.services_monitoring import monitoring_run

    counts: Counter[str] = Counter()
    version = ModelVersion.objects.filter(
        name=MODEL_NAME, status=ModelVersion.Status.PRODUCTION
    ).first()
    officer = demo_user(MODEL_RISK_STAFF[0][0])
    if version is None or officer is None:
        return dict(counts)
    if MonitoringReport.objects.filter(model_version=version).exists():
        return dict(counts)
    today = bank_today()
    monitoring_run(
        actor=officer,
        version=version,
        period_start=today - dt.timedelta(days=MONITORING_DAYS - 1),
        period_end=today,
    )
    counts["monitoring reports"] += 1
    _notes(demo, counts)
    return dict(counts)


def _notes(demo: Any, counts: Counter[str]) -> None:
    note = getattr(demo, "note", None)
    if note is None:
        return
    for kind, count in sorted(counts.items()):
        if count:
            note(f"{count} {kind}")
