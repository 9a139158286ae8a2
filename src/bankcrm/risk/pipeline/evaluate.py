"""Evaluation by repeated stratified k-fold cross-validation.

In every fold the whole pipeline (binning, selection, regression, scaling; or the boosted
trees with their early stopping) is refitted on the learning folds only and scores the
held-out fold through the runtime engine, so the figures describe the deployed artefact
and nothing of a held-out row leaks into its own score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import RepeatedStratifiedKFold

from ..engine import CompiledModel, grade_for, pd_for_scores
from .data import Dataset


def auc(y: np.ndarray, pd_values: np.ndarray) -> float:
    """Area under the ROC curve of the probabilities of default."""
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, pd_values))


def ks(y: np.ndarray, pd_values: np.ndarray) -> float:
    """Kolmogorov–Smirnov: the widest gap between the bads' and goods' cumulative shares."""
    if len(np.unique(y)) < 2:
        return float("nan")
    false_positive, true_positive, _thresholds = roc_curve(y, pd_values)
    return float(np.max(true_positive - false_positive))


def brier(y: np.ndarray, pd_values: np.ndarray) -> float:
    """Mean squared difference between probability of default and outcome."""
    return float(np.mean((np.asarray(pd_values, dtype=float) - y) ** 2))


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


def _summary(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return float("nan"), float("nan")
    return float(array.mean()), float(array.std())


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
    order = np.argsort(scores, kind="stable")
    table = []
    for number, chunk in enumerate(np.array_split(order, 10), start=1):
        if chunk.size == 0:
            continue
        bads = int(y[chunk].sum())
        table.append(
            {
                "band": f"D{number}",
                "min_score": float(scores[chunk].min()),
                "max_score": float(scores[chunk].max()),
                "rows": int(chunk.size),
                "bads": bads,
                "observed_bad_rate": round(bads / chunk.size, 6),
                "mean_pd": round(float(pd_values[chunk].mean()), 6),
            }
        )
    return table


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
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    per_fold = []
    first_scores = np.full(len(y), np.nan)
    for number, (learn, check) in enumerate(splitter.split(np.zeros(len(y)), y)):
        repeat, fold = divmod(number, folds)
        predictor = fit(dataset.subset(learn), seed + number)
        scores = predictor.scores(dataset, check)
        pd_values = pd_for_scores(scores, scaling)
        truth = y[check]
        if repeat == 0:
            first_scores[check] = scores
        entry: dict[str, Any] = {
            "repeat": repeat + 1,
            "fold": fold + 1,
            "rows": len(check),
            "bads": int(truth.sum()),
            "auc": round(auc(truth, pd_values), 6),
            "ks": round(ks(truth, pd_values), 6),
            "brier": round(brier(truth, pd_values), 6),
        }
        entry["gini"] = round(2 * entry["auc"] - 1, 6)
        if predictor.note:
            entry["note"] = predictor.note
        per_fold.append(entry)
    auc_mean, auc_std = _summary([entry["auc"] for entry in per_fold])
    gini_mean, gini_std = _summary([entry["gini"] for entry in per_fold])
    ks_mean, ks_std = _summary([entry["ks"] for entry in per_fold])
    brier_mean, brier_std = _summary([entry["brier"] for entry in per_fold])
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
