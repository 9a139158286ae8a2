"""The cross-validation pieces shared by credit and propensity models: the folds and their
seeds, what is kept out of fold, the mean and spread, the deciles."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bankcrm.risk.pipeline.evaluate import (
    FoldPrediction,
    deciles,
    held_out_folds,
    mean_and_std,
)


def _outcomes(rows: int = 203, seed: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).random(rows) < 0.2).astype(np.int64)


def test_first_repeat_is_the_single_shuffled_k_fold():
    y = _outcomes()
    calls: list[tuple[np.ndarray, np.ndarray, int]] = []

    def fit_predict(learn: np.ndarray, check: np.ndarray, seed: int) -> FoldPrediction:
        calls.append((learn, check, seed))
        return FoldPrediction(np.linspace(0, 1, len(check)))

    held_out, _kept = held_out_folds(y, fit_predict, folds=4, repeats=2, seed=42, first_seed=43)
    single = list(StratifiedKFold(n_splits=4, shuffle=True, random_state=42).split(y, y))
    assert len(calls) == 8
    for (learn, check, _seed), (expected_learn, expected_check) in zip(calls, single, strict=False):
        assert np.array_equal(learn, expected_learn)
        assert np.array_equal(check, expected_check)
    assert [seed for _learn, _check, seed in calls] == list(range(43, 51))
    assert [(part.repeat, part.fold) for part in held_out] == [
        (repeat, fold) for repeat in (1, 2) for fold in (1, 2, 3, 4)
    ]


def test_out_of_fold_values_come_from_the_first_repeat():
    y = _outcomes()
    messages: list[str] = []

    def fit_predict(learn: np.ndarray, check: np.ndarray, seed: int) -> FoldPrediction:
        probabilities = y[check] * 0.5 + 0.25
        kept = np.full(len(check), float(seed))
        return FoldPrediction(probabilities, kept=kept, notes={"s": seed})

    held_out, kept = held_out_folds(
        y, fit_predict, folds=3, repeats=2, seed=7, progress=messages.append
    )
    assert set(np.unique(kept)) == {7.0, 8.0, 9.0}
    assert [part.auc for part in held_out] == [1.0] * 6
    assert [part.notes for part in held_out] == [{"s": seed} for seed in range(7, 13)]
    assert sum(part.positives for part in held_out[:3]) == int(y.sum())
    assert messages[0] == "repeat 1/2, fold 1/3: AUC 1.0000"


def test_mean_and_std_leave_out_nan():
    assert mean_and_std([0.5, float("nan"), 0.7]) == (0.6, 0.09999999999999998)
    mean, std = mean_and_std([float("nan")])
    assert np.isnan(mean) and np.isnan(std)


def test_deciles_follow_the_given_order():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    probabilities = np.linspace(0.05, 0.6, 12)
    scores = 700 - probabilities * 100
    table = deciles(np.argsort(scores, kind="stable"), y, probabilities, shown=scores)
    assert [decile.rows for decile in table] == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    assert table[0].number == 1
    assert table[0].positives == 1
    assert (table[0].low, table[0].high) == (scores[11], scores[10])
    assert table[0].mean_predicted == 0.575
    assert table[0].observed_rate == 0.5
    # Fewer rows than deciles: the empty ones are left out.
    short = deciles(np.arange(3), y[:3], probabilities[:3])
    assert [decile.number for decile in short] == [1, 2, 3]
