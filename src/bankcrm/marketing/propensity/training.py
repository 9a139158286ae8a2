"""Training propensity models from any tabular CSV with a yes/no outcome.

The file is read by the credit-risk pipeline's loader (plain or gzipped, separator sniffed,
header detected) and its columns typed the same way (numbers, categories; identifiers,
dates, constant columns left out with a note). The declared post-outcome columns
(:mod:`.leakage`) and the ones asked for are left out before anything is learnt.

Methods
    ``gbm`` — LightGBM on the columns plus the derived features (:mod:`.derive`), categories
    handled natively; learning rate 0.03, 31 leaves, at least 50 rows per leaf, 70 per cent
    of the features and 80 per cent of the rows per tree, an L2 penalty of 5; the number of
    trees is found by early stopping on a fifth of the learning rows (inside each fold's
    learning part during cross-validation), then the model is refitted on all of them with
    a tenth more trees. Its own probabilities are used: the calibration table shows them in
    line with the observed rates.

    ``logistic`` — one 0/1 column per category, numbers standardised (missing: the learning
    median), L2-penalised logistic regression, then Platt scaling fitted on three-fold
    out-of-fold scores of the learning rows.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from bankcrm.risk.engine import canonical_number, category_of
from bankcrm.risk.pipeline.data import DatasetError, dataset_from_frame, read_table
from bankcrm.risk.reasons import reason_text

from .derive import derive_apply, derive_fit, derive_plan, derived_names
from .evaluation import cross_validate
from .leakage import post_outcome_columns
from .scoring import SpecModel, gbm_matrix, logistic_design

METHODS = ("gbm", "logistic")
MAX_CATEGORIES = 250
# The risk engine reads the booster's margin through a score scale; a propensity model's
# probabilities come from its calibration, the scale only keeps the engine's layout.
SCALING = {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}
Progress = Callable[[str], None]


class PropensityDataError(ValueError):
    """Learning data or settings that cannot be used; ``field`` names the option at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class PropensitySettings:
    """How to train: method, cross-validation and the learners' settings."""

    method: str = "gbm"
    folds: int = 5
    seed: int = 42
    learning_rate: float = 0.03
    num_leaves: int = 31
    min_child_samples: int = 50
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    lambda_l2: float = 5.0
    cat_smooth: float = 10.0
    min_data_per_group: int = 50
    max_rounds: int = 5000
    patience: int = 200
    validation_share: float = 0.2
    # Inverse L2 penalty of the logistic regression.
    logistic_c: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def gbm_params(self, seed: int) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "cat_smooth": self.cat_smooth,
            "min_data_per_group": self.min_data_per_group,
            "metric": "auc",
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            # One thread: measured faster than two on a machine busy with other work.
            "num_threads": 1,
            "verbose": -1,
        }


@dataclass
class LearningData:
    """Typed features, the outcome (1 = positive) and what was left out and why."""

    features: pd.DataFrame
    target: np.ndarray
    target_name: str
    positive_values: list[str]
    exclusions: list[dict[str, str]]
    profiles: list[dict[str, Any]]
    fingerprint: dict[str, Any]
    source: str = ""


@dataclass
class FittedPropensity:
    """One fitted model: its scoring specification and what the card shows."""

    spec: dict[str, Any]
    notes: dict[str, Any] = field(default_factory=dict)
    importance: list[dict[str, Any]] = field(default_factory=list)
    _model: SpecModel | None = None

    @property
    def fold_notes(self) -> dict[str, Any]:
        return {key: value for key, value in self.notes.items() if key in ("rounds",)}

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        if self._model is None:
            self._model = SpecModel(self.spec)
        return self._model.predict(rows)


@dataclass
class TrainedPropensity:
    """A trained model with its evaluation and model card data, ready to register."""

    method: str
    spec: dict[str, Any]
    metrics: dict[str, Any]
    card: dict[str, Any]
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    dataset_name: str
    exclusions: list[dict[str, str]]


# --- the learning data ---------------------------------------------------------------------


def _names(values: Iterable[str] | str | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [str(value).strip() for value in values if str(value).strip()]


def _resolve(columns: list[str], name: str) -> str | None:
    if name in columns:
        return name
    folded = {column.lower(): column for column in columns}
    return folded.get(name.lower())


def _matches(value: str, wanted: str) -> bool:
    if value == wanted or value.lower() == wanted.lower():
        return True
    number = canonical_number(wanted)
    return number is not None and canonical_number(value) == number


def load_learning_data(
    path: str | Path,
    *,
    target: str,
    positive: str | Sequence[str],
    exclude: Iterable[str] = (),
) -> LearningData:
    """The learning data in the CSV file ``path``; raises :class:`PropensityDataError`
    naming the option at fault (data, target, positive, exclude)."""
    target = str(target or "").strip()
    wanted = _names(positive)
    if not target:
        raise PropensityDataError("target", _("Name the column holding the outcome."))
    if not wanted:
        raise PropensityDataError("positive", _("Give the value of the target that means yes."))
    try:
        table, raw, how = read_table(path, target=target)
    except DatasetError as exc:
        raise PropensityDataError("data", str(exc)) from None
    columns = [str(column) for column in table.columns]
    target_name = _resolve(columns, target)
    if target_name is None:
        raise PropensityDataError(
            "target",
            _("the target column “%(target)s” is not in the data (columns: %(columns)s)")
            % {"target": target, "columns": ", ".join(columns)},
        )
    values = sorted({str(value) for value in table[target_name] if category_of(value) is not None})
    for value in wanted:
        if not any(_matches(found, value) for found in values):
            shown = ", ".join(values[:10]) + (" …" if len(values) > 10 else "")
            raise PropensityDataError(
                "positive",
                _(
                    "the positive value “%(value)s” does not occur in the target column"
                    " “%(target)s” (its values: %(values)s)"
                )
                % {"value": value, "target": target_name, "values": shown},
            )
    requested = []
    for name in _names(exclude):
        column = _resolve(columns, name)
        if column is None:
            raise PropensityDataError(
                "exclude",
                _("the excluded column “%(column)s” is not in the data (columns: %(columns)s)")
                % {"column": name, "columns": ", ".join(columns)},
            )
        if column == target_name:
            raise PropensityDataError(
                "exclude", _("the target “%(target)s” cannot be excluded") % {"target": column}
            )
        requested.append(column)
    leaks = [item for item in post_outcome_columns(columns) if item["column"] != target_name]
    leaked = {item["column"] for item in leaks}
    try:
        dataset = dataset_from_frame(
            table,
            target=target_name,
            bad=wanted,
            exclude=sorted(leaked | set(requested)),
            source=str(path),
        )
    except DatasetError as exc:
        raise PropensityDataError("data", str(exc)) from None

    fingerprint = dict(dataset.fingerprint)
    fingerprint.update(
        {
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw),
            "separator": how["separator"],
            "header": how["header"],
            "positive_count": fingerprint.pop("bad_count", int(dataset.target.sum())),
            "positive_rate": fingerprint.pop("bad_rate", None),
        }
    )
    exclusions: list[dict[str, str]] = [
        {"column": item["column"], "reason": item["reason"], "kind": "post_outcome"}
        for item in leaks
    ]
    for item in dataset.exclusions:
        if item["column"] in leaked:
            continue
        kind = "requested" if item["column"] in requested else "unusable"
        exclusions.append({"column": item["column"], "reason": str(item["reason"]), "kind": kind})
    profiles = [profile.as_dict() for profile in dataset.profiles]
    for profile in profiles:
        for item in leaks:
            if profile["name"] == item["column"]:
                profile["note"] = item["reason"]
    return LearningData(
        features=dataset.features,
        target=np.asarray(dataset.target, dtype=np.int64),
        target_name=dataset.target_name,
        positive_values=list(dataset.bad_values),
        exclusions=exclusions,
        profiles=profiles,
        fingerprint=fingerprint,
        source=str(path),
    )


# --- fitting -------------------------------------------------------------------------------


def _categories(column: pd.Series) -> list[str]:
    labels = column.map(category_of).dropna()
    counts = labels.value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    return [str(category) for category, _count in ordered[:MAX_CATEGORIES]]


def _inputs(features: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {
            "name": str(name),
            "type": "numerical" if features[name].dtype.kind == "f" else "categorical",
        }
        for name in features.columns
    ]


def _propensity_section(
    method: str, features: pd.DataFrame, fitted_derive: dict[str, Any], calibration: dict
) -> dict[str, Any]:
    return {
        "format": 1,
        "method": method,
        "inputs": _inputs(features),
        "derive": fitted_derive,
        "derived": derived_names(fitted_derive),
        "calibration": calibration,
    }


def fit_gbm(
    features: pd.DataFrame,
    y: np.ndarray,
    settings: PropensitySettings,
    *,
    seed: int,
    plan: dict[str, Any] | None = None,
) -> FittedPropensity:
    """Gradient boosting on ``features`` (and the derived ones) against ``y`` (1 = yes)."""
    import lightgbm
    from sklearn.model_selection import train_test_split

    y = np.asarray(y, dtype=np.int64)
    fitted_derive = derive_fit(plan if plan is not None else derive_plan(features), features)
    frame = derive_apply(fitted_derive, features)
    items: list[dict[str, Any]] = []
    for position, name in enumerate(frame.columns):
        item: dict[str, Any] = {
            "name": str(name),
            "type": "numerical" if frame[name].dtype.kind == "f" else "categorical",
            "reason": reason_text(str(name)),
            "code": f"R{position + 1:02d}",
        }
        if item["type"] == "categorical":
            item["categories"] = _categories(frame[name])
        items.append(item)
    matrix = gbm_matrix(items, frame)
    categorical = [position for position, item in enumerate(items) if item["type"] != "numerical"]
    params = settings.gbm_params(seed)

    def dataset(rows: np.ndarray) -> Any:
        return lightgbm.Dataset(
            matrix[rows],
            label=y[rows],
            feature_name=[f"f{position}" for position in range(len(items))],
            categorical_feature=categorical,
            free_raw_data=False,
        )

    everything = np.arange(len(y))
    learn, check = train_test_split(
        everything, test_size=settings.validation_share, stratify=y, random_state=seed
    )
    probe = lightgbm.train(
        params,
        dataset(learn),
        num_boost_round=settings.max_rounds,
        valid_sets=[dataset(check)],
        callbacks=[lightgbm.early_stopping(settings.patience, verbose=False)],
    )
    rounds = max(20, round((probe.best_iteration or settings.patience) * 1.1))
    booster = lightgbm.train(params, dataset(everything), num_boost_round=rounds)
    gains = booster.feature_importance(importance_type="gain")
    total = float(gains.sum()) or 1.0
    importance = sorted(
        (
            {"name": item["name"], "gain_share": round(float(gains[position]) / total, 4)}
            for position, item in enumerate(items)
        ),
        key=lambda entry: -entry["gain_share"],
    )
    spec = {
        "kind": "gbm",
        "format": 1,
        "scaling": dict(SCALING),
        "features": items,
        "booster": booster.model_to_string(),
        "propensity": _propensity_section("gbm", features, fitted_derive, {"method": "none"}),
    }
    return FittedPropensity(spec=spec, notes={"rounds": rounds}, importance=importance)


def fit_logistic(
    features: pd.DataFrame,
    y: np.ndarray,
    settings: PropensitySettings,
    *,
    seed: int,
    plan: dict[str, Any] | None = None,
) -> FittedPropensity:
    """One-hot, standardised, L2-penalised logistic regression with Platt scaling."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(y, dtype=np.int64)
    fitted_derive = derive_fit(plan if plan is not None else derive_plan(features), features)
    frame = derive_apply(fitted_derive, features)
    numeric: list[dict[str, Any]] = []
    categorical: list[dict[str, Any]] = []
    for name in frame.columns:
        if frame[name].dtype.kind == "f":
            values = frame[name].to_numpy(dtype=float)
            present = values[~np.isnan(values)]
            fill = float(np.median(present)) if present.size else 0.0
            filled = np.where(np.isnan(values), fill, values)
            scale = float(filled.std()) or 1.0
            numeric.append(
                {"name": str(name), "fill": fill, "mean": float(filled.mean()), "scale": scale}
            )
        else:
            categorical.append({"name": str(name), "categories": _categories(frame[name])})
    model: dict[str, Any] = {"numeric": numeric, "categorical": categorical}
    design = logistic_design(model, frame)
    regression = LogisticRegression(C=settings.logistic_c, max_iter=2000)
    inner = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    scores = cross_val_predict(regression, design, y, cv=inner, method="decision_function")
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1), y)
    regression.fit(design, y)
    model["coefficients"] = [float(value) for value in regression.coef_[0]]
    model["intercept"] = float(regression.intercept_[0])
    calibration = {
        "method": "sigmoid",
        "a": float(platt.coef_[0][0]),
        "b": float(platt.intercept_[0]),
    }
    labels = [item["name"] for item in numeric] + [
        f"{item['name']}={category}" for item in categorical for category in item["categories"]
    ]
    importance = sorted(
        (
            {"name": label, "coefficient": round(value, 4)}
            for label, value in zip(labels, model["coefficients"], strict=True)
        ),
        key=lambda entry: -abs(entry["coefficient"]),
    )[:40]
    spec = {
        "kind": "logistic",
        "format": 1,
        "features": [{"name": item["name"], "type": "numerical"} for item in numeric]
        + [
            {"name": item["name"], "type": "categorical", "categories": item["categories"]}
            for item in categorical
        ],
        "logistic": model,
        "propensity": _propensity_section("logistic", features, fitted_derive, calibration),
    }
    return FittedPropensity(spec=spec, importance=importance)


FITTERS = {"gbm": fit_gbm, "logistic": fit_logistic}


def train(
    data: LearningData, settings: PropensitySettings, progress: Progress | None = None
) -> TrainedPropensity:
    """Cross-validate ``settings.method`` on ``data``, then fit it on every row."""
    say = progress or (lambda message: None)
    if settings.method not in METHODS:
        raise PropensityDataError(
            "method", _("Choose one of %(choices)s.") % {"choices": ", ".join(METHODS)}
        )
    positives = int(data.target.sum())
    negatives = len(data.target) - positives
    if not 2 <= settings.folds <= 20:
        raise PropensityDataError("folds", _("Enter a whole number of folds from 2 to 20."))
    if min(positives, negatives) < settings.folds:
        raise PropensityDataError(
            "folds",
            _("%(folds)s folds need at least %(folds)s rows of each outcome (have %(count)s)")
            % {"folds": settings.folds, "count": min(positives, negatives)},
        )
    fitter = FITTERS[settings.method]
    plan = derive_plan(data.features)
    started = time.perf_counter()

    def fit(rows: pd.DataFrame, outcome: np.ndarray, seed: int) -> FittedPropensity:
        return fitter(rows, outcome, settings, seed=seed, plan=plan)

    metrics = cross_validate(
        data.features, data.target, fit, folds=settings.folds, seed=settings.seed, progress=say
    )
    cv_seconds = time.perf_counter() - started
    say(
        _("cross-validated AUC %(mean).4f ± %(std).4f; fitting on every row …")
        % {"mean": metrics["auc_cv_mean"], "std": metrics["auc_cv_std"]}
    )
    final = fitter(data.features, data.target, settings, seed=settings.seed, plan=plan)
    seconds = time.perf_counter() - started
    metrics["cv_seconds"] = round(cv_seconds, 3)
    metrics["training_seconds"] = round(seconds, 3)
    settings_dict = settings.as_dict()
    card = {
        "method": settings.method,
        "target": data.target_name,
        "positive_values": data.positive_values,
        "bad_values": data.positive_values,
        "exclusions": data.exclusions,
        "profiles": data.profiles,
        "fingerprint": data.fingerprint,
        "features": final.importance,
        "selected": [item["name"] for item in final.spec["features"]],
        "derived": final.spec["propensity"]["derived"],
        "calibration_deciles": metrics["calibration"],
        # The registry's model card reads its calibration table in the credit layout
        # ("bad" is the positive outcome here).
        "calibration": [
            {
                "band": f"D{row['decile']}",
                "rows": row["rows"],
                "bads": row["positives"],
                "observed_bad_rate": row["observed_rate"],
                "mean_pd": row["mean_predicted"],
            }
            for row in metrics["calibration"]
        ],
        "lift_top_decile": metrics["lift_top_decile"],
        "settings": settings_dict,
        "training_seconds": round(seconds, 3),
        **final.notes,
    }
    return TrainedPropensity(
        method=settings.method,
        spec=final.spec,
        metrics=metrics,
        card=card,
        fingerprint=data.fingerprint,
        settings=settings_dict,
        dataset_name=Path(data.source).name if data.source else "",
        exclusions=data.exclusions,
    )
