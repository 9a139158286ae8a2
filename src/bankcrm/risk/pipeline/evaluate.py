"""Evaluation by repeated stratified k-fold cross-validation.

In every fold the whole pipeline (binning, selection, regression, scaling; or the boosted
trees with their early stopping) is refitted on the learning folds only and scores the
held-out fold through the runtime engine, so the figures describe the deployed artefact
and nothing of a held-out row leaks into its own score.

The fold loop (:func:`held_out_folds`), the AUC, the mean and spread of per-fold figures
(:func:`mean_and_std`) and the cut into deciles (:func:`deciles`) speak of probabilities
and positive outcomes only: the propensity models' evaluation
(:mod:`bankcrm.marketing.propensity.evaluation`) runs on them as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import RepeatedStratifiedKFold

from ..engine import CompiledModel, grade_for, pd_for_scores
from .data import Dataset


def auc(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Area under the ROC curve of the predicted probabilities (NaN when only one outcome
    is present)."""
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, probabilities))


def ks(y: np.ndarray, pd_values: np.ndarray) -> float:
    """Kolmogorov–Smirnov: the widest gap between the bads' and goods' cumulative shares."""
    if len(np.unique(y)) < 2:
        return float("nan")
    false_positive, true_positive, _thresholds = roc_curve(y, pd_values)
    return float(np.max(true_positive - false_positive))


def brier(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean squared difference between predicted probability and outcome."""
    return float(np.mean((np.asarray(probabilities, dtype=float) - y) ** 2))


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation of the figures that are not NaN (NaN, NaN if none is)."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return float("nan"), float("nan")
    return float(array.mean()), float(array.std())


# --- the fold loop -------------------------------------------------------------------------


@dataclass
class FoldPrediction:
    """What a model fitted without a fold makes of the fold's rows: the probabilities of
    the positive outcome, what to keep of the rows out of fold (the probabilities unless
    given) and notes for the fold's entry."""

    probabilities: np.ndarray
    kept: np.ndarray | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class HeldOutFold:
    """One fold's held-out rows with their outcomes and predictions."""

    repeat: int  # from 1
    fold: int  # from 1
    rows: np.ndarray  # positions in the learning data
    truth: np.ndarray
    probabilities: np.ndarray
    auc: float  # rounded to six places
    notes: dict[str, Any]

    @property
    def positives(self) -> int:
        return int(self.truth.sum())


FoldFit = Callable[[np.ndarray, np.ndarray, int], FoldPrediction]


def held_out_folds(
    y: np.ndarray,
    fit_predict: FoldFit,
    *,
    folds: int,
    seed: int,
    repeats: int = 1,
    first_seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[HeldOutFold], np.ndarray]:
    """Call ``fit_predict(learning_rows, held_out_rows, fold_seed)`` in every fold of
    ``repeats`` × ``folds`` stratified folds shuffled with ``seed`` (the first repeat's
    folds are those of a single shuffled k-fold with that seed); the fold seeds count up
    from ``first_seed`` (default ``seed``). Returns the folds with their AUC and, for every
    row, what its first-repeat fold kept of it."""
    y = np.asarray(y, dtype=np.int64)
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    start = seed if first_seed is None else first_seed
    kept = np.full(len(y), np.nan)
    held_out = []
    for number, (learn, check) in enumerate(splitter.split(np.zeros(len(y)), y)):
        repeat, fold = divmod(number, folds)
        prediction = fit_predict(learn, check, start + number)
        probabilities = np.asarray(prediction.probabilities)
        if repeat == 0:
            kept[check] = probabilities if prediction.kept is None else prediction.kept
        truth = y[check]
        entry = HeldOutFold(
            repeat=repeat + 1,
            fold=fold + 1,
            rows=check,
            truth=truth,
            probabilities=probabilities,
            auc=round(auc(truth, probabilities), 6),
            notes=dict(prediction.notes),
        )
        held_out.append(entry)
        if progress:
            where = f"repeat {entry.repeat}/{repeats}, " if repeats > 1 else ""
            progress(f"{where}fold {entry.fold}/{folds}: AUC {entry.auc:.4f}")
    return held_out, kept


# --- deciles -------------------------------------------------------------------------------


@dataclass
class Decile:
    """One tenth of the rows in a given order: its outcomes, the range of the figure shown
    for it and its mean predicted probability."""

    number: int  # from 1
    rows: int
    positives: int
    low: float
    high: float
    mean_predicted: float  # rounded to six places
    observed_rate: float  # rounded to six places


def deciles(
    order: np.ndarray,
    y: np.ndarray,
    probabilities: np.ndarray,
    shown: np.ndarray | None = None,
    *,
    count: int = 10,
) -> list[Decile]:
    """The rows in ``order`` cut into ``count`` groups of (nearly) equal size, empty groups
    left out; ``shown`` (default: the probabilities) gives each group's range."""
    y = np.asarray(y)
    probabilities = np.asarray(probabilities, dtype=float)
    shown = probabilities if shown is None else np.asarray(shown, dtype=float)
    table = []
    for number, chunk in enumerate(np.array_split(order, count), start=1):
        if chunk.size == 0:
            continue
        positives = int(y[chunk].sum())
        table.append(
            Decile(
                number=number,
                rows=int(chunk.size),
                positives=positives,
                low=float(shown[chunk].min()),
                high=float(shown[chunk].max()),
                mean_predicted=round(float(probabilities[chunk].mean()), 6),
                observed_rate=round(positives / chunk.size, 6),
            )
        )
    return table


# --- credit models -------------------------------------------------------------------------


@dataclass
class FoldPredictor:
    """What one fold's fit produces: a compiled model, or a constant probability when the
    pipeline found nothing to learn from in that fold."""

    model: CompiledModel | None = None
    constant_score: float = 0.0
    note: str = ""

    def scores(self, dataset: Dataset, rows: np.ndarray) -> np.ndarray:
        if self.model is None:
            return np.full(len(rows), self.constant_score)
        return self.model.predict_scores(dataset.features.iloc[rows])


def calibration_table(
    scores: np.ndarray, y: np.ndarray, pd_values: np.ndarray, bands: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Observed bad rate against mean PD per risk grade (highest grade first)."""
    grades = [grade_for(score, bands)[0] for score in scores]
    ordered = sorted(
        bands,
        key=lambda band: (band.get("min_score") is None, -(band.get("min_score") or 0)),
    )
    table = []
    for band in ordered:
        mask = np.array([grade == band["grade"] for grade in grades], dtype=bool)
        rows = int(mask.sum())
        bads = int(y[mask].sum()) if rows else 0
        table.append(
            {
                "band": band["grade"],
                "min_score": float(scores[mask].min()) if rows else None,
                "max_score": float(scores[mask].max()) if rows else None,
                "rows": rows,
                "bads": bads,
                "observed_bad_rate": round(bads / rows, 6) if rows else None,
                "mean_pd": round(float(pd_values[mask].mean()), 6) if rows else None,
            }
        )
    return table


def decile_table(scores: np.ndarray, y: np.ndarray, pd_values: np.ndarray) -> list[dict[str, Any]]:
    """Observed bad rate against mean PD per score decile (lowest scores first)."""
    return [
        {
            "band": f"D{decile.number}",
            "min_score": decile.low,
            "max_score": decile.high,
            "rows": decile.rows,
            "bads": decile.positives,
            "observed_bad_rate": decile.observed_rate,
            "mean_pd": decile.mean_predicted,
        }
        for decile in deciles(np.argsort(scores, kind="stable"), y, pd_values, shown=scores)
    ]


def cross_validate(
    dataset: Dataset,
    fit: Callable[[Dataset, int], FoldPredictor],
    *,
    folds: int,
    repeats: int,
    seed: int,
    scaling: dict[str, Any],
    bands: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """Refit ``fit(learning_data, seed)`` in every fold of ``repeats`` × ``folds``
    stratified folds; the metrics with their spread, per-fold figures and the calibration
    of the out-of-fold scores of the first repeat."""
    y = dataset.target

    def fit_predict(learn: np.ndarray, check: np.ndarray, fold_seed: int) -> FoldPrediction:
        predictor = fit(dataset.subset(learn), fold_seed)
        scores = predictor.scores(dataset, check)
        notes = {"note": predictor.note} if predictor.note else {}
        return FoldPrediction(pd_for_scores(scores, scaling), kept=scores, notes=notes)

    held_out, first_scores = held_out_folds(y, fit_predict, folds=folds, repeats=repeats, seed=seed)
    per_fold = []
    for part in held_out:
        entry: dict[str, Any] = {
            "repeat": part.repeat,
            "fold": part.fold,
            "rows": len(part.rows),
            "bads": part.positives,
            "auc": part.auc,
            "ks": round(ks(part.truth, part.probabilities), 6),
            "brier": round(brier(part.truth, part.probabilities), 6),
        }
        entry["gini"] = round(2 * entry["auc"] - 1, 6)
        entry.update(part.notes)
        per_fold.append(entry)
    auc_mean, auc_std = mean_and_std([entry["auc"] for entry in per_fold])
    gini_mean, gini_std = mean_and_std([entry["gini"] for entry in per_fold])
    ks_mean, ks_std = mean_and_std([entry["ks"] for entry in per_fold])
    brier_mean, brier_std = mean_and_std([entry["brier"] for entry in per_fold])
    pd_first = pd_for_scores(first_scores, scaling)
    return {
        "auc_cv_mean": round(auc_mean, 4),
        "auc_cv_std": round(auc_std, 4),
        "gini": round(gini_mean, 4),
        "gini_std": round(gini_std, 4),
        "ks": round(ks_mean, 4),
        "ks_std": round(ks_std, 4),
        "brier": round(brier_mean, 4),
        "brier_std": round(brier_std, 4),
        "folds": per_fold,
        "calibration": calibration_table(first_scores, y, pd_first, bands),
        "calibration_deciles": decile_table(first_scores, y, pd_first),
        "rows": len(y),
        "bad_rate": round(float(y.mean()), 6),
        "cv": f"{folds}x{repeats} stratified",
    }
