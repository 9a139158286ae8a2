"""Training credit models: cross-validated evaluation, the final fit on every row, the
model card's data and the development distribution for stability monitoring."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..engine import compile_model, score_for_log_odds
from ..stability import category_distribution, distribution
from .data import Dataset, DatasetError, _
from .evaluate import FoldPredictor, cross_validate
from .gbm import fit_gbm
from .scorecard import ScorecardError, fit_scorecard, numeric_labels

METHODS = ("scorecard", "gbm", "both")
TRENDS = ("ascending", "descending")
SCORE_BINS = 10


@dataclass
class TrainingSettings:
    """How to train: method, score scaling, cross-validation and scorecard choices."""

    method: str = "scorecard"  # scorecard | gbm | both
    base_score: float = 600
    base_odds: float = 50  # good:bad odds at base_score
    pdo: float = 20  # points to double the odds
    folds: int = 5
    repeats: int = 5
    seed: int = 42
    min_iv: float = 0.02
    # Feature → "ascending" (risk rises with it) or "descending" (risk falls with it).
    monotone: dict[str, str] = field(default_factory=dict)
    grade_bands: list[dict[str, Any]] | None = None
    min_bin_size: float = 0.05
    max_correlation: float = 0.7
    # Inverse L2 penalty of the scorecard's logistic regression.
    regularisation: float = 0.1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def bands(self) -> list[dict[str, Any]]:
        if self.grade_bands:
            return [dict(band) for band in self.grade_bands]
        return default_grade_bands(self.base_score, self.pdo)


@dataclass
class TrainedModel:
    """A trained model: its specification, evaluation, model card data and development
    distribution."""

    method: str
    spec: dict[str, Any]
    metrics: dict[str, Any]
    card: dict[str, Any]
    baseline: dict[str, Any]


def default_grade_bands(base_score: float, pdo: float) -> list[dict[str, Any]]:
    """Six grades one PDO apart: A at the base score and above (approve) down to F below
    ``base_score − 4·pdo`` (decline)."""
    steps = [
        ("A", 0, "approve"),
        ("B", 1, "approve"),
        ("C", 2, "approve"),
        ("D", 3, "refer"),
        ("E", 4, "refer"),
    ]
    bands: list[dict[str, Any]] = [
        {"grade": grade, "min_score": round(base_score - step * pdo), "recommendation": advice}
        for grade, step, advice in steps
    ]
    bands.append({"grade": "F", "min_score": None, "recommendation": "decline"})
    return bands


def _check_settings(dataset: Dataset, settings: TrainingSettings) -> None:
    problems = []
    if settings.method not in METHODS:
        problems.append(
            _("method must be scorecard, gbm or both, not '%(method)s'")
            % {"method": settings.method}
        )
    if not (settings.pdo > 0 and settings.base_odds > 0 and math.isfinite(settings.base_score)):
        problems.append(_("pdo and base_odds must be positive"))
    if settings.folds < 2 or settings.repeats < 1:
        problems.append(_("cross-validation needs at least 2 folds and 1 repeat"))
    if not 0 < settings.min_bin_size < 0.5:
        problems.append(_("min_bin_size must be between 0 and 0.5"))
    if not 0 < settings.max_correlation <= 1:
        problems.append(_("max_correlation must be between 0 and 1"))
    if settings.regularisation <= 0:
        problems.append(_("regularisation must be positive"))
    for name, trend in settings.monotone.items():
        if trend not in TRENDS:
            problems.append(
                _(
                    "monotone trend of '%(feature)s' must be ascending or descending,"
                    " not '%(trend)s'"
                )
                % {"feature": name, "trend": trend}
            )
        elif name not in dataset.features.columns:
            known = {profile.name for profile in dataset.profiles}
            if name not in known:
                problems.append(
                    _("monotone feature '%(feature)s' is not a column of the data")
                    % {"feature": name}
                )
        elif dataset.features[name].dtype.kind != "f":
            problems.append(
                _("monotone feature '%(feature)s' is categorical; a trend needs numbers")
                % {"feature": name}
            )
    for band in settings.grade_bands or []:
        if "grade" not in band or "min_score" not in band:
            problems.append(_("every grade band needs a grade and a min_score"))
            break
    bads = int(dataset.target.sum())
    goods = len(dataset.target) - bads
    if min(bads, goods) < settings.folds:
        problems.append(
            _("%(folds)s folds need at least %(folds)s bad and good rows (have %(count)s)")
            % {"folds": settings.folds, "count": min(bads, goods)}
        )
    if problems:
        raise DatasetError("; ".join(problems))


def _constant(y: np.ndarray, settings: TrainingSettings, note: str) -> FoldPredictor:
    rate = min(max(float(np.mean(y)), 1e-6), 1 - 1e-6)
    score = float(score_for_log_odds(math.log(rate / (1 - rate)), _scaling(settings)))
    return FoldPredictor(model=None, constant_score=score, note=note)


def _scaling(settings: TrainingSettings) -> dict[str, float]:
    return {
        "base_score": settings.base_score,
        "base_odds": settings.base_odds,
        "pdo": settings.pdo,
    }


def _fold_scorecard(settings: TrainingSettings) -> Any:
    def fit(part: Dataset, seed: int) -> FoldPredictor:
        try:
            fitted = fit_scorecard(part.features, part.target, settings, transforms=part.transforms)
        except ScorecardError as exc:
            return _constant(part.target, settings, str(exc))
        return FoldPredictor(model=compile_model(fitted.spec))

    return fit


def _fold_gbm(settings: TrainingSettings) -> Any:
    def fit(part: Dataset, seed: int) -> FoldPredictor:
        fitted = fit_gbm(
            part.features, part.target, settings, transforms=part.transforms, seed=seed
        )
        return FoldPredictor(model=compile_model(fitted.spec))

    return fit


def _score_baseline(scores: np.ndarray) -> dict[str, Any]:
    """Ten bins of the development scores, cut at whole-point deciles."""
    quantiles = np.ceil(np.quantile(scores, np.linspace(0, 1, SCORE_BINS + 1)[1:-1]))
    edges = [edge for edge in sorted({float(value) for value in quantiles}) if edge > scores.min()]
    shares = distribution(scores, edges)
    return {
        "edges": edges,
        "bins": numeric_labels(edges),
        "shares": [round(share, 6) for share in shares],
    }


def _feature_baseline_numeric(
    values: np.ndarray, edges: list[float], labels: list[str]
) -> dict[str, Any]:
    shares = distribution(values, edges, missing=True)
    return {
        "kind": "numeric",
        "edges": [float(edge) for edge in edges],
        "bins": [*labels, "Missing"],
        "shares": [round(share, 6) for share in shares],
    }


def _feature_baseline_categorical(
    values: Any, groups: list[list[str]], labels: list[str]
) -> dict[str, Any]:
    shares = category_distribution(values, groups)
    return {
        "kind": "categorical",
        "categories": [list(group) for group in groups],
        "bins": [*labels, "Other / missing"],
        "shares": [round(share, 6) for share in shares],
    }


def _gbm_feature_baseline(dataset: Dataset, spec: dict[str, Any]) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for item in spec["features"]:
        name = item["name"]
        column = dataset.features[name]
        if item["type"] == "numerical":
            values = column.to_numpy(dtype=float, na_value=np.nan)
            present = values[~np.isnan(values)]
            edges: list[float] = []
            if present.size:
                quantiles = np.quantile(present, np.linspace(0, 1, SCORE_BINS + 1)[1:-1])
                edges = [
                    edge for edge in sorted({float(q) for q in quantiles}) if edge > present.min()
                ]
            labels = numeric_labels(edges, item.get("transform"))
            features[name] = _feature_baseline_numeric(values, edges, labels)
        else:
            categories = list(item.get("categories", []))[:50]
            features[name] = _feature_baseline_categorical(
                column.tolist(), [[category] for category in categories], categories
            )
    return features


def _train_one(dataset: Dataset, settings: TrainingSettings, method: str) -> TrainedModel:
    started = time.perf_counter()
    bands = settings.bands()
    fold_fit = _fold_scorecard(settings) if method == "scorecard" else _fold_gbm(settings)
    metrics = cross_validate(
        dataset,
        fold_fit,
        folds=settings.folds,
        repeats=settings.repeats,
        seed=settings.seed,
        scaling=_scaling(settings),
        bands=bands,
    )
    cv_seconds = time.perf_counter() - started
    card: dict[str, Any] = {"method": method}
    profiles = [profile.as_dict() for profile in dataset.profiles]
    if method == "scorecard":
        try:
            fitted = fit_scorecard(
                dataset.features,
                dataset.target,
                settings,
                transforms=dataset.transforms,
            )
        except ScorecardError as exc:
            raise DatasetError(str(exc)) from exc
        spec = fitted.spec
        card["features"] = fitted.card_features
        card["selected"] = fitted.selected
        card["dropped"] = fitted.dropped
        card["coefficients"] = fitted.coefficients
        card["intercept"] = fitted.intercept
        grouped = {name for name, binning in fitted.binnings.items() if binning.few_values}
        for profile in profiles:
            if profile["name"] in grouped:
                note = _("few distinct values: binned as categories")
                profile["note"] = f"{profile['note']}; {note}" if profile["note"] else note
        feature_baseline: dict[str, Any] = {}
        for item in spec["features"]:
            name = item["name"]
            column = dataset.features[name]
            if item["type"] == "numerical":
                feature_baseline[name] = _feature_baseline_numeric(
                    column.to_numpy(dtype=float, na_value=np.nan), item["splits"], item["labels"]
                )
            else:
                feature_baseline[name] = _feature_baseline_categorical(
                    column.tolist(), item["categories"], item["labels"]
                )
    else:
        fitted_gbm = fit_gbm(
            dataset.features,
            dataset.target,
            settings,
            transforms=dataset.transforms,
            seed=settings.seed,
        )
        spec = fitted_gbm.spec
        card["features"] = fitted_gbm.importance
        card["selected"] = [item["name"] for item in spec["features"]]
        card["dropped"] = []
        card["rounds"] = fitted_gbm.rounds
        card["params"] = fitted_gbm.params
        feature_baseline = _gbm_feature_baseline(dataset, spec)
    compiled = compile_model(spec)
    scores = compiled.predict_scores(dataset.features)
    baseline = {"score": _score_baseline(scores), "features": feature_baseline}
    seconds = time.perf_counter() - started
    metrics["cv_seconds"] = round(cv_seconds, 3)
    card.update(
        {
            "target": dataset.target_name,
            "bad_values": dataset.bad_values,
            "exclusions": dataset.exclusions,
            "profiles": profiles,
            "fingerprint": dataset.fingerprint,
            "calibration": metrics["calibration"],
            "calibration_deciles": metrics["calibration_deciles"],
            "settings": settings.as_dict() | {"method": method, "grade_bands": bands},
            "training_seconds": round(seconds, 3),
        }
    )
    return TrainedModel(method=method, spec=spec, metrics=metrics, card=card, baseline=baseline)


def train(dataset: Dataset, settings: TrainingSettings) -> list[TrainedModel]:
    """Cross-validate and fit the model(s) ``settings.method`` asks for ("both": the
    scorecard, then the gradient-boosting challenger)."""
    _check_settings(dataset, settings)
    methods = ["scorecard", "gbm"] if settings.method == "both" else [settings.method]
    return [_train_one(dataset, settings, method) for method in methods]
