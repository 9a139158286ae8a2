"""Population and characteristic stability against hand-computed figures."""

from __future__ import annotations

import math

import pytest

from bankcrm.risk.stability import (
    category_distribution,
    distribution,
    feature_shares,
    psi,
    score_shares,
    stability_level,
)


def test_psi_of_a_hand_computed_example():
    # (0.6 - 0.5) ln(0.6/0.5) + (0.4 - 0.5) ln(0.4/0.5)
    expected = 0.1 * math.log(1.2) + (-0.1) * math.log(0.8)
    assert psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(expected)
    assert psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(0.040547, abs=1e-6)
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_empty_bins_take_the_floor():
    value = psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1])
    by_hand = (-0.1) * math.log(0.8) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert value == pytest.approx(by_hand)
    assert value == pytest.approx(0.712399, abs=1e-6)


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ([0.5, 0.5], [1.0], "same bins"),
        ([], [], "no bins"),
        ([0.5, -0.5], [0.5, 0.5], "negative"),
        ([0.5, float("nan")], [0.5, 0.5], "finite"),
    ],
)
def test_psi_refuses_mismatched_distributions(expected, actual, message):
    with pytest.raises(ValueError, match=message):
        psi(expected, actual)


def test_numeric_distribution_cuts_like_the_scorecard():
    values = [1, 2, 3, 4, None, "x"]
    # < 2: {1}; [2, 4): {2, 3}; >= 4: {4}; missing: {None, "x"}
    assert distribution(values, [2, 4], missing=True) == pytest.approx([1 / 6, 2 / 6, 1 / 6, 2 / 6])
    assert distribution(values, [2, 4]) == pytest.approx([0.25, 0.5, 0.25])
    assert distribution([], [2, 4]) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="increasing"):
        distribution(values, [4, 2])


def test_category_distribution_groups_and_other():
    values = ["a", "b", "b", "c", None]
    assert category_distribution(values, [["a"], "b"]) == pytest.approx([0.2, 0.4, 0.4])
    assert category_distribution(values, [["a", "c"], ["b"]]) == pytest.approx([0.4, 0.4, 0.2])


def test_baseline_entries_give_comparable_shares():
    baseline = {
        "score": {"edges": [500, 550], "bins": ["< 500", "500 – 550", ">= 550"], "shares": []},
        "features": {
            "age": {"kind": "numeric", "edges": [25, 35], "bins": [], "shares": []},
            "housing": {"kind": "categorical", "categories": [["own"], ["rent", "free"]]},
        },
    }
    assert score_shares([480, 500, 560, 600], baseline) == pytest.approx([0.25, 0.25, 0.5])
    assert feature_shares([20, 30, None, 40], baseline["features"]["age"]) == pytest.approx(
        [0.25, 0.25, 0.25, 0.25]
    )
    assert feature_shares(["own", "free", "boat", None], baseline["features"]["housing"]) == (
        pytest.approx([0.25, 0.25, 0.5])
    )


def test_stability_levels():
    assert stability_level(0.05) == "ok"
    assert stability_level(0.1) == "watch"
    assert stability_level(0.2499) == "watch"
    assert stability_level(0.25) == "act"
    assert stability_level(0.3, watch=0.35, act=0.5) == "ok"
    with pytest.raises(ValueError):
        stability_level(float("nan"))
