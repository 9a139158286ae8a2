"""Evaluation by stratified k-fold cross-validation.

In every fold the whole pipeline (derived features and their tables, category lists, the
model with its early stopping or its scaling, the calibration) is fitted on the learning
folds only and predicts the held-out fold through the scoring specification, so the figures
describe the registered artefact and no held-out row or outcome reaches its own prediction.
The out-of-fold predictions give the lift at the top decile and the calibration table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

DECILES = 10


def auc(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Area under the ROC curve (NaN when only one outcome is present)."""
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, probabilities))


def _top_order(probabilities: np.ndarray) -> np.ndarray:
    """Rows from the highest probability down (ties in row order, for repeatable deciles)."""
    return np.argsort(-np.asarray(probabilities, dtype=float), kind="stable")


def lift_at(y: np.ndarray, probabilities: np.ndarray, share: float = 0.1) -> float:
    """Positive rate among the ``share`` of rows with the highest probabilities, over the
    positive rate of all rows."""
    y = np.asarray(y)
    base = float(y.mean()) if len(y) else 0.0
    if base == 0:
        return float("nan")
    count = max(1, math.ceil(share * len(y)))
    top = _top_order(probabilities)[:count]
    return float(y[top].mean()) / base


def calibration_table(y: np.ndarray, probabilities: np.ndarray) -> list[dict[str, Any]]:
    """Ten deciles of the predicted probability, highest first: rows, positives, mean
    predicted probability and observed positive rate."""
    y = np.asarray(y)
    probabilities = np.asarray(probabilities, dtype=float)
    table = []
    for number, chunk in enumerate(np.array_split(_top_order(probabilities), DECILES), start=1):
        if chunk.size == 0:
            continue
        positives = int(y[chunk].sum())
        table.append(
            {
                "decile": number,
                "rows": int(chunk.size),
                "positives": positives,
                "min_predicted": round(float(probabilities[chunk].min()), 6),
                "max_predicted": round(float(probabilities[chunk].max()), 6),
                "mean_predicted": round(float(probabilities[chunk].mean()), 6),
                "observed_rate": round(positives / chunk.size, 6),
            }
        )
    return table


def cross_validate(
    features: pd.DataFrame,
    y: np.ndarray,
    fit: Callable[[pd.DataFrame, np.ndarray, int], Any],
    *,
    folds: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit ``fit(learning_rows, their_outcomes, seed)`` (which returns an object with
    ``predict(rows)``) in each of ``folds`` stratified folds (shuffled with ``seed``); the
    AUC per fold with its mean and standard deviation, and lift, Brier score and calibration
    of the out-of-fold predictions."""
    y = np.asarray(y, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out_of_fold = np.full(len(y), np.nan)
    per_fold = []
    for number, (learn, check) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        model = fit(features.iloc[learn].reset_index(drop=True), y[learn], seed + number)
        predicted = np.asarray(model.predict(features.iloc[check].reset_index(drop=True)))
        out_of_fold[check] = predicted
        entry = {
            "fold": number,
            "rows": len(check),
            "positives": int(y[check].sum()),
            "auc": round(auc(y[check], predicted), 6),
        }
        entry.update(getattr(model, "fold_notes", {}) or {})
        per_fold.append(entry)
        if progress:
            progress(f"fold {number}/{folds}: AUC {entry['auc']:.4f}")
    aucs = np.array([entry["auc"] for entry in per_fold], dtype=float)
    return {
        "auc_cv_mean": round(float(np.nanmean(aucs)), 4),
        "auc_cv_std": round(float(np.nanstd(aucs)), 4),
        "auc_out_of_fold": round(auc(y, out_of_fold), 4),
        "lift_top_decile": round(lift_at(y, out_of_fold, 0.1), 3),
        "brier": round(float(np.mean((out_of_fold - y) ** 2)), 5),
        "calibration": calibration_table(y, out_of_fold),
        "folds": per_fold,
        "cv": f"{folds}-fold stratified, seed {seed}",
        "rows": len(y),
        "positives": int(y.sum()),
        "positive_rate": round(float(y.mean()), 6),
    }
