"""The challenger: gradient boosting (LightGBM) with monotone constraints where declared.

Small trees (depth 3, 8 leaves), a learning rate of 0.05, row and column subsampling and
an L2 penalty; the number of trees is found by early stopping on a fifth of the learning
rows held out, then the model is refitted on all of them. Categories are coded by their
position in the specification's list (most frequent first); a category not in the list,
or a missing value, is LightGBM's missing value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ..engine import LN2
from ..reasons import reason_text

if TYPE_CHECKING:
    from .train import TrainingSettings

MAX_CATEGORIES = 250
MAX_ROUNDS = 2000
PATIENCE = 100


def gbm_params(rows: int, seed: int) -> dict[str, Any]:
    """LightGBM parameters for ``rows`` learning rows."""
    return {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 8,
        "max_depth": 3,
        "min_data_in_leaf": max(20, rows // 200),
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 5.0,
        "min_data_per_group": 20,
        "cat_smooth": 10.0,
        "cat_l2": 10.0,
        "max_cat_to_onehot": 4,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        # One thread: on learning sets of this size more cost more than they give, above
        # all on a machine busy with other work (measured 2x slower with two).
        "num_threads": 1,
        "verbose": -1,
    }


@dataclass
class GbmFit:
    """A fitted challenger: its specification and what the model card shows."""

    spec: dict[str, Any]
    rounds: int
    params: dict[str, Any]
    importance: list[dict[str, Any]]


def _categories(values: pd.Series) -> list[str]:
    counts = values.dropna().astype(str).value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [category for category, _count in ordered[:MAX_CATEGORIES]]


def encode(features: pd.DataFrame, categories: dict[str, list[str]]) -> np.ndarray:
    """The LightGBM matrix: numbers as they are, categories as their list position."""
    matrix = np.full(features.shape, np.nan, dtype=float)
    for position, name in enumerate(features.columns):
        column = features[name]
        if name in categories:
            codes = {category: float(index) for index, category in enumerate(categories[name])}
            mapped = column.map(lambda value, codes=codes: codes.get(value, np.nan))
            matrix[:, position] = mapped.to_numpy(dtype=float, na_value=np.nan)
        else:
            matrix[:, position] = column.to_numpy(dtype=float, na_value=np.nan)
    return matrix


def fit_gbm(
    features: pd.DataFrame,
    y: np.ndarray,
    settings: TrainingSettings,
    *,
    transforms: dict[str, str] | None = None,
    seed: int = 0,
) -> GbmFit:
    """Fit the gradient-boosting challenger of ``features`` against ``y`` (1 = bad)."""
    import lightgbm

    transforms = transforms or {}
    features = features.reset_index(drop=True)
    y = np.asarray(y, dtype=np.int64)
    names = list(features.columns)
    categories = {
        name: _categories(features[name]) for name in names if features[name].dtype.kind != "f"
    }
    categorical_positions = [position for position, name in enumerate(names) if name in categories]
    constraints = []
    for name in names:
        trend = settings.monotone.get(name)
        if name in categories or not trend:
            constraints.append(0)
        else:
            constraints.append(1 if trend == "ascending" else -1)
    params = gbm_params(len(y), seed)
    if any(constraints):
        params["monotone_constraints"] = constraints
        params["monotone_constraints_method"] = "intermediate"
    matrix = encode(features, categories)

    def dataset(rows: np.ndarray) -> Any:
        return lightgbm.Dataset(
            matrix[rows],
            label=y[rows],
            feature_name=[f"f{position}" for position in range(len(names))],
            categorical_feature=categorical_positions,
            free_raw_data=False,
        )

    everything = np.arange(len(y))
    learn, check = train_test_split(everything, test_size=0.2, stratify=y, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = lightgbm.train(
            params,
            dataset(learn),
            num_boost_round=MAX_ROUNDS,
            valid_sets=[dataset(check)],
            callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)],
        )
        rounds = max(20, round((probe.best_iteration or PATIENCE) * 1.1))
        booster = lightgbm.train(params, dataset(everything), num_boost_round=rounds)
    contributions = np.asarray(booster.predict(matrix, pred_contrib=True))[:, : len(names)]
    factor = settings.pdo / LN2
    gains = booster.feature_importance(importance_type="gain")
    importance = sorted(
        (
            {
                "name": name,
                "gain": round(float(gains[position]), 4),
                "mean_abs_points": round(
                    float(np.mean(np.abs(contributions[:, position]))) * factor, 3
                ),
                "monotone": settings.monotone.get(name, "") if name not in categories else "",
            }
            for position, name in enumerate(names)
        ),
        key=lambda item: -item["mean_abs_points"],
    )
    spec_features = []
    for position, name in enumerate(names):
        item: dict[str, Any] = {
            "name": name,
            "type": "categorical" if name in categories else "numerical",
            "reason": reason_text(name),
            "code": f"R{position + 1:02d}",
        }
        if name in categories:
            item["categories"] = categories[name]
        if transforms.get(name):
            item["transform"] = transforms[name]
        spec_features.append(item)
    spec = {
        "kind": "gbm",
        "format": 1,
        "scaling": {
            "base_score": settings.base_score,
            "base_odds": settings.base_odds,
            "pdo": settings.pdo,
        },
        "features": spec_features,
        "booster": booster.model_to_string(),
    }
    shown = {key: value for key, value in params.items() if key not in ("verbose", "num_threads")}
    return GbmFit(spec=spec, rounds=rounds, params=shown, importance=importance)
