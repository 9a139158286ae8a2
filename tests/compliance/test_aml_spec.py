"""Scenario specification validation: every error names the bad key."""

from __future__ import annotations

import copy

import pytest
from django.core.exceptions import ValidationError

from bankcrm.compliance.aml.rules import compile_scenario
from bankcrm.compliance.aml.spec import check_spec, validate_spec

GOOD = {
    "threshold": 50,
    "rules": [
        {
            "code": "cash_day",
            "measure": "sum",
            "filter": {"kinds": ["cash_deposit"], "direction": "credit"},
            "window_days": 1,
            "op": ">=",
            "threshold": 50000,
        },
        {
            "code": "pass_through",
            "measure": "ratio",
            "filter": {"direction": "debit"},
            "denominator": {"direction": "credit"},
            "window_days": 3,
            "op": "between",
            "threshold": [0.7, 1.3],
        },
    ],
}


def _with(path: str, value) -> dict:
    spec = copy.deepcopy(GOOD)
    target = spec
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[parts[-1]] = value
    return spec


def test_good_spec_has_no_errors() -> None:
    assert validate_spec(GOOD) == []
    assert check_spec(GOOD) is GOOD


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("colour", "red", "colour: unknown scenario key"),
        ("threshold", 0, "threshold must be"),
        ("subject", "branch", "subject must be"),
        ("rules.0.measure", "median", "rules[0] (cash_day).measure must be one of"),
        ("rules.0.window_days", 0, "rules[0] (cash_day).window_days"),
        ("rules.0.op", "=~", "rules[0] (cash_day).op"),
        ("rules.0.threshold", "50k", "rules[0] (cash_day).threshold must be a number"),
        ("rules.1.threshold", [2, 1], "rules[1] (pass_through).threshold must be [low, high]"),
        ("rules.0.filter.kinds", ["cash"], "rules[0] (cash_day).filter.kinds: unknown kinds cash"),
        ("rules.0.filter.direction", "up", "rules[0] (cash_day).filter.direction"),
        ("rules.0.filter.colour", "red", "rules[0] (cash_day).filter.colour: unknown filter key"),
        ("rules.0.weight", -1, "rules[0] (cash_day).weight"),
        ("rules.0.windowdays", 3, "rules[0] (cash_day).windowdays: unknown rule key"),
        ("rules.1.code", "cash_day", "rules[1].code cash_day is repeated"),
        ("rules.0.params", {"min_history": "five"}, "params.min_history must be a number"),
    ],
)
def test_errors_name_the_bad_key(path: str, value, fragment: str) -> None:
    errors = validate_spec(_with(path, value))
    assert any(fragment in e for e in errors), errors


def test_ratio_needs_a_denominator() -> None:
    spec = copy.deepcopy(GOOD)
    del spec["rules"][1]["denominator"]
    assert validate_spec(spec) == ["rules[1] (pass_through).denominator is required for ratio."]


def test_not_an_object_and_empty_rules() -> None:
    assert validate_spec([]) == ["The scenario specification must be a JSON object."]
    assert validate_spec({"rules": []}) == ["rules must be a non-empty list."]


def test_invalid_spec_raises_on_the_spec_field_and_does_not_compile() -> None:
    bad = _with("rules.0.measure", "median")
    with pytest.raises(ValidationError) as caught:
        check_spec(bad)
    assert "spec" in caught.value.message_dict
    with pytest.raises(ValidationError):
        compile_scenario({"code": "x", "spec": bad})
