"""Runtime scoring from a model specification (``ModelVersion.spec``).

The engine needs neither the training data nor the binning library: a scorecard is a
points table, a gradient-boosting model a LightGBM model text with its category lists.
:func:`compile_model` turns a specification into a :class:`CompiledModel` with its look-ups
precomputed, which scores one record (:meth:`CompiledModel.score`) or a whole frame at once
(:meth:`CompiledModel.score_frame`).

Scaling: a score of ``base_score`` means good:bad odds of ``base_odds``, and every ``pdo``
points double the odds, so ``pd = 1 / (1 + base_odds * 2 ** ((score - base_score) / pdo))``.

Scorecard
    Each feature has bins with integer points (the intercept is spread over them), so the
    score is exactly the sum of the points. Numerical bins: ``value < splits[0]`` is bin 0,
    ``splits[i-1] <= value < splits[i]`` is bin ``i``, ``value >= splits[-1]`` the last bin.
    Categorical bins are groups of categories. A missing value scores ``missing_points``; a
    category never seen in development scores ``other_points``. A feature's points lost are
    the best points of its regular bins minus the points obtained; the reasons are the
    features that lost points, most first.

Gradient boosting
    The score comes from the model's margin (log-odds of bad); the reasons from its SHAP
    contributions converted to points (a contribution to the bad log-odds times
    ``pdo / ln 2``), the largest first.

Missing, unknown or malformed values never fail: they score as missing (a number that does
not parse) or as an unseen category.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

LN2 = math.log(2.0)
# Text read as a missing value, in data files and in values sent for scoring (as written:
# "none" is a real category in many files, "None" is not).
MISSING_TOKENS = frozenset(
    {"", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NULL", "null", "None", "<NA>", "#N/A", "#NA"}
    | {"?", "NaT"}
)
_EPOCH = dt.date(1970, 1, 1)
_EXPONENT_LIMIT = 1000.0


class SpecError(ValueError):
    """A model specification that cannot be scored (the message names what is wrong)."""


@dataclass
class Reason:
    """One adverse reason: a feature that cost points against its best attainable bin."""

    code: str
    feature: str
    points_lost: float
    value: Any
    text_en: str
    text_zh: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "feature": self.feature,
            "points_lost": self.points_lost,
            "text_en": self.text_en,
            "text_zh": self.text_zh,
        }


@dataclass
class Outcome:
    """A model's verdict on one record: score, probability of default, points per feature
    and the reasons that cost the most points."""

    score: int
    probability_of_default: float
    points: dict[str, float]
    reasons: list[Reason] = field(default_factory=list)


# --- scaling and grades --------------------------------------------------------------


def _scaling(scaling: Mapping[str, Any]) -> tuple[float, float, float]:
    try:
        base = float(scaling["base_score"])
        odds = float(scaling["base_odds"])
        pdo = float(scaling["pdo"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(
            f"scaling needs numeric base_score, base_odds and pdo (got {dict(scaling)!r})"
        ) from exc
    if not (odds > 0 and pdo > 0 and math.isfinite(base)):
        raise SpecError(f"scaling needs base_odds > 0 and pdo > 0 (got {dict(scaling)!r})")
    return base, odds, pdo


def pd_for_score(score: float, scaling: Mapping[str, Any]) -> float:
    """The probability of default that ``score`` stands for under ``scaling``."""
    base, odds, pdo = _scaling(scaling)
    exponent = min(max((float(score) - base) / pdo, -_EXPONENT_LIMIT), _EXPONENT_LIMIT)
    return 1.0 / (1.0 + odds * 2.0**exponent)


def pd_for_scores(scores: np.ndarray, scaling: Mapping[str, Any]) -> np.ndarray:
    """:func:`pd_for_score` of an array of scores."""
    base, odds, pdo = _scaling(scaling)
    exponent = np.clip((np.asarray(scores, dtype=float) - base) / pdo, -_EXPONENT_LIMIT, 300)
    return 1.0 / (1.0 + odds * np.exp2(exponent))


def score_for_log_odds(log_odds_bad: np.ndarray | float, scaling: Mapping[str, Any]) -> Any:
    """The (unrounded) score of a bad log-odds:
    ``base + pdo/ln2 * (ln(good:bad) - ln(base_odds))``."""
    base, odds, pdo = _scaling(scaling)
    return base + pdo / LN2 * (-np.asarray(log_odds_bad, dtype=float) - math.log(odds))


def grade_for(score: float, bands: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """The (grade, recommendation) of the band ``score`` falls in.

    Bands are ``{"grade", "min_score", "recommendation"}``; a score belongs to the band with
    the highest ``min_score`` it reaches, and a band whose ``min_score`` is None takes every
    lower score. No bands → ``("", "")``.
    """
    ordered = sorted(
        bands,
        key=lambda band: (
            band.get("min_score") is None,
            -float(band["min_score"]) if band.get("min_score") is not None else 0.0,
        ),
    )
    for band in ordered:
        floor = band.get("min_score")
        if floor is None or float(score) >= float(floor):
            return str(band.get("grade", "")), str(band.get("recommendation", ""))
    if ordered:
        lowest = ordered[-1]
        return str(lowest.get("grade", "")), str(lowest.get("recommendation", ""))
    return "", ""


# --- value parsing (shared with the training data loader) ----------------------------


def is_missing(value: Any) -> bool:
    """Whether ``value`` counts as missing (None, NaN, empty or a missing-value token)."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, str):
        return value.strip() in MISSING_TOKENS
    return bool(value is pd.NA or value is pd.NaT)


def number_of(value: Any) -> float:
    """``value`` as a float; NaN when missing or not a number."""
    if value is None:
        return math.nan
    if isinstance(value, bool | int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text in MISSING_TOKENS:
            return math.nan
        try:
            return float(text)
        except ValueError:
            return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def canonical_number(text: str) -> str | None:
    """The canonical spelling of a numeric category ("1.0" → "1"), None if not a number."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if number.is_integer():
        return str(int(number))
    return repr(number)


def category_of(value: Any) -> str | None:
    """``value`` as a category label; None when missing."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return None
        return canonical_number(repr(float(value)))
    if value is pd.NA or value is pd.NaT:
        return None
    text = str(value).strip()
    if text in MISSING_TOKENS:
        return None
    return text


def date_days(value: Any) -> float:
    """Days since 1970-01-01 of a date (a date, a timestamp, ISO text, or a yymmdd /
    yyyymmdd number as in core-banking extracts); NaN when it is not a date."""
    if value is None or is_missing(value):
        return math.nan
    if isinstance(value, dt.datetime):
        return float((value.date() - _EPOCH).days)
    if isinstance(value, dt.date):
        return float((value - _EPOCH).days)
    if isinstance(value, pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        return math.nan if pd.isna(stamp) else float((stamp.date() - _EPOCH).days)
    text = str(value).strip()
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if not math.isfinite(number) or not number.is_integer():
            return math.nan
        text = str(int(number))
    if text.isdigit() and len(text) in (6, 8):
        layout = "%y%m%d" if len(text) == 6 else "%Y%m%d"
        try:
            return float((dt.datetime.strptime(text, layout).date() - _EPOCH).days)
        except ValueError:
            return math.nan
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        return math.nan
    if pd.isna(stamp):
        return math.nan
    return float((stamp.date() - _EPOCH).days)


def column_numbers(column: pd.Series, transform: str | None) -> np.ndarray:
    """A column as floats (NaN for missing or unparsable values), dates as days."""
    if transform == "date":
        uniques = pd.unique(column.astype(object))
        mapping = {value: date_days(value) for value in uniques}
        return np.asarray(column.astype(object).map(mapping), dtype=float)
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column.to_numpy(dtype=float, na_value=np.nan)
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers.to_numpy(dtype=float, na_value=np.nan)


def category_lookup(groups: Sequence[Sequence[Any]]) -> dict[str, int]:
    """Category label → index of its group, numeric labels under every spelling."""
    lookup: dict[str, int] = {}
    for index, group in enumerate(groups):
        for category in group:
            label = category_of(category)
            if label is not None:
                lookup.setdefault(label, index)
    for label, index in list(lookup.items()):
        canonical = canonical_number(label)
        if canonical is not None:
            lookup.setdefault(canonical, index)
    return lookup


def _lookup_category(lookup: Mapping[str, int], value: Any) -> int | None:
    """Index of ``value``'s group; -1 missing; None unseen."""
    label = category_of(value)
    if label is None:
        return -1
    index = lookup.get(label)
    if index is None:
        canonical = canonical_number(label)
        if canonical is not None:
            index = lookup.get(canonical)
    return index


def column_codes(column: pd.Series, lookup: Mapping[str, int]) -> np.ndarray:
    """Group index per row of ``column`` (see :func:`category_lookup`): -1 missing,
    -2 a category in no group."""
    values = column.astype(object)
    uniques = pd.unique(values)
    mapping: dict[Any, int] = {}
    for value in uniques:
        found = _lookup_category(lookup, value)
        mapping[value] = -2 if found is None else found
    codes = values.map(mapping).to_numpy(dtype=float, na_value=np.nan, copy=True)
    codes[np.isnan(codes) | values.isna().to_numpy()] = -1
    return codes.astype(np.int64)


# --- compiled models -----------------------------------------------------------------


@dataclass
class _Feature:
    name: str
    code: str
    kind: str
    text_en: str
    text_zh: str
    transform: str | None = None
    splits: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lookup: dict[str, int] = field(default_factory=dict)
    points: np.ndarray = field(default_factory=lambda: np.zeros(0))
    missing_points: float = 0.0
    other_points: float = 0.0
    best: float = 0.0
    labels: list[str] = field(default_factory=list)

    def value_of(self, raw: Any) -> float:
        if self.transform == "date":
            return date_days(raw)
        return number_of(raw)


def _feature_header(position: int, item: Any) -> tuple[str, str, str, str, str]:
    if not isinstance(item, Mapping):
        raise SpecError(f"features[{position}] is not an object")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"features[{position}] has no name")
    kind = item.get("type")
    if kind not in ("numerical", "categorical"):
        raise SpecError(f"feature {name!r}: type must be numerical or categorical, not {kind!r}")
    reason = item.get("reason") or {}
    if not isinstance(reason, Mapping):
        raise SpecError(f"feature {name!r}: reason must be an object with en and zh")
    code = str(item.get("code") or f"R{position + 1:02d}")
    text_en = str(reason.get("en") or name)
    text_zh = str(reason.get("zh") or text_en)
    return name, kind, code, text_en, text_zh


class CompiledModel:
    """A model specification ready to score, with its look-ups precomputed."""

    features: list[str]
    kind: str

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.kind = str(spec.get("kind"))
        scaling = spec.get("scaling")
        if not isinstance(scaling, Mapping):
            raise SpecError("the specification has no scaling")
        _scaling(scaling)
        self.scaling = dict(scaling)
        self.features = []

    # Subclasses fill these in.
    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Unrounded scores of every row of ``frame`` (no reasons)."""
        raise NotImplementedError

    def score(self, values: Mapping[str, Any], *, top: int = 4) -> Outcome:
        """Score one record (feature name → value)."""
        raise NotImplementedError

    def score_frame(self, frame: pd.DataFrame, *, top: int = 4) -> pd.DataFrame:
        """Scores of every row of ``frame``: columns score, probability_of_default and
        reason_1 … reason_{top} (reason codes, "" when fewer reasons)."""
        raise NotImplementedError

    def missing_columns(self, frame: pd.DataFrame) -> list[str]:
        """The model's features that ``frame`` has no column for (they score as missing)."""
        return [name for name in self.features if name not in frame.columns]

    def reason_texts(self) -> dict[str, dict[str, str]]:
        """Reason code → {"feature", "en", "zh"}."""
        return {
            feature.code: {"feature": feature.name, "en": feature.text_en, "zh": feature.text_zh}
            for feature in self._features
        }

    _features: list[_Feature]

    def _result_frame(
        self, index: pd.Index, scores: np.ndarray, losses: np.ndarray, top: int
    ) -> pd.DataFrame:
        result = pd.DataFrame(index=index)
        rounded = np.rint(scores).astype(np.int64)
        result["score"] = rounded
        result["probability_of_default"] = pd_for_scores(scores, self.scaling)
        if top <= 0:
            return result
        codes = np.array([feature.code for feature in self._features] + [""], dtype=object)
        if losses.shape[1] == 0:
            for rank in range(top):
                result[f"reason_{rank + 1}"] = ""
            return result
        order = np.argsort(-losses, axis=1, kind="stable")[:, :top]
        ranked = np.take_along_axis(losses, order, axis=1)
        order = np.where(ranked > 0, order, len(self._features))
        for rank in range(top):
            column = (
                codes[order[:, rank]] if rank < order.shape[1] else codes[-1:].repeat(len(index))
            )
            result[f"reason_{rank + 1}"] = column
        return result


class ScorecardModel(CompiledModel):
    """A points table: the score is the sum of the points of each feature's bin."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        items = spec.get("features")
        if not isinstance(items, list):
            raise SpecError("the scorecard has no features list")
        self._features = []
        for position, item in enumerate(items):
            name, kind, code, text_en, text_zh = _feature_header(position, item)
            feature = _Feature(name, code, kind, text_en, text_zh, item.get("transform"))
            try:
                points = np.asarray(item["points"], dtype=float)
                feature.missing_points = float(item.get("missing_points", 0))
                feature.other_points = float(item.get("other_points", feature.missing_points))
            except (KeyError, TypeError, ValueError) as exc:
                raise SpecError(f"feature {name!r}: points must be numbers") from exc
            if points.ndim != 1 or len(points) == 0:
                raise SpecError(f"feature {name!r}: points must be a non-empty list")
            if kind == "numerical":
                try:
                    splits = np.asarray(item.get("splits", []), dtype=float)
                except (TypeError, ValueError) as exc:
                    raise SpecError(f"feature {name!r}: splits must be numbers") from exc
                if len(points) != len(splits) + 1:
                    raise SpecError(
                        f"feature {name!r}: {len(splits)} splits need {len(splits) + 1} points,"
                        f" not {len(points)}"
                    )
                if np.any(np.diff(splits) <= 0):
                    raise SpecError(f"feature {name!r}: splits must be increasing")
                feature.splits = splits
            else:
                groups = item.get("categories")
                if not isinstance(groups, list) or len(groups) != len(points):
                    raise SpecError(
                        f"feature {name!r}: categories must be a list of {len(points)} groups"
                    )
                feature.lookup = category_lookup(
                    [group if isinstance(group, list) else [group] for group in groups]
                )
            feature.points = points
            feature.best = float(points.max())
            feature.labels = [str(label) for label in item.get("labels", [])]
            self._features.append(feature)
        self.features = [feature.name for feature in self._features]

    def _points(self, feature: _Feature, raw: Any) -> float:
        if feature.kind == "numerical":
            number = feature.value_of(raw)
            if math.isnan(number):
                return feature.missing_points
            index = int(np.searchsorted(feature.splits, number, side="right"))
            return float(feature.points[index])
        found = _lookup_category(feature.lookup, raw)
        if found is None:
            return feature.other_points
        if found < 0:
            return feature.missing_points
        return float(feature.points[found])

    def score(self, values: Mapping[str, Any], *, top: int = 4) -> Outcome:
        points: dict[str, float] = {}
        losses: list[tuple[float, int, _Feature, Any]] = []
        total = 0.0
        for position, feature in enumerate(self._features):
            raw = values.get(feature.name)
            obtained = self._points(feature, raw)
            points[feature.name] = obtained
            total += obtained
            lost = feature.best - obtained
            if lost > 0:
                losses.append((-lost, position, feature, raw))
        losses.sort(key=lambda item: (item[0], item[1]))
        reasons = [
            Reason(feature.code, feature.name, -negative, raw, feature.text_en, feature.text_zh)
            for negative, _position, feature, raw in losses[: max(top, 0)]
        ]
        score = round(total)
        return Outcome(score, pd_for_score(score, self.scaling), points, reasons)

    def points_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Points of every row (rows × features)."""
        table = np.zeros((len(frame), len(self._features)), dtype=float)
        for position, feature in enumerate(self._features):
            if feature.name not in frame.columns:
                table[:, position] = feature.missing_points
                continue
            column = frame[feature.name]
            if feature.kind == "numerical":
                numbers = column_numbers(column, feature.transform)
                index = np.searchsorted(feature.splits, numbers, side="right")
                index = np.minimum(index, len(feature.points) - 1)
                values = feature.points[index]
                values[np.isnan(numbers)] = feature.missing_points
            else:
                codes = column_codes(column, feature.lookup)
                values = feature.points[np.clip(codes, 0, None)]
                values[codes == -1] = feature.missing_points
                values[codes == -2] = feature.other_points
            table[:, position] = values
        return table

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        return np.rint(self.points_frame(frame).sum(axis=1))

    def score_frame(self, frame: pd.DataFrame, *, top: int = 4) -> pd.DataFrame:
        table = self.points_frame(frame)
        best = np.array([feature.best for feature in self._features], dtype=float)
        scores = np.rint(table.sum(axis=1))
        return self._result_frame(frame.index, scores, best[None, :] - table, top)


class GradientBoostingModel(CompiledModel):
    """A LightGBM model: the score from its margin, the reasons from SHAP contributions."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__(spec)
        items = spec.get("features")
        if not isinstance(items, list) or not items:
            raise SpecError("the gradient-boosting model has no features list")
        booster_text = spec.get("booster")
        if not isinstance(booster_text, str) or not booster_text:
            raise SpecError("the gradient-boosting model has no booster")
        import lightgbm

        try:
            self.booster = lightgbm.Booster(model_str=booster_text)
        except lightgbm.basic.LightGBMError as exc:
            raise SpecError(f"the booster does not load: {exc}") from exc
        self._features = []
        for position, item in enumerate(items):
            name, kind, code, text_en, text_zh = _feature_header(position, item)
            feature = _Feature(name, code, kind, text_en, text_zh, item.get("transform"))
            if kind == "categorical":
                categories = item.get("categories") or []
                if not isinstance(categories, list):
                    raise SpecError(f"feature {name!r}: categories must be a list")
                feature.lookup = category_lookup([[category] for category in categories])
            self._features.append(feature)
        if self.booster.num_feature() != len(self._features):
            raise SpecError(
                f"the booster has {self.booster.num_feature()} features,"
                f" the specification {len(self._features)}"
            )
        self.features = [feature.name for feature in self._features]
        self._factor = float(self.scaling["pdo"]) / LN2

    def _row(self, values: Mapping[str, Any]) -> np.ndarray:
        row = np.empty((1, len(self._features)), dtype=float)
        for position, feature in enumerate(self._features):
            raw = values.get(feature.name)
            if feature.kind == "numerical":
                row[0, position] = feature.value_of(raw)
            else:
                found = _lookup_category(feature.lookup, raw)
                row[0, position] = math.nan if found is None or found < 0 else float(found)
        return row

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's input matrix for ``frame`` (categories as codes, unknown as NaN)."""
        table = np.full((len(frame), len(self._features)), np.nan, dtype=float)
        for position, feature in enumerate(self._features):
            if feature.name not in frame.columns:
                continue
            column = frame[feature.name]
            if feature.kind == "numerical":
                table[:, position] = column_numbers(column, feature.transform)
            else:
                codes = column_codes(column, feature.lookup).astype(float)
                codes[codes < 0] = np.nan
                table[:, position] = codes
        return table

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0:
            return np.zeros(0)
        margin = np.asarray(self.booster.predict(self.matrix(frame), raw_score=True))
        return np.asarray(score_for_log_odds(margin, self.scaling), dtype=float)

    def score(self, values: Mapping[str, Any], *, top: int = 4) -> Outcome:
        contributions = self.booster.predict(self._row(values), pred_contrib=True, num_threads=1)[0]
        exact = float(score_for_log_odds(float(contributions.sum()), self.scaling))
        points: dict[str, float] = {}
        losses: list[tuple[float, int, _Feature, Any]] = []
        for position, feature in enumerate(self._features):
            lost = float(contributions[position]) * self._factor
            points[feature.name] = round(-lost, 2)
            if lost > 0:
                losses.append((-lost, position, feature, values.get(feature.name)))
        losses.sort(key=lambda item: (item[0], item[1]))
        reasons = [
            Reason(
                feature.code,
                feature.name,
                round(-negative, 2),
                raw,
                feature.text_en,
                feature.text_zh,
            )
            for negative, _position, feature, raw in losses[: max(top, 0)]
        ]
        return Outcome(round(exact), pd_for_score(exact, self.scaling), points, reasons)

    def score_frame(self, frame: pd.DataFrame, *, top: int = 4) -> pd.DataFrame:
        matrix = self.matrix(frame)
        if len(frame) == 0:
            return self._result_frame(frame.index, np.zeros(0), np.zeros((0, 0)), top)
        if top > 0:
            contributions = np.asarray(self.booster.predict(matrix, pred_contrib=True))
            margin = contributions.sum(axis=1)
            losses = contributions[:, : len(self._features)] * self._factor
        else:
            margin = np.asarray(self.booster.predict(matrix, raw_score=True))
            losses = np.zeros((len(frame), 0))
        scores = np.asarray(score_for_log_odds(margin, self.scaling), dtype=float)
        return self._result_frame(frame.index, scores, losses, top)


def compile_model(spec: Mapping[str, Any]) -> CompiledModel:
    """A :class:`CompiledModel` for ``spec`` (raises :class:`SpecError` when it is malformed)."""
    if not isinstance(spec, Mapping):
        raise SpecError("the specification is not an object")
    kind = spec.get("kind")
    if kind == "scorecard":
        return ScorecardModel(spec)
    if kind == "gbm":
        return GradientBoostingModel(spec)
    raise SpecError(f"unknown model kind {kind!r} (scorecard or gbm)")
