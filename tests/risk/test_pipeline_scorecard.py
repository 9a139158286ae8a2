"""Scorecard binning, weight of evidence and points against hand-computed figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bankcrm.risk.engine import compile_model
from bankcrm.risk.pipeline.scorecard import (
    Binning,
    ScorecardError,
    bin_feature,
    fit_scorecard,
    numeric_labels,
)
from bankcrm.risk.pipeline.train import TrainingSettings

FACTOR = 20 / math.log(2)
OFFSET = 600 - FACTOR * math.log(50)


def _two_groups() -> tuple[pd.DataFrame, np.ndarray]:
    # Group A: 100 rows, 10 bad; group B: 100 rows, 40 bad.
    housing = ["A"] * 100 + ["B"] * 100
    y = np.array([1] * 10 + [0] * 90 + [1] * 40 + [0] * 60)
    return pd.DataFrame({"housing": pd.Series(housing, dtype=object)}), y


def test_woe_and_iv_of_a_two_bin_feature_by_hand():
    frame, y = _two_groups()

    binning = bin_feature("housing", frame["housing"], y)

    assert binning.groups == [["A"], ["B"]] or binning.groups == [["B"], ["A"]]
    by_group = {group[0]: index for index, group in enumerate(binning.groups)}
    # WoE = ln(share of goods / share of bads): A ln((90/150)/(10/50)) = ln 3, B ln(0.4/0.8)
    assert binning.woe[by_group["A"]] == pytest.approx(math.log(3))
    assert binning.woe[by_group["B"]] == pytest.approx(math.log(0.5))
    assert binning.woe[-1] == 0  # no missing rows
    assert binning.iv == pytest.approx(0.4 * math.log(3) + 0.4 * math.log(2))
    assert binning.counts.tolist()[:2] == [100, 100]


def test_points_of_a_one_feature_scorecard_by_hand():
    frame, y = _two_groups()
    settings = TrainingSettings(regularisation=1e9, min_iv=0.0)

    fitted = fit_scorecard(frame, y, settings)

    # Unpenalised, the regression reproduces each group's log-odds exactly:
    # score = offset + factor · ln(goods/bads): A 90:10, B 60:40; unseen/missing at the
    # population's 150:50.
    feature = fitted.spec["features"][0]
    points = dict(
        zip([group[0] for group in feature["categories"]], feature["points"], strict=True)
    )
    assert points == {
        "A": round(OFFSET + FACTOR * math.log(9)),
        "B": round(OFFSET + FACTOR * math.log(1.5)),
    }
    assert points == {"A": 551, "B": 499}
    assert (
        feature["missing_points"] == feature["other_points"] == round(OFFSET + FACTOR * math.log(3))
    )
    assert fitted.coefficients["housing"] == pytest.approx(-1.0, abs=1e-3)
    assert fitted.intercept == pytest.approx(math.log(1 / 3), abs=1e-3)
    model = compile_model(fitted.spec)
    assert model.score({"housing": "B"}).reasons[0].points_lost == 52


def test_numeric_bins_follow_the_split_rule():
    binning = Binning(
        name="age", kind="numerical", transform=None, trend="auto", splits=[25.0, 35.0]
    )
    codes = binning.codes(pd.Series([10, 24.99, 25, 34.9, 35, 99, np.nan]))
    assert codes.tolist() == [0, 0, 1, 1, 2, 2, 3]
    assert numeric_labels([25.0, 35.5]) == ["< 25", "25 – 35.5", ">= 35.5"]
    assert numeric_labels([]) == ["all values"]
    assert numeric_labels([19358.0], "date") == ["< 2023-01-01", ">= 2023-01-01"]


def _synthetic(rows: int = 3000, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 75, rows)
    months = rng.integers(6, 72, rows).astype(float)
    savings = rng.choice(["none", "low", "high"], rows, p=[0.4, 0.4, 0.2])
    income = rng.lognormal(8, 0.4, rows)
    income[rng.random(rows) < 0.1] = np.nan
    noise = rng.choice(["x", "y"], rows)
    logit = (
        -1.0
        + 0.9 * (age < 28)
        + 0.02 * (months - 36)
        + np.select([savings == "none", savings == "high"], [0.7, -0.9], 0)
        + 0.6 * np.isnan(income)
    )
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "age": age,
            "months": months,
            "savings": pd.Series(savings, dtype=object),
            "income": income,
            "noise": pd.Series(noise, dtype=object),
        }
    )
    return frame, y


def test_fitted_scorecard_scores_the_sum_of_its_points_and_drops_noise():
    frame, y = _synthetic()
    fitted = fit_scorecard(frame, y, TrainingSettings(monotone={"months": "ascending"}))

    assert "noise" not in fitted.selected
    assert {"age", "months", "savings"} <= set(fitted.selected)
    noise = next(item for item in fitted.dropped if item["feature"] == "noise")
    assert "information value" in noise["reason"]
    months = next(item for item in fitted.spec["features"] if item["name"] == "months")
    assert months["points"] == sorted(months["points"], reverse=True)  # risk rises with months
    assert all(isinstance(value, int) for value in months["points"])

    model = compile_model(fitted.spec)
    for record in frame.head(50).to_dict("records"):
        outcome = model.score(record)
        assert outcome.score == sum(outcome.points.values())
        best = {item["name"]: max(item["points"]) for item in fitted.spec["features"]}
        lost = sorted(
            (
                (best[name] - points, name)
                for name, points in outcome.points.items()
                if best[name] > points
            ),
            key=lambda item: -item[0],
        )
        assert [reason.feature for reason in outcome.reasons] == [name for _, name in lost][:4]
        assert [reason.points_lost for reason in outcome.reasons] == [loss for loss, _ in lost][:4]


def test_card_tables_hold_every_candidate_feature():
    frame, y = _synthetic()
    fitted = fit_scorecard(frame, y, TrainingSettings())
    names = [item["name"] for item in fitted.card_features]
    assert sorted(names) == sorted(frame.columns)
    ivs = [item["iv"] for item in fitted.card_features]
    assert ivs == sorted(ivs, reverse=True)
    income = next(item for item in fitted.card_features if item["name"] == "income")
    assert income["bins"][-1]["bin"] == "Missing"
    assert sum(row["count"] for row in income["bins"]) == len(frame)
    assert income["iv"] == pytest.approx(sum(row["iv"] for row in income["bins"]), abs=1e-4)
    for item in fitted.card_features:
        assert item["selected"] == (item["name"] in fitted.selected)
        assert item["selected"] or item["dropped_reason"]


def test_no_signal_is_refused():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"noise": rng.normal(size=400)})
    y = (rng.random(400) < 0.3).astype(int)
    with pytest.raises(ScorecardError, match="no feature reaches an information value"):
        fit_scorecard(frame, y, TrainingSettings(min_iv=0.5))


def _products(rows: int = 900, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    # Products held 1-4: 3 and 4 are small groups with a high bad rate, 1 is riskier than 2.
    rng = np.random.default_rng(seed)
    products = rng.choice([1.0, 2.0, 3.0, 4.0], rows, p=[0.5, 0.42, 0.05, 0.03])
    rate = np.select([products == 1, products == 2, products == 3], [0.25, 0.08, 0.8], 0.95)
    y = (rng.random(rows) < rate).astype(int)
    return pd.DataFrame({"products": products}), y


def test_numeric_column_with_few_values_is_grouped_as_categories():
    frame, y = _products()

    binning = bin_feature("products", frame["products"], y)

    assert binning.kind == "categorical" and binning.few_values
    labels = {category for group in binning.groups for category in group}
    assert labels == {"1", "2", "3", "4"}  # canonical numbers, not "3.0"
    # The small high-risk values keep a bin apart from the large low-risk ones.
    group_of = {category: index for index, group in enumerate(binning.groups) for category in group}
    assert group_of["3"] != group_of["2"] and group_of["3"] != group_of["1"]

    declared = bin_feature("products", frame["products"], y, monotone="descending")
    assert declared.kind == "numerical" and not declared.few_values
    many = pd.Series(np.arange(len(y)) % 11, dtype=float)
    assert bin_feature("many", many, y).kind == "numerical"


def test_few_valued_numeric_scores_the_same_for_any_spelling():
    frame, y = _products()
    fitted = fit_scorecard(frame, y, TrainingSettings(min_iv=0.0))

    feature = fitted.spec["features"][0]
    assert feature["type"] == "categorical"
    card = fitted.card_features[0]
    assert card["note"] == "few distinct values: binned as categories"
    model = compile_model(fitted.spec)
    scores = {model.score({"products": value}).score for value in (3, 3.0, "3", "3.0", " 3 ")}
    assert len(scores) == 1
    assert model.score({"products": 3}).score != model.score({"products": 2}).score
    assert model.score({"products": None}).points["products"] == feature["missing_points"]
    assert model.score({"products": 7}).points["products"] == feature["other_points"]
    frame_scores = model.score_frame(pd.DataFrame({"products": [3, 3.0, "3"]}))["score"]
    assert frame_scores.nunique() == 1
    assert frame_scores.iloc[0] == scores.pop()
