"""Training runs: cross-validation without leakage, the final model, card and baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings as django_settings

from bankcrm.risk.engine import compile_model
from bankcrm.risk.pipeline.data import DatasetError, dataset_from_frame, load_dataset
from bankcrm.risk.pipeline.train import TrainingSettings, train
from bankcrm.risk.stability import feature_shares, psi, score_shares

METRIC_KEYS = {
    "auc_cv_mean",
    "auc_cv_std",
    "gini",
    "gini_std",
    "ks",
    "ks_std",
    "brier",
    "brier_std",
    "folds",
    "calibration",
    "rows",
    "bad_rate",
    "cv",
}


def _frame(rows: int = 700, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 75, rows).astype(float)
    months = rng.integers(6, 60, rows).astype(float)
    savings = rng.choice(["none", "low", "high"], rows, p=[0.4, 0.4, 0.2])
    balance = rng.normal(2000, 900, rows)
    balance[rng.random(rows) < 0.08] = np.nan
    logit = (
        -1.2
        + 1.3 * (age < 27)
        + 0.04 * (months - 30)
        + np.select([savings == "none", savings == "high"], [0.9, -1.0], 0)
        - 0.0006 * np.nan_to_num(balance - 2000)
    )
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "application_id": np.arange(10_001, 10_001 + rows),
            "age": age,
            "months": months,
            "savings": savings,
            "balance": balance,
            "outcome": np.where(bad, "default", "repaid"),
        }
    )


def test_scorecard_training_gives_spec_metrics_card_and_baseline():
    frame = _frame()
    # A numeric column with four distinct values is grouped as categories.
    frame["grade"] = np.random.default_rng(9).integers(1, 5, len(frame)).astype(float)
    dataset = dataset_from_frame(frame, target="outcome", bad="default")
    settings = TrainingSettings(folds=3, repeats=1, monotone={"months": "ascending"})

    [model] = train(dataset, settings)

    assert model.method == "scorecard"
    assert set(model.metrics) >= METRIC_KEYS
    assert model.metrics["cv"] == "3x1 stratified"
    assert len(model.metrics["folds"]) == 3
    assert model.metrics["auc_cv_mean"] > 0.72
    assert 0 < model.metrics["auc_cv_std"] < 0.1
    assert model.metrics["gini"] == pytest.approx(2 * model.metrics["auc_cv_mean"] - 1, abs=1e-3)
    assert model.metrics["rows"] == 700
    calibration = model.metrics["calibration"]
    assert sum(band["rows"] for band in calibration) == 700
    assert [band["band"] for band in calibration] == ["A", "B", "C", "D", "E", "F"]

    assert model.card["exclusions"] == [
        {"column": "application_id", "reason": "identifier: a sequence unique per row"}
    ]
    assert model.card["selected"]
    assert {item["name"] for item in model.card["features"]} == {
        "age",
        "months",
        "savings",
        "balance",
        "grade",
    }
    assert model.card["fingerprint"]["rows"] == 700
    notes = {profile["name"]: profile["note"] for profile in model.card["profiles"]}
    assert notes["grade"] == "few distinct values: binned as categories"
    assert notes["age"] == ""
    assert [profile.note for profile in dataset.profiles if profile.name == "grade"] == [""]
    assert model.card["settings"]["monotone"] == {"months": "ascending"}

    compiled = compile_model(model.spec)
    features = dataset.features
    for record in features.head(20).to_dict("records"):
        outcome = compiled.score(record)
        assert outcome.score == sum(outcome.points.values())

    scores = compiled.predict_scores(features)
    shares = score_shares(scores, model.baseline)
    assert shares == pytest.approx(model.baseline["score"]["shares"], abs=1e-6)
    assert len(model.baseline["score"]["shares"]) == len(model.baseline["score"]["edges"]) + 1
    assert psi(model.baseline["score"]["shares"], shares) == pytest.approx(0, abs=1e-6)
    for name, entry in model.baseline["features"].items():
        assert sum(entry["shares"]) == pytest.approx(1, abs=1e-5)
        assert len(entry["bins"]) == len(entry["shares"])
        assert feature_shares(features[name].tolist(), entry) == pytest.approx(
            entry["shares"], abs=1e-6
        )


def test_shuffled_target_scores_like_a_coin_so_nothing_leaks():
    frame = _frame(rows=900, seed=8)
    real = dataset_from_frame(frame, target="outcome", bad="default")
    shuffled_frame = frame.copy()
    shuffled_frame["outcome"] = np.random.default_rng(1).permutation(frame["outcome"].to_numpy())
    shuffled = dataset_from_frame(shuffled_frame, target="outcome", bad="default")
    # Every feature is kept whatever its IV, so binning itself would leak if it saw the
    # held-out fold.
    settings = TrainingSettings(folds=3, repeats=2, min_iv=0.0, max_correlation=1.0)

    [honest] = train(real, settings)
    [noise] = train(shuffled, settings)

    assert honest.metrics["auc_cv_mean"] > 0.72
    assert abs(noise.metrics["auc_cv_mean"] - 0.5) < 0.06


def test_both_methods_give_a_scorecard_and_a_challenger():
    dataset = dataset_from_frame(_frame(rows=500), target="outcome", bad="default")
    settings = TrainingSettings(method="both", folds=3, repeats=1, monotone={"months": "ascending"})

    scorecard, challenger = train(dataset, settings)

    assert (scorecard.method, challenger.method) == ("scorecard", "gbm")
    assert challenger.spec["kind"] == "gbm"
    assert set(challenger.metrics) >= METRIC_KEYS
    assert challenger.metrics["auc_cv_mean"] > 0.68
    assert challenger.card["rounds"] >= 20
    assert challenger.card["params"]["monotone_constraints"] == [0, 1, 0, 0]
    assert {item["name"] for item in challenger.card["features"]} == {
        "age",
        "months",
        "savings",
        "balance",
    }
    compiled = compile_model(challenger.spec)
    assert len(compiled.score_frame(dataset.features.head(10))) == 10
    for entry in challenger.baseline["features"].values():
        assert sum(entry["shares"]) == pytest.approx(1, abs=1e-5)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (TrainingSettings(method="forest"), "method must be scorecard, gbm or both"),
        (TrainingSettings(folds=1), "at least 2 folds"),
        (TrainingSettings(pdo=0), "pdo and base_odds must be positive"),
        (TrainingSettings(monotone={"age": "up"}), "must be ascending or descending"),
        (TrainingSettings(monotone={"salary": "ascending"}), "'salary' is not a column"),
        (TrainingSettings(monotone={"savings": "ascending"}), "'savings' is categorical"),
        (TrainingSettings(grade_bands=[{"grade": "A"}]), "needs a grade and a min_score"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    dataset = dataset_from_frame(_frame(rows=200), target="outcome", bad="default")
    with pytest.raises(DatasetError, match=message):
        train(dataset, settings)


GERMAN = Path(django_settings.DATA_DIR) / "german-credit" / "german.data"


@pytest.mark.skipif(not GERMAN.exists(), reason=f"German credit data not in {GERMAN.parent}")
def test_german_credit_without_header_by_column_number():
    dataset = load_dataset(GERMAN, target="21", bad="2")
    assert dataset.fingerprint["rows"] == 1000
    assert dataset.fingerprint["bad_count"] == 300
    assert dataset.fingerprint["sha256"] == (
        "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871"
    )
    [model] = train(dataset, TrainingSettings(folds=3, repeats=1))
    assert model.metrics["auc_cv_mean"] > 0.75
    assert "col_1" in model.card["selected"]  # the checking account status
