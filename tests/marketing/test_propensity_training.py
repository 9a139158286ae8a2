"""``bankcrm marketing train-propensity``: training on the UCI bank marketing sample, the
leakage guard, bad options, and the registered model version."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from bankcrm.audit.models import AuditEvent
from bankcrm.marketing.propensity.scoring import propensity_predict
from bankcrm.risk.models import ModelVersion, Purpose
from tests.conftest import in_ci

pytestmark = pytest.mark.django_db

BANK_DIR = Path(settings.DATA_DIR) / "bank-marketing"


@pytest.fixture
def bank_csv() -> Path:
    """The 4,521-row sample of the UCI bank marketing data (skips when absent; fails in CI)."""
    path = BANK_DIR / "bank.csv"
    if not path.exists():
        message = f"the UCI bank marketing data is not in {BANK_DIR} (set BANKCRM_DATA_DIR)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*args: str) -> tuple[dict, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("marketing", "train-propensity", *args, stdout=out, stderr=err)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0]), err.getvalue()


def test_trains_and_registers_a_propensity_model(bank_csv):
    result, progress = run(
        "--data", str(bank_csv), "--target", "y", "--positive", "yes", "--name", "deposit-test"
    )

    assert result["name"] == "deposit-test"
    assert result["version"] == 1
    assert result["purpose"] == "propensity"
    assert result["method"] == "gbm"
    assert result["rows"] == 4521
    assert result["positives"] == 521
    # The leakage guard: duration left out without being asked, and said so with the reason.
    assert [item["column"] for item in result["excluded"]] == ["duration"]
    assert result["excluded"][0]["kind"] == "post_outcome"
    assert "after the outcome" in result["excluded"][0]["reason"]
    assert "excluded duration" in progress
    # Measured 0.754 ± 0.022 (5 folds, seed 42); the floor leaves room for library changes.
    assert 0.70 <= result["auc_cv_mean"] <= 0.85
    assert 0 < result["auc_cv_std"] < 0.06
    assert len(result["auc_per_fold"]) == 5
    assert result["lift_top_decile"] > 2.5  # measured 3.97
    assert result["cv"] == "5-fold stratified, seed 42"

    table = result["calibration"]
    assert len(table) == 10
    assert [row["decile"] for row in table] == list(range(1, 11))
    assert sum(row["rows"] for row in table) == 4521
    assert sum(row["positives"] for row in table) == 521
    mean_predicted = sum(row["mean_predicted"] * row["rows"] for row in table) / 4521
    assert abs(mean_predicted - 521 / 4521) < 0.015
    for row in table:
        assert abs(row["mean_predicted"] - row["observed_rate"]) < 0.08, row
    # Highest decile first and the observed rate falls with it overall.
    assert table[0]["observed_rate"] > 3 * table[-1]["observed_rate"]

    version = ModelVersion.objects.get(pk=result["model_version_pk"])
    assert (version.name, version.version) == ("deposit-test", 1)
    assert version.purpose == Purpose.PROPENSITY
    assert version.status == ModelVersion.Status.DRAFT
    assert version.method == "gbm"
    assert version.metrics["auc_cv_mean"] == result["auc_cv_mean"]
    assert version.metrics["calibration"] == table
    assert version.fingerprint["sha256"] == hashlib.sha256(bank_csv.read_bytes()).hexdigest()
    assert version.fingerprint["rows"] == 4521
    assert version.fingerprint["separator"] == ";"
    assert version.training_settings["folds"] == 5
    assert version.training_settings["seed"] == 42
    assert version.dataset_name == "bank.csv"
    assert version.card["exclusions"][0]["column"] == "duration"
    assert version.card_html
    spec = version.spec
    assert "duration" not in [item["name"] for item in spec["features"]]
    assert "duration" not in [item["name"] for item in spec["propensity"]["inputs"]]
    assert spec["propensity"]["derived"] == [
        "pdays_never",
        "month_number",
        "day_of_year",
        "day_volume",
    ]
    assert AuditEvent.objects.filter(
        action="risk.model_register", object_pk=str(version.pk)
    ).exists()

    # The registered model predicts what cross-validation evaluated: a high-propensity
    # profile (earlier campaign succeeded, reached by mobile) above a low one.
    rows = pd.DataFrame(
        [
            {
                "age": 35,
                "job": "management",
                "contact": "cellular",
                "month": "oct",
                "day": 12,
                "pdays": 90,
                "previous": 2,
                "poutcome": "success",
                "housing": "no",
            },
            {
                "age": 40,
                "job": "blue-collar",
                "contact": "unknown",
                "month": "may",
                "day": 15,
                "pdays": -1,
                "previous": 0,
                "poutcome": "unknown",
                "housing": "yes",
            },
        ]
    )
    high, low = propensity_predict(version, rows)
    assert 0 < low < high < 1


def test_logistic_method_and_excluded_columns(bank_csv):
    result, _progress = run(
        "--data",
        str(bank_csv),
        "--target",
        "y",
        "--positive",
        "yes",
        "--name",
        "deposit-lr",
        "--method",
        "logistic",
        "--exclude",
        "pdays",
        "poutcome",
        "--folds",
        "3",
    )

    assert result["method"] == "logistic"
    assert [(item["column"], item["kind"]) for item in result["excluded"]] == [
        ("duration", "post_outcome"),
        ("pdays", "requested"),
        ("poutcome", "requested"),
    ]
    assert len(result["auc_per_fold"]) == 3
    assert 0.65 <= result["auc_cv_mean"] <= 0.85  # measured 0.717
    assert result["lift_top_decile"] > 1
    version = ModelVersion.objects.get(pk=result["model_version_pk"])
    names = [item["name"] for item in version.spec["features"]]
    assert "pdays" not in names and "poutcome" not in names and "pdays_never" not in names
    assert version.spec["propensity"]["calibration"]["method"] == "sigmoid"
    assert version.method == "logistic"
    probabilities = propensity_predict(version, pd.DataFrame([{"age": 30}]))
    assert probabilities.shape == (1,) and 0 < probabilities[0] < 1


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--target", "outcome", "--positive", "yes"], ["--target", "outcome", "columns: age"]),
        (["--target", "y", "--positive", "maybe"], ["--positive", "maybe", "no, yes"]),
        (
            ["--target", "y", "--positive", "yes", "--exclude", "shoe_size"],
            ["--exclude", "shoe_size"],
        ),
        (["--target", "y", "--positive", "yes", "--folds", "1"], ["--folds"]),
    ],
)
def test_bad_options_are_named_and_nothing_is_registered(bank_csv, options, expected):
    with pytest.raises(CommandError) as caught:
        run("--data", str(bank_csv), "--name", "deposit-bad", *options)

    for text in expected:
        assert text in str(caught.value)
    assert not ModelVersion.objects.exists()


def test_missing_file_and_bad_name_are_named(tmp_path, bank_csv):
    with pytest.raises(CommandError, match="--data"):
        run(
            "--data",
            str(tmp_path / "none.csv"),
            "--target",
            "y",
            "--positive",
            "yes",
            "--name",
            "x",
        )
    with pytest.raises(CommandError, match="--name"):
        run("--data", str(bank_csv), "--target", "y", "--positive", "yes", "--name", "bad name!")
    with pytest.raises(CommandError, match="--product"):
        run(
            "--data",
            str(bank_csv),
            "--target",
            "y",
            "--positive",
            "yes",
            "--name",
            "x",
            "--product",
            "NOPE",
        )
    assert not ModelVersion.objects.exists()


@pytest.mark.skipif(
    not in_ci(), reason="trains on the 45,211-row file (minutes on a busy machine): CI only"
)
def test_full_bank_marketing_file_reaches_auc_081():
    path = BANK_DIR / "bank-full.csv.gz"
    if not path.exists():
        pytest.fail(f"the UCI bank marketing data is not in {BANK_DIR}")
    result, _progress = run(
        "--data", str(path), "--target", "y", "--positive", "yes", "--name", "deposit-propensity"
    )

    assert result["rows"] == 45211
    assert result["positives"] == 5289
    assert [item["column"] for item in result["excluded"]] == ["duration"]
    assert result["auc_cv_mean"] >= 0.81
    assert result["lift_top_decile"] > 3
