"""Evaluation by stratified k-fold cross-validation.

In every fold the whole pipeline (derived features and their tables, category lists, the
model with its early stopping or its scaling, the calibration) is fitted on the learning
folds only and predicts the held-out fold through the scoring specification, so the figures
describe the registered artefact and no held-out row or outcome reaches its own prediction.
The out-of-fold predictions give the lift at the top decile and the calibration table.

The folds, the AUC and the deciles are the credit-risk pipeline's
(:mod:`bankcrm.risk.pipeline.evaluate`), so both kinds of model are measured alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bankcrm.risk.pipeline.evaluate import (
    FoldPrediction,
    auc,
    brier,
    deciles,
    held_out_folds,
    mean_and_std,
)


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
    return [
        {
            "decile": decile.number,
            "rows": decile.rows,
            "positives": decile.positives,
            "min_predicted": round(decile.low, 6),
            "max_predicted": round(decile.high, 6),
            "mean_predicted": decile.mean_predicted,
            "observed_rate": decile.observed_rate,
        }
        for decile in deciles(_top_order(probabilities), y, probabilities)
    ]


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
    ``predict(rows)``) in each of ``folds`` stratified folds (shuffled with ``seed``; the
    fold ``n`` fits with seed ``seed + n``); the AUC per fold with its mean and standard
    deviation, and lift, Brier score and calibration of the out-of-fold predictions."""
    y = np.asarray(y, dtype=np.int64)

    def fit_predict(learn: np.ndarray, check: np.ndarray, fold_seed: int) -> FoldPrediction:
        model = fit(features.iloc[learn].reset_index(drop=True), y[learn], fold_seed)
        predicted = np.asarray(model.predict(features.iloc[check].reset_index(drop=True)))
        return FoldPrediction(predicted, notes=getattr(model, "fold_notes", {}) or {})

    held_out, out_of_fold = held_out_folds(
        y, fit_predict, folds=folds, seed=seed, first_seed=seed + 1, progress=progress
    )
    per_fold = [
        {
            "fold": part.fold,
            "rows": len(part.rows),
            "positives": part.positives,
            "auc": part.auc,
            **part.notes,
        }
        for part in held_out
    ]
    auc_mean, auc_std = mean_and_std([part.auc for part in held_out])
    return {
        "auc_cv_mean": round(auc_mean, 4),
        "auc_cv_std": round(auc_std, 4),
        "auc_out_of_fold": round(auc(y, out_of_fold), 4),
        "lift_top_decile": round(lift_at(y, out_of_fold, 0.1), 3),
        "brier": round(brier(y, out_of_fold), 5),
        "calibration": calibration_table(y, out_of_fold),
        "folds": per_fold,
        "cv": f"{folds}-fold stratified, seed {seed}",
        "rows": len(y),
        "positives": int(y.sum()),
        "positive_rate": round(float(y.mean()), 6),
    }
