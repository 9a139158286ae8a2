"""Probabilities from a registered propensity model (``ModelVersion.spec``).

The specification is self-contained JSON: the raw input columns (``spec["propensity"]
["inputs"]``), the derived features with their learnt tables (:mod:`.derive`), the model —
a LightGBM booster in the credit-risk engine's ``gbm`` layout (so the registry's engine can
read it) or a standardised one-hot logistic regression — and the calibration of its
probabilities. A column the rows lack, a missing value or a category never seen in training
counts as missing; nothing fails on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bankcrm.risk.engine import (
    SpecError,
    category_lookup,
    column_codes,
    column_numbers,
    compile_model,
)

from .derive import derive_apply


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -700, 700)))


def calibrate(calibration: Mapping[str, Any] | None, margin: np.ndarray) -> np.ndarray:
    """Probabilities of the model's log-odds ``margin`` under its calibration."""
    settings = dict(calibration or {})
    method = settings.get("method", "none")
    if method == "sigmoid":
        return _sigmoid(float(settings["a"]) * margin + float(settings["b"]))
    raw = _sigmoid(margin)
    if method == "isotonic":
        x = np.array(settings["x"], dtype=np.float64)
        y = np.array(settings["y"], dtype=np.float64)
        return np.asarray(np.interp(raw, x, y), dtype=np.float64)
    return raw


def input_frame(spec: Mapping[str, Any], rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with every input column of the model (missing ones as missing values)."""
    inputs = [item["name"] for item in spec["propensity"]["inputs"]]
    frame = rows.reset_index(drop=True)
    absent = [name for name in inputs if name not in frame.columns]
    if absent:
        frame = pd.concat(
            [frame, pd.DataFrame(dict.fromkeys(absent, None), index=frame.index, dtype=object)],
            axis=1,
        )
    return derive_apply(spec["propensity"]["derive"], frame)


def gbm_matrix(features: Sequence[Mapping[str, Any]], frame: pd.DataFrame) -> np.ndarray:
    """The booster's input matrix: numbers as numbers, categories as their list position
    (unseen or missing as NaN) — the engine's own coding."""
    matrix = np.full((len(frame), len(features)), np.nan, dtype=float)
    for position, item in enumerate(features):
        name = item["name"]
        if name not in frame.columns:
            continue
        if item["type"] == "numerical":
            matrix[:, position] = column_numbers(frame[name], item.get("transform"))
        else:
            lookup = category_lookup([[category] for category in item.get("categories") or []])
            codes = column_codes(frame[name], lookup).astype(float)
            codes[codes < 0] = np.nan
            matrix[:, position] = codes
    return matrix


def logistic_design(model: Mapping[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The logistic regression's design matrix: standardised numbers (missing → the
    learning median), one 0/1 column per learnt category (unseen or missing: all 0)."""
    columns: list[np.ndarray] = []
    rows = len(frame)
    for item in model["numeric"]:
        if item["name"] in frame.columns:
            values = column_numbers(frame[item["name"]], None)
        else:
            values = np.full(rows, np.nan)
        values = np.where(np.isnan(values), float(item["fill"]), values)
        columns.append((values - float(item["mean"])) / float(item["scale"]))
    for item in model["categorical"]:
        categories = list(item["categories"])
        if item["name"] in frame.columns:
            codes = column_codes(frame[item["name"]], category_lookup([[c] for c in categories]))
        else:
            codes = np.full(rows, -1)
        for index in range(len(categories)):
            columns.append((codes == index).astype(float))
    if not columns:
        return np.zeros((rows, 0))
    return np.column_stack(columns)


class SpecModel:
    """A propensity specification ready to predict."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("propensity"), Mapping):
            raise SpecError("not a propensity model specification (no propensity section)")
        self.spec = spec
        self.kind = spec.get("kind")
        if self.kind == "gbm":
            engine = compile_model(spec)
            self.booster = engine.booster  # type: ignore[attr-defined]
        elif self.kind != "logistic":
            raise SpecError(f"unknown propensity model kind {self.kind!r} (gbm or logistic)")

    def margin(self, rows: pd.DataFrame) -> np.ndarray:
        """The model's log-odds of the positive outcome per row, before calibration."""
        frame = input_frame(self.spec, rows)
        if len(frame) == 0:
            return np.zeros(0)
        if self.kind == "gbm":
            matrix = gbm_matrix(self.spec["features"], frame)
            return np.asarray(self.booster.predict(matrix, raw_score=True), dtype=float)
        model = self.spec["logistic"]
        design = logistic_design(model, frame)
        coefficients = np.asarray(model["coefficients"], dtype=float)
        return design @ coefficients + float(model["intercept"])

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities of the positive outcome."""
        return calibrate(self.spec["propensity"].get("calibration"), self.margin(rows))


_CACHE: dict[tuple[Any, Any], SpecModel] = {}
_CACHE_SIZE = 8


def _model_for(model_version: Any) -> SpecModel:
    key = (getattr(model_version, "pk", None), getattr(model_version, "updated_at", None))
    if key[0] is None:
        return SpecModel(model_version.spec)
    found = _CACHE.get(key)
    if found is None:
        for stale in [item for item in _CACHE if item[0] == key[0]]:
            del _CACHE[stale]
        while len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        found = _CACHE[key] = SpecModel(model_version.spec)
    return found


def propensity_predict(model_version: Any, rows: pd.DataFrame) -> np.ndarray:
    """Probabilities (0–1) that each row takes the product, from a registered propensity
    model. Columns the rows lack count as missing; the model's feature names are in
    ``model_version.spec`` (``spec["propensity"]["inputs"]`` are the raw columns)."""
    if not isinstance(rows, pd.DataFrame):
        rows = pd.DataFrame(rows)
    probabilities = _model_for(model_version).predict(rows)
    return np.asarray(probabilities, dtype=float)


def is_propensity_spec(spec: Any) -> bool:
    """Whether ``spec`` is a propensity model's specification."""
    return isinstance(spec, Mapping) and isinstance(spec.get("propensity"), Mapping)


__all__ = ["SpecModel", "calibrate", "is_propensity_spec", "propensity_predict"]
