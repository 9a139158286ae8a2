"""The propensity pipeline's parts: the leakage guard, derived features, reading any CSV,
scoring rows with missing columns, and registration (names, versions, permission)."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.marketing.propensity.derive import derive_apply, derive_fit, derive_plan
from bankcrm.marketing.propensity.evaluation import calibration_table, lift_at
from bankcrm.marketing.propensity.leakage import post_outcome_columns
from bankcrm.marketing.propensity.registry import propensity_register
from bankcrm.marketing.propensity.scoring import propensity_predict
from bankcrm.marketing.propensity.training import (
    PropensityDataError,
    PropensitySettings,
    TrainedPropensity,
    fit_gbm,
    load_learning_data,
)
from bankcrm.risk.models import ModelVersion, Purpose
from tests.conftest import in_ci
from tests.factories import UserFactory

BANK_CSV = Path(settings.DATA_DIR) / "bank-marketing" / "bank.csv"


@pytest.fixture
def bank_csv() -> Path:
    if not BANK_CSV.exists():
        message = f"the UCI bank marketing data is not in {BANK_CSV.parent} (set BANKCRM_DATA_DIR)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return BANK_CSV


@lru_cache(maxsize=1)
def _trained() -> TrainedPropensity:
    """One gradient-boosting fit on the sample (no cross-validation), shared by the tests."""
    data = load_learning_data(BANK_CSV, target="y", positive="yes")
    fitted = fit_gbm(data.features, data.target, PropensitySettings(), seed=7)
    return TrainedPropensity(
        method="gbm",
        spec=fitted.spec,
        metrics={"auc_cv_mean": 0.75, "rows": 4521, "positives": 521},
        card={"features": fitted.importance},
        fingerprint=data.fingerprint,
        settings=PropensitySettings().as_dict(),
        dataset_name="bank.csv",
        exclusions=data.exclusions,
    )


def test_post_outcome_columns_are_declared_with_their_reason():
    found = post_outcome_columns(["age", "Duration", "y"])
    assert [item["column"] for item in found] == ["Duration"]
    assert "after the outcome" in found[0]["reason"]
    assert post_outcome_columns(["age", "balance"]) == []


def test_derived_features_from_the_columns_themselves():
    learning = pd.DataFrame(
        {
            "pdays": [-1.0, 90.0, -1.0, np.nan],
            "month": ["may", "oct", "May", "dec"],
            "day": [5.0, 12.0, 5.0, 31.0],
            "job": ["admin.", "retired", "admin.", None],
        }
    )
    plan = derive_plan(learning)
    assert plan["never"] == [{"column": "pdays", "sentinels": [-1.0, 999.0], "flag": "pdays_never"}]
    assert plan["calendar"] == {"month": "month", "day": "day"}
    fitted = derive_fit(plan, learning)
    # May 5th (day 125) holds two of the four rows.
    assert fitted["day_volume"] == {"125": 0.5, "285": 0.25, "365": 0.25}

    scored = derive_apply(
        fitted,
        pd.DataFrame({"pdays": ["-1", "30", None], "month": ["MAY", "2", "xyz"], "day": [5, 1, 3]}),
    )
    assert scored["pdays"].tolist()[1] == 30.0
    assert np.isnan(scored["pdays"].tolist()[0])
    assert scored["pdays_never"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(scored["pdays_never"].tolist()[2])
    assert scored["month_number"].tolist()[:2] == [5.0, 2.0]
    assert scored["day_of_year"].tolist()[:2] == [125.0, 32.0]
    assert scored["day_volume"].tolist()[:2] == [0.5, 0.0]
    assert np.isnan(scored["day_volume"].tolist()[2])


def test_lift_and_calibration_table_by_hand():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1] * 2)
    # Top 10 per cent: 2 rows, both positive; base rate 0.2 → lift 5.
    assert lift_at(y, p, 0.1) == pytest.approx(5.0)
    table = calibration_table(y, p)
    assert len(table) == 10
    assert table[0] == {
        "decile": 1,
        "rows": 2,
        "positives": 2,
        "min_predicted": 0.9,
        "max_predicted": 0.9,
        "mean_predicted": 0.9,
        "observed_rate": 1.0,
    }


def test_gzip_and_separators_are_read_alike(bank_csv, tmp_path):
    plain = load_learning_data(bank_csv, target="y", positive="yes")
    table = pd.read_csv(bank_csv, sep=";", dtype=str, keep_default_na=False)
    zipped = tmp_path / "bank-comma.csv.gz"
    with gzip.open(zipped, "wt", encoding="utf-8") as handle:
        table.to_csv(handle, index=False, sep=",")
    tabbed = tmp_path / "bank.tsv"
    table.to_csv(tabbed, index=False, sep="\t")

    for path, separator in ((zipped, ","), (tabbed, "\t")):
        data = load_learning_data(path, target="Y", positive="YES")
        assert data.fingerprint["separator"] == separator
        assert data.fingerprint["rows"] == 4521
        assert int(data.target.sum()) == 521
        assert list(data.features.columns) == list(plain.features.columns)
        pd.testing.assert_frame_equal(data.features, plain.features)
        assert [item["column"] for item in data.exclusions] == ["duration"]


def test_bad_target_and_positive_name_the_option(bank_csv):
    with pytest.raises(PropensityDataError) as caught:
        load_learning_data(bank_csv, target="outcome", positive="yes")
    assert caught.value.field == "target"
    assert "outcome" in str(caught.value)
    with pytest.raises(PropensityDataError) as caught:
        load_learning_data(bank_csv, target="y", positive="si")
    assert caught.value.field == "positive"
    assert "no, yes" in str(caught.value)
    with pytest.raises(PropensityDataError) as caught:
        load_learning_data(bank_csv, target="y", positive="yes", exclude=["y"])
    assert caught.value.field == "exclude"


@pytest.mark.django_db
def test_predict_with_missing_columns_and_unknown_values(bank_csv):
    version = propensity_register(actor=_system(), name="deposit-unit", trained=_trained())
    spec = version.spec
    assert spec["kind"] == "gbm"
    assert [item["name"] for item in spec["propensity"]["inputs"]][:3] == ["age", "job", "marital"]

    full = pd.read_csv(bank_csv, sep=";").head(200)
    probabilities = propensity_predict(version, full)
    assert probabilities.shape == (200,)
    assert np.all((probabilities > 0) & (probabilities < 1))
    # Same rows through the model in a fresh process-level cache give the same numbers.
    again = propensity_predict(ModelVersion.objects.get(pk=version.pk), full)
    np.testing.assert_allclose(again, probabilities)

    sparse = pd.DataFrame(
        {
            "age": [30, None, "41"],
            "job": ["astronaut", "retired", None],  # a job never seen in training
            "day_of_year": ["garbage", "x", "y"],  # derived columns are computed afresh
        }
    )
    predicted = propensity_predict(version, sparse)
    assert predicted.shape == (3,)
    assert np.all(np.isfinite(predicted)) and np.all((predicted > 0) & (predicted < 1))
    assert propensity_predict(version, pd.DataFrame()).shape == (0,)
    assert propensity_predict(version, pd.DataFrame(index=range(2))).shape == (2,)


@pytest.mark.django_db
def test_registration_numbers_versions_and_checks_name_and_permission(bank_csv):
    trained = _trained()
    first = propensity_register(actor=_system(), name="deposit-unit", trained=trained)
    second = propensity_register(
        actor=_system(), name="deposit-unit", trained=trained, product="TD12"
    )
    assert (first.version, second.version) == (1, 2)
    assert second.purpose == Purpose.PROPENSITY
    assert second.status == ModelVersion.Status.DRAFT
    assert second.training_settings["product"] == "TD12"
    assert second.created_by is None

    with pytest.raises(ValidationError) as caught:
        propensity_register(actor=_system(), name="no spaces", trained=trained)
    assert "name" in caught.value.message_dict
    with pytest.raises(PermissionDenied):
        propensity_register(actor=UserFactory(), name="deposit-unit", trained=trained)
    assert ModelVersion.objects.count() == 2


def _system():
    from bankcrm.core.actor import SystemActor

    return SystemActor("test")
