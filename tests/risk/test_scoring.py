"""Scoring with registered models: scores and reasons stored, the shadow challenger beside
the production model, the feature mapping, bad input, lending's underwriting score, files
and the nightly behaviour scores.

The helpers here (``SPEC``, ``BANDS``, ``make_version``, ``risk_scorer``) are shared by the
scoring API and monitoring tests.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import gzip
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from bankcrm.audit.models import AuditEvent
from bankcrm.lending import scoring as lending_scoring
from bankcrm.lending.services_applications import loan_application_underwrite
from bankcrm.risk import services_scoring
from bankcrm.risk.features import party_features_bulk
from bankcrm.risk.models import ModelVersion, Score, ScoreRun
from bankcrm.risk.subscribers import application_model_available, lending_credit_score
from tests.lending import conftest as lending_fixtures

# The lending fixtures: a two-branch bank, its staff, customers and products.
advance_application = lending_fixtures.advance_application
bank = lending_fixtures.bank
lending_bank = lending_fixtures.lending_bank
make_application = lending_fixtures.make_application


BANDS = [
    {"grade": "A", "min_score": 600, "recommendation": "approve"},
    {"grade": "B", "min_score": 540, "recommendation": "refer"},
    {"grade": "C", "min_score": None, "recommendation": "decline"},
]

# age: < 25 → 180, [25, 35) → 250, ≥ 35 → 300, missing 200.
# housing: own → 320, rent or free → 270, anything else 260, missing 260.
SPEC: dict[str, Any] = {
    "kind": "scorecard",
    "format": 1,
    "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20},
    "features": [
        {
            "name": "age",
            "type": "numerical",
            "reason": {"en": "Young applicant", "zh": "申请人年轻"},
            "code": "R01",
            "splits": [25, 35],
            "points": [180, 250, 300],
            "missing_points": 200,
            "labels": ["< 25", "[25, 35)", ">= 35"],
        },
        {
            "name": "housing",
            "type": "categorical",
            "reason": {"en": "Does not own a home", "zh": "无自有住房"},
            "code": "R02",
            "categories": [["own"], ["rent", "free"]],
            "points": [320, 270],
            "other_points": 260,
            "missing_points": 260,
            "labels": ["own", "rent, free"],
        },
    ],
}


def spec_with(**renamed: str) -> dict[str, Any]:
    """SPEC with its features renamed (old name → new name)."""
    spec = copy.deepcopy(SPEC)
    for feature in spec["features"]:
        feature["name"] = renamed.get(feature["name"], feature["name"])
    return spec


def pd_of(score: int) -> float:
    return round(1 / (1 + 50 * 2 ** ((score - 600) / 20)), 6)


def make_version(
    name: str = "retail",
    *,
    version: int = 1,
    purpose: str = "application",
    status: str = "production",
    shadow: bool = False,
    spec: dict[str, Any] | None = None,
    feature_map: dict[str, str] | None = None,
    baseline: dict[str, Any] | None = None,
    bands: list[dict[str, Any]] | None = None,
) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name,
        version=version,
        purpose=purpose,
        method="scorecard",
        status=status,
        shadow=shadow,
        spec=spec or copy.deepcopy(SPEC),
        grade_bands=BANDS if bands is None else bands,
        feature_map=feature_map or {},
        baseline=baseline or {},
    )


@pytest.fixture
def risk_scorer(monkeypatch):
    """The risk module's scorer registered with lending (whatever another test left)."""
    monkeypatch.setattr(lending_scoring, "_SCORER", [lending_credit_score])
    monkeypatch.setattr(lending_scoring, "_AVAILABLE", [application_model_available])


# --- score_values ----------------------------------------------------------------------------


def test_a_score_is_the_sum_of_the_points_with_the_costliest_reasons_first(lending_bank):
    version = make_version()
    result = services_scoring.score_values(
        actor=lending_bank.analyst,
        version=version,
        values={"age": 22, "housing": "rent"},
        subject_id="case-7",
    )
    assert result == {
        "score": 450,
        "probability_of_default": pd_of(450),
        "grade": "C",
        "recommendation": "decline",
        "reasons": [
            {
                "code": "R01",
                "feature": "age",
                "points_lost": 120.0,
                "text": "Young applicant",
                "text_en": "Young applicant",
                "text_zh": "申请人年轻",
            },
            {
                "code": "R02",
                "feature": "housing",
                "points_lost": 50.0,
                "text": "Does not own a home",
                "text_en": "Does not own a home",
                "text_zh": "无自有住房",
            },
        ],
        "model": "retail",
        "version": 1,
        "purpose": "application",
        "shadow": None,
        "score_id": result["score_id"],
    }
    assert pd_of(450) == 0.783568
    stored = Score.objects.get()
    assert stored.pk == result["score_id"]
    assert (stored.subject_kind, stored.subject_id, stored.score, stored.grade) == (
        "record",
        "case-7",
        450,
        "C",
    )
    assert stored.probability_of_default == Decimal("0.783568")
    assert stored.shadow is False
    assert stored.inputs == {"age": 22.0, "housing": "rent"}
    assert [reason["code"] for reason in stored.reasons] == ["R01", "R02"]
    assert stored.reasons[0] == {
        "code": "R01",
        "feature": "age",
        "points_lost": 120.0,
        "text_en": "Young applicant",
        "text_zh": "申请人年轻",
    }
    event = AuditEvent.objects.get(action="risk.score")
    assert event.after["score"] == 450
    assert event.after["model"] == "retail v1"


def test_best_bins_give_no_reason_and_missing_values_score_their_bin(lending_bank):
    version = make_version()
    best = services_scoring.score_values(
        actor=lending_bank.analyst,
        version=version,
        values={"age": 40, "housing": "own"},
        store=False,
    )
    assert (best["score"], best["grade"], best["recommendation"], best["reasons"]) == (
        620,
        "A",
        "approve",
        [],
    )
    assert best["probability_of_default"] == 0.009901
    assert best["score_id"] is None
    missing = services_scoring.score_values(
        actor=lending_bank.analyst, version=version, values={"housing": "castle"}, store=False
    )
    # age missing: 200 (lost 100); an unseen category: 260 (lost 60).
    assert missing["score"] == 460
    assert [(r["code"], r["points_lost"]) for r in missing["reasons"]] == [
        ("R01", 100.0),
        ("R02", 60.0),
    ]
    assert not Score.objects.exists()


def test_reasons_speak_the_active_language(lending_bank):
    version = make_version()
    with translation.override("zh-hans"):
        result = services_scoring.score_values(
            actor=lending_bank.analyst,
            version=version,
            values={"age": 30, "housing": "free"},
            store=False,
        )
    assert [reason["text"] for reason in result["reasons"]] == ["申请人年轻", "无自有住房"]


def test_model_features_are_read_under_their_mapped_crm_names(lending_bank):
    version = make_version(
        spec=spec_with(age="applicant_age"), feature_map={"applicant_age": "age"}
    )
    by_crm_name = services_scoring.score_values(
        actor=lending_bank.analyst,
        version=version,
        values={"age": 40, "housing": "own"},
        store=False,
    )
    by_model_name = services_scoring.score_values(
        actor=lending_bank.analyst,
        version=version,
        values={"applicant_age": 40, "housing": "own"},
        store=False,
    )
    assert by_crm_name["score"] == by_model_name["score"] == 620


def test_the_shadow_challenger_scores_beside_production_and_is_stored_as_shadow(lending_bank):
    champion = make_version("retail", version=1)
    challenger_spec = copy.deepcopy(SPEC)
    challenger_spec["features"][0]["points"] = [200, 260, 290]
    challenger = make_version(
        "retail", version=2, status="approved", shadow=True, spec=challenger_spec
    )
    result = services_scoring.score_values(
        actor=lending_bank.analyst,
        version=champion,
        values={"age": 22, "housing": "own"},
        subject_id="x1",
    )
    assert (result["score"], result["version"]) == (500, 1)
    assert result["shadow"]["score"] == 520
    assert result["shadow"]["version"] == 2
    rows = {row.model_version_id: row for row in Score.objects.all()}
    assert set(rows) == {champion.pk, challenger.pk}
    assert (rows[champion.pk].shadow, rows[champion.pk].score) == (False, 500)
    assert (rows[challenger.pk].shadow, rows[challenger.pk].score) == (True, 520)
    assert rows[challenger.pk].subject_id == "x1"
    assert result["shadow"]["score_id"] == rows[challenger.pk].pk
    # Scoring with the challenger itself has no challenger of its own.
    direct = services_scoring.score_values(
        actor=lending_bank.analyst, version=challenger, values={"age": 22}, store=False
    )
    assert direct["shadow"] is None


def test_bad_values_name_the_field_and_store_nothing(lending_bank):
    version = make_version()
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_values(
            actor=lending_bank.analyst,
            version=version,
            values={"age": "old", "housing": ["own"]},
        )
    assert exc.value.message_dict == {
        "values.age": ["Enter a number."],
        "values.housing": ["Enter a category (text)."],
    }
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_values(
            actor=lending_bank.analyst,
            version=version,
            values={"age": 30, "income": 5000},
            strict=True,
        )
    assert exc.value.message_dict == {
        "values.income": ["The model retail v1 has no feature “income”."]
    }
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_values(actor=lending_bank.analyst, version=version, values=[1])
    assert list(exc.value.message_dict) == ["values"]
    assert not Score.objects.exists()
    assert not AuditEvent.objects.filter(action="risk.score").exists()


def test_a_retired_model_scores_nothing_and_scoring_needs_the_permission(lending_bank):
    retired = make_version(status="retired")
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_values(actor=lending_bank.analyst, version=retired, values={})
    assert exc.value.message_dict == {
        "version": ["retail v1 is retired: retired models score nothing."]
    }
    version = make_version("other")
    with pytest.raises(PermissionDenied):
        services_scoring.score_values(actor=lending_bank.rm_a, version=version, values={})
    assert not Score.objects.exists()


# --- Lending ----------------------------------------------------------------------------------


APPLICATION_SPEC = spec_with(age="applicant_age", housing="loan_type")
APPLICATION_SPEC["features"][1]["categories"] = [["mortgage"], ["personal", "auto"]]
APPLICATION_MAP = {"applicant_age": "age", "loan_type": "product_type"}


def test_underwriting_scores_with_the_production_model(
    lending_bank, make_application, advance_application, risk_scorer
):
    version = make_version("retail-app", spec=APPLICATION_SPEC, feature_map=APPLICATION_MAP)
    application = advance_application(make_application(), "underwriting")
    loan_application_underwrite(actor=lending_bank.analyst, application=application)
    application.refresh_from_db()
    # Customer A is over 35 (300 points); a personal loan is in the second group (270).
    assert application.underwriting["credit_score"] == {
        "score": 570,
        "model": "retail-app",
        "model_version": "1",
        "grade": "B",
        "probability_of_default": "0.053540",
        "reason_codes": ["R02"],
        "recommendation": "refer",
        "reasons": [
            {
                "code": "R02",
                "feature": "loan_type",
                "text": "Does not own a home",
                "text_en": "Does not own a home",
                "text_zh": "无自有住房",
                "points_lost": 50.0,
            }
        ],
    }
    assert application.underwriting["facts"]["credit_score"] == 570
    stored = Score.objects.get(subject_kind="application")
    assert (stored.subject_id, stored.model_version, stored.score) == (
        str(application.pk),
        version,
        570,
    )
    assert stored.inputs == {
        "applicant_age": stored.inputs["applicant_age"],
        "loan_type": "personal",
    }
    assert stored.inputs["applicant_age"] >= 35
    assert lending_scoring.credit_scorer_registered() is True


def test_without_a_production_model_lending_says_no_model_is_registered(
    lending_bank, make_application, advance_application, risk_scorer
):
    make_version("draft-only", status="draft", spec=APPLICATION_SPEC)
    application = advance_application(make_application(), "underwriting")
    assert lending_scoring.credit_scorer_registered() is False
    loan_application_underwrite(actor=lending_bank.analyst, application=application)
    application.refresh_from_db()
    assert application.underwriting["credit_score"] is None
    assert application.underwriting["credit_score_message"] == "No credit model is registered."
    assert not Score.objects.exists()


# --- Files -----------------------------------------------------------------------------------


def test_a_file_is_scored_row_by_row_like_the_real_time_service(lending_bank, tmp_path):
    version = make_version()
    source = tmp_path / "applicants.csv.gz"
    rows = [
        ("A-1", "22", "rent"),
        ("A-2", "40", "own"),
        ("A-3", "", "own"),
        ("A-4", "30", ""),
        ("A-5", "NA", "boat"),
    ]
    with gzip.open(source, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["id", "age", "housing", "ignored"])
        for row in rows:
            writer.writerow([*row, "x"])
    out = tmp_path / "scores.csv"
    summary = services_scoring.score_file(
        actor=lending_bank.analyst, name="retail", path=source, out=out
    )
    assert (summary["rows"], summary["model"], summary["version"], summary["out"]) == (
        5,
        "retail",
        1,
        str(out),
    )
    with open(out, encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert list(written[0]) == [
        "id",
        "score",
        "probability_of_default",
        "grade",
        "recommendation",
        "reason_1",
        "reason_2",
        "reason_3",
        "reason_4",
    ]
    for (key, age, housing), line in zip(rows, written, strict=True):
        expected = services_scoring.score_values(
            actor=lending_bank.analyst,
            version=version,
            values={"age": age, "housing": housing},
            store=False,
        )
        assert line["id"] == key
        assert int(line["score"]) == expected["score"]
        assert float(line["probability_of_default"]) == pytest.approx(
            expected["probability_of_default"], abs=1e-6
        )
        assert line["grade"] == expected["grade"]
        assert [line[f"reason_{n}"] for n in range(1, 5) if line[f"reason_{n}"]] == [
            reason["code"] for reason in expected["reasons"]
        ]
    run = ScoreRun.objects.get()
    assert (run.kind, run.status, run.rows, run.model_version) == ("file", "done", 5, version)
    assert AuditEvent.objects.filter(action="risk.score_file", object_pk=str(run.pk)).exists()


def test_file_scoring_names_what_is_wrong(lending_bank, tmp_path):
    make_version()
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_file(
            actor=lending_bank.analyst, name="nope", path=tmp_path / "x.csv", out=tmp_path / "o"
        )
    assert exc.value.message_dict == {"model": ["There is no model named nope."]}
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_file(
            actor=lending_bank.analyst, name="retail", version=9, path="x", out=tmp_path / "o"
        )
    assert exc.value.message_dict == {"version": ["The model retail has no version 9."]}
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_file(
            actor=lending_bank.analyst, name="retail", path=tmp_path / "x.csv", out=tmp_path / "o"
        )
    assert exc.value.message_dict == {"data": [f"There is no file {tmp_path / 'x.csv'}."]}
    unrelated = tmp_path / "unrelated.csv"
    unrelated.write_text("colour,size\nred,3\n", encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        services_scoring.score_file(
            actor=lending_bank.analyst, name="retail", path=unrelated, out=tmp_path / "o.csv"
        )
    assert exc.value.message_dict == {
        "data": ["The file has none of the model's features (age, housing)."]
    }
    assert not ScoreRun.objects.exists()


# --- Nightly behaviour scores ----------------------------------------------------------------

BEHAVIOUR_SPEC = spec_with(housing="party_kind")
BEHAVIOUR_SPEC["features"][1]["categories"] = [["organisation"], ["person"]]


def test_the_nightly_job_scores_every_customer_in_bulk_with_the_shadow(lending_bank):
    champion = make_version("behave", purpose="behaviour", spec=BEHAVIOUR_SPEC)
    challenger_spec = copy.deepcopy(BEHAVIOUR_SPEC)
    challenger_spec["features"][1]["points"] = [300, 300]
    challenger = make_version(
        "behave", version=2, purpose="behaviour", status="approved", shadow=True,
        spec=challenger_spec,
    )  # fmt: skip
    as_of = dt.date(2026, 6, 30)
    run = services_scoring.behaviour_scores_nightly(as_of=as_of)
    frame = party_features_bulk(as_of)
    assert len(frame) == 4  # two people, a co-applicant and a company
    assert (run.kind, run.status, run.rows, run.as_of) == ("nightly", "done", len(frame), as_of)
    scores = Score.objects.filter(run=run)
    assert scores.filter(shadow=False, model_version=champion).count() == len(frame)
    assert scores.filter(shadow=True, model_version=challenger).count() == len(frame)
    assert set(scores.filter(shadow=False).values_list("subject_id", flat=True)) == {
        str(key) for key in frame.index
    }
    # Each bulk score equals the real-time score of the same features.
    for row in scores.filter(shadow=False)[:5]:
        features = frame.loc[frame.index.astype(str) == row.subject_id].iloc[0]
        expected = services_scoring.score_values(
            actor=lending_bank.analyst,
            version=champion,
            values={"age": features["age"], "party_kind": features["party_kind"]},
            store=False,
        )
        assert (row.score, row.grade) == (expected["score"], expected["grade"])
        assert row.probability_of_default == Decimal(str(expected["probability_of_default"]))
        assert [reason["code"] for reason in row.reasons] == [
            reason["code"] for reason in expected["reasons"]
        ]
        assert row.subject_kind == "party"
    event = AuditEvent.objects.get(action="risk.behaviour_scores")
    assert event.after["rows"] == len(frame)


def test_the_nightly_job_needs_a_production_behaviour_model(lending_bank):
    make_version("retail")  # an application model does not score customers at night
    with pytest.raises(ValidationError) as exc:
        services_scoring.behaviour_scores_nightly(as_of=dt.date(2026, 6, 30))
    assert list(exc.value.message_dict) == ["purpose"]
    assert not ScoreRun.objects.exists()
