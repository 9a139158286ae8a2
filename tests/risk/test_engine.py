"""Runtime scoring from a specification: points, reasons, missing values, latency."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from bankcrm.risk.engine import (
    SpecError,
    compile_model,
    grade_for,
    pd_for_score,
)
from bankcrm.risk.pipeline.gbm import fit_gbm
from bankcrm.risk.pipeline.train import TrainingSettings, default_grade_bands

SCALING = {"base_score": 600, "base_odds": 50, "pdo": 20}
SPEC = {
    "kind": "scorecard",
    "format": 1,
    "scaling": SCALING,
    "features": [
        {
            "name": "age",
            "type": "numerical",
            "reason": {"en": "Age", "zh": "年龄"},
            "code": "R01",
            "splits": [25, 35],
            "points": [10, 20, 30],
            "missing_points": 15,
            "labels": ["< 25", "25 – 35", ">= 35"],
        },
        {
            "name": "housing",
            "type": "categorical",
            "reason": {"en": "Housing", "zh": "住房"},
            "code": "R02",
            "categories": [["own"], ["rent", "free"]],
            "points": [40, 15],
            "other_points": 15,
            "missing_points": 12,
            "labels": ["own", "rent, free"],
        },
    ],
}


def test_score_is_the_sum_of_the_bin_points_and_reasons_the_largest_losses():
    model = compile_model(SPEC)

    outcome = model.score({"age": 30, "housing": "rent"})

    assert model.kind == "scorecard"
    assert model.features == ["age", "housing"]
    assert outcome.points == {"age": 20, "housing": 15}
    assert outcome.score == 35
    assert outcome.probability_of_default == pytest.approx(1 / (1 + 50 * 2 ** ((35 - 600) / 20)))
    # housing lost 40 - 15 = 25 points, age 30 - 20 = 10.
    assert [(reason.code, reason.points_lost) for reason in outcome.reasons] == [
        ("R02", 25),
        ("R01", 10),
    ]
    assert outcome.reasons[0].text_zh == "住房"
    assert outcome.reasons[0].value == "rent"
    assert [
        reason.code for reason in model.score({"age": 30, "housing": "rent"}, top=1).reasons
    ] == ["R02"]


@pytest.mark.parametrize(
    ("values", "points"),
    [
        ({"age": 24.99, "housing": "own"}, {"age": 10, "housing": 40}),
        ({"age": 25, "housing": "free"}, {"age": 20, "housing": 15}),
        ({"age": "35", "housing": " own "}, {"age": 30, "housing": 40}),
        ({"age": None, "housing": None}, {"age": 15, "housing": 12}),
        ({"age": float("nan"), "housing": ""}, {"age": 15, "housing": 12}),
        ({"age": "abc", "housing": "castle"}, {"age": 15, "housing": 15}),
        ({}, {"age": 15, "housing": 12}),
        ({"age": float("inf"), "housing": 7}, {"age": 30, "housing": 15}),
    ],
)
def test_bins_missing_and_unknown_values(values, points):
    outcome = compile_model(SPEC).score(values)
    assert outcome.points == points
    assert outcome.score == sum(points.values())


def test_no_reasons_at_the_best_bins():
    assert compile_model(SPEC).score({"age": 40, "housing": "own"}).reasons == []


def test_score_frame_agrees_with_score_row_by_row():
    model = compile_model(SPEC)
    frame = pd.DataFrame(
        {
            "age": [30, None, 18, 60, "x"],
            "housing": ["rent", "own", None, "castle", "free"],
        },
        index=[10, 11, 12, 13, 14],
    )

    scored = model.score_frame(frame, top=2)

    assert list(scored.columns) == ["score", "probability_of_default", "reason_1", "reason_2"]
    assert list(scored.index) == [10, 11, 12, 13, 14]
    for index, row in frame.iterrows():
        single = model.score(row.to_dict(), top=2)
        assert scored.loc[index, "score"] == single.score
        assert scored.loc[index, "probability_of_default"] == pytest.approx(
            single.probability_of_default
        )
        codes = [reason.code for reason in single.reasons] + ["", ""]
        assert [scored.loc[index, "reason_1"], scored.loc[index, "reason_2"]] == codes[:2]


def test_an_empty_frame_scores_to_an_empty_frame(gbm_model):
    for model in (compile_model(SPEC), gbm_model[0]):
        scored = model.score_frame(pd.DataFrame({"age": [], "housing": []}), top=2)
        assert list(scored.columns) == ["score", "probability_of_default", "reason_1", "reason_2"]
        assert scored.empty


def test_a_frame_without_a_feature_column_scores_it_as_missing():
    model = compile_model(SPEC)
    frame = pd.DataFrame({"age": [40]})
    assert model.missing_columns(frame) == ["housing"]
    assert model.score_frame(frame)["score"].tolist() == [42]


def test_numeric_categories_match_whatever_their_spelling():
    spec = {
        "kind": "scorecard",
        "format": 1,
        "scaling": SCALING,
        "features": [
            {
                "name": "rate",
                "type": "categorical",
                "reason": {"en": "Rate", "zh": "费率"},
                "code": "R01",
                "categories": [["1", "2"], ["3.5"]],
                "points": [5, 9],
                "other_points": 1,
                "missing_points": 0,
            }
        ],
    }
    model = compile_model(spec)
    assert [model.score({"rate": value}).score for value in (1, 2.0, "2", 3.5, "3.50", 4)] == [
        5,
        5,
        5,
        9,
        9,
        1,
    ]


def test_date_transform_scores_dates_given_in_any_form():
    spec = {
        "kind": "scorecard",
        "format": 1,
        "scaling": SCALING,
        "features": [
            {
                "name": "opened",
                "type": "numerical",
                "transform": "date",
                "reason": {"en": "Opened", "zh": "开户"},
                "code": "R01",
                "splits": [19358],  # 2023-01-01
                "points": [1, 2],
                "missing_points": 0,
            }
        ],
    }
    model = compile_model(spec)
    import datetime as dt

    assert model.score({"opened": "2022-12-31"}).score == 1
    assert model.score({"opened": dt.date(2023, 1, 1)}).score == 2
    assert model.score({"opened": "230105"}).score == 2
    assert model.score({"opened": "not a date"}).score == 0
    assert model.score_frame(pd.DataFrame({"opened": ["2022-01-01", "2024-01-01", None]}))[
        "score"
    ].tolist() == [1, 2, 0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "tree"}, "unknown model kind"),
        ({**SPEC, "scaling": {"base_score": 600, "base_odds": 0, "pdo": 20}}, "base_odds > 0"),
        (
            {**SPEC, "features": [{**SPEC["features"][0], "points": [1, 2]}]},
            "2 splits need 3 points",
        ),
        (
            {**SPEC, "features": [{**SPEC["features"][0], "splits": [35, 25]}]},
            "splits must be increasing",
        ),
        (
            {**SPEC, "features": [{**SPEC["features"][1], "categories": [["own"]]}]},
            "categories must be a list of 2 groups",
        ),
        ({"kind": "gbm", "scaling": SCALING, "features": [SPEC["features"][0]]}, "no booster"),
    ],
)
def test_malformed_specifications_are_refused(spec, message):
    with pytest.raises(SpecError, match=message):
        compile_model(spec)


def test_pd_and_grades_follow_the_scaling():
    assert pd_for_score(600, SCALING) == pytest.approx(1 / 51)
    assert pd_for_score(620, SCALING) == pytest.approx(1 / 101)
    assert pd_for_score(-(10**9), SCALING) == pytest.approx(1.0)
    bands = default_grade_bands(600, 20)
    assert [band["min_score"] for band in bands] == [600, 580, 560, 540, 520, None]
    assert grade_for(600, bands) == ("A", "approve")
    assert grade_for(559, bands) == ("D", "refer")
    assert grade_for(100, bands) == ("F", "decline")
    assert grade_for(700, list(reversed(bands))) == ("A", "approve")
    assert grade_for(700, []) == ("", "")


def _wide_spec(features: int = 20) -> dict:
    items = []
    for number in range(features):
        if number % 2:
            items.append(
                {
                    "name": f"c{number}",
                    "type": "categorical",
                    "code": f"R{number + 1:02d}",
                    "reason": {"en": f"C{number}", "zh": f"C{number}"},
                    "categories": [[f"v{value}"] for value in range(6)],
                    "points": list(range(6)),
                    "other_points": 2,
                    "missing_points": 2,
                }
            )
        else:
            items.append(
                {
                    "name": f"n{number}",
                    "type": "numerical",
                    "code": f"R{number + 1:02d}",
                    "reason": {"en": f"N{number}", "zh": f"N{number}"},
                    "splits": [10, 20, 30, 40, 50],
                    "points": [5, 4, 3, 2, 1, 0],
                    "missing_points": 2,
                }
            )
    return {"kind": "scorecard", "format": 1, "scaling": SCALING, "features": items}


def _wide_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    data = {}
    for number in range(20):
        if number % 2:
            data[f"c{number}"] = rng.choice([f"v{value}" for value in range(7)], rows)
        else:
            values = rng.uniform(0, 60, rows)
            values[rng.random(rows) < 0.05] = np.nan
            data[f"n{number}"] = values
    return pd.DataFrame(data)


def test_scorecard_latency_one_record_and_a_hundred_thousand():
    model = compile_model(_wide_spec())
    records = _wide_frame(200).to_dict("records")
    timings = []
    for record in records:
        started = time.perf_counter()
        model.score(record)
        timings.append(time.perf_counter() - started)
    assert float(np.median(timings)) < 0.005

    frame = _wide_frame(100_000)
    started = time.perf_counter()
    scored = model.score_frame(frame)
    assert time.perf_counter() - started < 10
    assert len(scored) == 100_000
    sample = frame.iloc[:50]
    assert scored["score"].iloc[:50].tolist() == [
        model.score(record).score for record in sample.to_dict("records")
    ]


@pytest.fixture(scope="module")
def gbm_model():
    rng = np.random.default_rng(5)
    rows = 600
    age = rng.uniform(18, 70, rows)
    region = rng.choice(["north", "south", "east"], rows)
    risk = -1.0 + (age < 30) * 1.2 + (region == "south") * 0.8
    y = (rng.random(rows) < 1 / (1 + np.exp(-risk))).astype(int)
    frame = pd.DataFrame({"age": age, "region": pd.Series(region, dtype=object)})
    fitted = fit_gbm(frame, y, TrainingSettings(monotone={"age": "descending"}))
    return compile_model(fitted.spec), frame


def test_gbm_scores_from_its_margin_with_shap_reasons(gbm_model):
    model, _frame = gbm_model
    outcome = model.score({"age": 22, "region": "south"})

    margin = model.booster.predict(
        model.matrix(pd.DataFrame([{"age": 22, "region": "south"}])), raw_score=True
    )[0]
    expected = 600 + 20 / math.log(2) * (-margin - math.log(50))
    assert outcome.score == round(expected)
    assert outcome.probability_of_default == pytest.approx(1 / (1 + math.exp(-margin)))
    losses = [reason.points_lost for reason in outcome.reasons]
    assert losses == sorted(losses, reverse=True)
    assert all(loss > 0 for loss in losses)
    assert {reason.feature for reason in outcome.reasons} <= {"age", "region"}
    assert outcome.points["age"] < 0  # young: costs points


def test_gbm_unknown_values_and_frame_scoring(gbm_model):
    model, frame = gbm_model
    odd = model.score({"age": "n/a", "region": "atlantis"})
    assert isinstance(odd.score, int)
    scored = model.score_frame(frame.head(30), top=2)
    singles = [model.score(record, top=2) for record in frame.head(30).to_dict("records")]
    assert scored["score"].tolist() == [single.score for single in singles]
    assert scored["reason_1"].tolist() == [
        single.reasons[0].code if single.reasons else "" for single in singles
    ]
    started = time.perf_counter()
    for record in frame.head(50).to_dict("records"):
        model.score(record)
    assert (time.perf_counter() - started) / 50 < 0.005
