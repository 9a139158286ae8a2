"""Model cards and monitoring reports: every section from the card data, the binning tables
and their charts, the points table and the evaluation as the numbers given; a standalone
document without script or external asset; PDF through WeasyPrint, or a clear error.

``CARD``, ``METRICS``, ``SPEC`` and ``FINGERPRINT`` are the shapes the training pipeline
produces; the page tests use them too.
"""

from __future__ import annotations

import html as html_lib
import re
import sys
from typing import Any

import pytest
from django.utils import translation

from bankcrm.risk.card import (
    CHART_HEIGHT,
    CardRenderError,
    bar_chart,
    model_card_html,
    model_card_pdf,
    monitoring_report_html,
)
from bankcrm.risk.models import ModelVersion, MonitoringReport

BANDS = [
    {"grade": "A", "min_score": 640, "recommendation": "approve"},
    {"grade": "B", "min_score": 580, "recommendation": "refer"},
    {"grade": "C", "min_score": None, "recommendation": "decline"},
]


def duration_bins() -> list[dict[str, Any]]:
    return [
        {"bin": "< 12", "count": 300, "count_share": 0.3, "goods": 255, "bads": 45,
         "event_rate": 0.15, "woe": 0.887303, "iv": 0.178, "points": 48},
        {"bin": "[12, 24)", "count": 400, "count_share": 0.4, "goods": 288, "bads": 112,
         "event_rate": 0.28, "woe": 0.097580, "iv": 0.0038, "points": 33},
        {"bin": ">= 24", "count": 280, "count_share": 0.28, "goods": 154, "bads": 126,
         "event_rate": 0.45, "woe": -0.646627, "iv": 0.1296, "points": 15},
        {"bin": "Missing", "count": 20, "count_share": 0.02, "goods": 13, "bads": 7,
         "event_rate": 0.35, "woe": -0.228259, "iv": 0.0011, "points": 25},
    ]  # fmt: skip


def telephone_bins() -> list[dict[str, Any]]:
    return [
        {"bin": "yes", "count": 404, "count_share": 0.404, "goods": 285, "bads": 119,
         "event_rate": 0.294554, "woe": 0.026, "iv": 0.0003, "points": None},
        {"bin": "none", "count": 596, "count_share": 0.596, "goods": 415, "bads": 181,
         "event_rate": 0.303691, "woe": -0.017, "iv": 0.0002, "points": None},
        {"bin": "Missing", "count": 0, "count_share": 0.0, "goods": 0, "bads": 0,
         "event_rate": None, "woe": 0.0, "iv": 0.0, "points": None},
    ]  # fmt: skip


CARD: dict[str, Any] = {
    "target": "class",
    "bad_values": ["2"],
    "features": [
        {
            "name": "duration",
            "type": "numerical",
            "code": "R01",
            "reason": {"en": "Long loan duration", "zh": "贷款期限较长"},
            "iv": 0.3151,
            "trend": "ascending",
            "selected": True,
            "dropped_reason": "",
            "bins": duration_bins(),
        },
        {
            "name": "telephone",
            "type": "categorical",
            "code": "",
            "reason": {"en": "Telephone", "zh": "电话"},
            "iv": 0.0064,
            "trend": "",
            "selected": False,
            "dropped_reason": "information value 0.0064 below 0.02",
            "bins": telephone_bins(),
        },
    ],
    "dropped": [{"feature": "telephone", "reason": "information value 0.0064 below 0.02"}],
    "exclusions": [{"column": "customer_id", "reason": "identifier: every value differs"}],
    "profiles": [
        {"name": "duration", "kind": "numeric", "missing_share": 0.02, "distinct": 33, "note": ""},
        {
            "name": "telephone",
            "kind": "categorical",
            "missing_share": 0.0,
            "distinct": 2,
            "note": "",
        },
        {
            "name": "customer_id",
            "kind": "id",
            "missing_share": 0.0,
            "distinct": 1000,
            "note": "excluded",
        },
    ],
    "training_seconds": 12.5,
}

METRICS: dict[str, Any] = {
    "auc_cv_mean": 0.8012,
    "auc_cv_std": 0.0213,
    "gini": 0.6024,
    "gini_std": 0.0426,
    "ks": 0.4817,
    "ks_std": 0.0305,
    "brier": 0.1602,
    "brier_std": 0.0087,
    "cv": "5x5 stratified",
    "rows": 1000,
    "bad_rate": 0.3,
    "folds": [
        {"fold": 1, "repeat": 1, "auc": 0.7931, "gini": 0.5862, "ks": 0.4633, "brier": 0.1655},
        {"fold": 2, "repeat": 1, "auc": 0.8093, "gini": 0.6186, "ks": 0.5001, "brier": 0.1549},
    ],
    "calibration": [
        {
            "band": "A",
            "min_score": 640,
            "max_score": 712,
            "rows": 210,
            "bads": 21,
            "observed_bad_rate": 0.1,
            "mean_pd": 0.0912,
        },
        {
            "band": "B",
            "min_score": 580,
            "max_score": 639,
            "rows": 520,
            "bads": 150,
            "observed_bad_rate": 0.288462,
            "mean_pd": 0.2755,
        },
        {
            "band": "C",
            "min_score": 498,
            "max_score": 579,
            "rows": 270,
            "bads": 129,
            "observed_bad_rate": 0.477778,
            "mean_pd": 0.4901,
        },
    ],
}

SPEC: dict[str, Any] = {
    "kind": "scorecard",
    "format": 1,
    "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20},
    "features": [
        {
            "name": "duration",
            "type": "numerical",
            "code": "R01",
            "reason": {"en": "Long loan duration", "zh": "贷款期限较长"},
            "splits": [12, 24],
            "labels": ["< 12", "[12, 24)", ">= 24"],
            "points": [48, 33, 15],
            "missing_points": 25,
        }
    ],
}

FINGERPRINT: dict[str, Any] = {
    "sha256": "3f" * 32,
    "rows": 1000,
    "columns": 21,
    "bad_count": 300,
    "bad_rate": 0.3,
    "source": "german.csv",
}

SETTINGS: dict[str, Any] = {
    "method": "scorecard",
    "base_score": 600,
    "base_odds": 50,
    "pdo": 20,
    "folds": 5,
    "repeats": 5,
    "seed": 42,
    "min_iv": 0.02,
    "monotone": {"duration": "ascending"},
}


def card_version(**overrides: Any) -> ModelVersion:
    """An unsaved version with the fixture's card data."""
    values: dict[str, Any] = {
        "name": "german-credit",
        "version": 3,
        "purpose": "application",
        "method": "scorecard",
        "status": "draft",
        "description": "Application scorecard for personal loans",
        "spec": SPEC,
        "metrics": METRICS,
        "card": CARD,
        "fingerprint": FINGERPRINT,
        "dataset_name": "german.csv",
        "training_settings": SETTINGS,
        "grade_bands": BANDS,
    }
    values.update(overrides)
    return ModelVersion(**values)


def text(html: str) -> str:
    html = re.sub(r"<(script|style|title)\b.*?</\1>", " ", html, flags=re.S)
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))).strip()


def section(html: str, element_id: str) -> str:
    """The visible text of the element with ``id`` (up to its closing tag of the same name)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"', html)
    assert match, element_id
    tag = match.group(1)
    depth, position = 0, match.start()
    for found in re.finditer(rf"<(/?){tag}\b[^>]*>", html[match.start() :]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            return text(html[position : match.start() + found.end()])
    raise AssertionError(f"unclosed {element_id}")


def table_rows(html: str, marker: str) -> list[str]:
    """The body rows' texts of the first table whose opening tag contains ``marker``."""
    start = html.index(marker)
    body = html[start : html.index("</table>", start)]
    body = body[body.index("<tbody>") :]
    return [text(row) for row in re.findall(r"<tr\b.*?</tr>", body, flags=re.S)]


def test_the_card_shows_identity_data_and_governance():
    html = model_card_html(card_version())
    assert "<title>Model card: german-credit version 3</title>" in html
    identity = section(html, "mc-identity")
    assert "Model german-credit Version 3 Purpose Application score" in identity
    assert "Method WoE scorecard (logistic regression) Status Draft" in identity
    assert "Outcome predicted class = 2 (bad)" in identity
    assert "Validated by not yet Approved by not yet" in identity
    assert section(html, "mc-fingerprint") == (
        "Source german.csv Rows 1000 Columns 21 Bads 300 Bad rate 30.00 %"
    )
    assert section(html, "mc-sha256") == "3f" * 32
    assert table_rows(html, 'id="mc-exclusions"') == ["customer_id identifier: every value differs"]
    assert table_rows(html, 'id="mc-profiles"') == [
        "duration numeric 2.0 % 33",
        "telephone categorical 0.0 % 2",
        "customer_id id 0.0 % 1000 excluded",
    ]


def test_the_card_shows_every_binning_table_with_its_chart():
    html = model_card_html(card_version())
    assert table_rows(html, 'id="mc-feature-summary"') == [
        "duration 0.3151 yes R01 · Long loan duration",
        "telephone 0.0064 no information value 0.0064 below 0.02",
    ]
    assert table_rows(html, 'class="mc-bins" data-feature="duration"') == [
        "1 < 12 300 30.0 % 15.0 % 0.887 0.1780 48",
        "2 [12, 24) 400 40.0 % 28.0 % 0.098 0.0038 33",
        "3 >= 24 280 28.0 % 45.0 % -0.647 0.1296 15",
        "4 Missing 20 2.0 % 35.0 % -0.228 0.0011 25",
    ]
    # A dropped feature keeps its table (without points) and its reason.
    assert table_rows(html, 'class="mc-bins" data-feature="telephone"') == [
        "1 yes 404 40.4 % 29.5 % 0.026 0.0003",
        "2 none 596 59.6 % 30.4 % -0.017 0.0002",
        "3 Missing 0 0.0 % 0.000 0.0000",
    ]
    assert section(html, "mc-dropped") == "telephone : information value 0.0064 below 0.02"
    # The bad-rate chart: one bar per bin, the highest bad rate (45 %) fills the plot.
    chart = html[html.index('id="mc-bins-duration"') :]
    chart = chart[chart.index("<svg") : chart.index("</svg>")]
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', chart)]
    assert heights == [36.67, 68.44, 110.0, 85.56]
    assert re.findall(r">([\d.]+%)</text>", chart) == ["15.0%", "28.0%", "45.0%", "35.0%"]
    assert 'stroke-dasharray="4 3"' in chart  # the overall bad rate (30 %)


def test_the_points_table_is_readable_by_a_credit_officer():
    html = model_card_html(card_version())
    points = section(html, "mc-points")
    assert "A score of 600 means odds of 50 good customers to 1 bad" in points
    assert "every 20 points more double the odds" in points
    assert table_rows(html, 'id="mc-points-table"') == [
        "duration < 12 48",
        "[12, 24) 33",
        ">= 24 15",
        "Missing 25",
    ]


def test_points_come_from_the_scoring_spec_when_the_card_has_none():
    card = {**CARD, "features": [{**CARD["features"][0], "bins": duration_bins()}]}
    for row in card["features"][0]["bins"]:
        row["points"] = None
    spec = {**SPEC, "features": [{**SPEC["features"][0], "points": [50, 30, 10]}]}
    html = model_card_html(card_version(card=card, spec=spec))
    assert table_rows(html, 'id="mc-points-table"') == [
        "duration < 12 50",
        "[12, 24) 30",
        ">= 24 10",
        "Missing 25",
    ]


def test_the_card_shows_the_evaluation_calibration_grades_settings_and_limitations():
    html = model_card_html(card_version())
    assert table_rows(html, 'id="mc-metrics"') == [
        "AUC 0.8012 0.0213",
        "Gini 0.6024 0.0426",
        "KS 0.4817 0.0305",
        "Brier 0.1602 0.0087",
    ]
    assert "Repeated stratified cross-validation (5x5 stratified)" in html
    assert table_rows(html, 'id="mc-folds"') == [
        "1.1 0.7931 0.5862 0.4633 0.1655",
        "1.2 0.8093 0.6186 0.5001 0.1549",
    ]
    assert table_rows(html, 'id="mc-calibration"') == [
        "A 640–712 210 21 10.00 % 9.12 %",
        "B 580–639 520 150 28.85 % 27.55 %",
        "C 498–579 270 129 47.78 % 49.01 %",
    ]
    calibration = html[html.index('id="mc-calibration"') :]
    calibration = calibration[calibration.index("<svg") : calibration.index("</svg>")]
    assert calibration.count("<rect ") == 3
    assert calibration.count("<circle ") == 3  # the predicted PD of each band
    assert table_rows(html, 'id="mc-grade-bands"') == [
        "A 640 and above approve",
        "B 580 to below 640 refer",
        "C below 580 decline",
    ]
    settings = section(html, "mc-settings")
    assert "Points to double the odds (PDO) 20" in settings
    assert "Cross-validation folds 5 Repeats of the cross-validation 5" in settings
    assert "Monotone trends declared duration: ascending" in settings
    assert "Training time 12.5 s" in settings
    limitations = section(html, "mc-limitations")
    assert "Learnt from 1,000 rows of which 300 turned bad" in limitations
    assert "Evaluated by 5x5 stratified cross-validation on the learning data only" in limitations


def test_the_card_is_one_standalone_document():
    html = model_card_html(card_version())
    assert html.startswith("<!doctype html>")
    assert "<script" not in html
    assert not re.search(r'\b(src|href)="', html)
    assert "url(" not in html and "@import" not in html
    assert "<style>" in html


def test_governance_people_and_dates_appear_once_given(django_user_model):
    developer = django_user_model(username="dev", first_name="Lei", last_name="Zhao")
    validator = django_user_model(username="val", first_name="Hui", last_name="Wang")
    version = card_version(status="validated", created_by=developer, validated_by=validator)
    identity = section(model_card_html(version), "mc-identity")
    assert "Developed by Lei Zhao" in identity
    assert "Validated by Hui Wang" in identity
    assert "Approved by not yet" in identity


def test_a_version_without_card_data_still_renders():
    html = model_card_html(
        card_version(card={}, metrics={}, fingerprint={}, training_settings={}, grade_bands=[])
    )
    assert "The card lists no features." in html
    assert "No evaluation is recorded for this version." in html
    assert "No risk grades are set." in html
    assert 'id="mc-binning"' not in html and 'id="mc-points"' not in html


def test_the_card_follows_the_language_asked_for():
    html = model_card_html(card_version(), language="zh-hans")
    assert '<html lang="zh-hans">' in html
    assert "R01 · 贷款期限较长" in text(html)
    assert translation.get_language() == "en"  # the reader's language is left as it was


def test_the_pdf_of_a_card():
    pdf = model_card_pdf(model_card_html(card_version()))
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 10_000


def test_no_pdf_without_weasyprint(monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(CardRenderError, match="PDF output needs WeasyPrint and the Pango library"):
        model_card_pdf("<html><body>card</body></html>")


def test_no_pdf_of_nothing():
    with pytest.raises(ValueError, match=r"There is no HTML to turn into PDF\."):
        model_card_pdf("  ")


def test_bar_chart_geometry():
    chart = bar_chart([10, 20, None, 40], ["a", "b", "c", "d"], reference=20)
    assert chart is not None
    assert [bar.height for bar in chart.bars] == [27.5, 55.0, 0.0, 110.0]
    assert [bar.y for bar in chart.bars] == [100.5, 73.0, 128.0, 18.0]
    assert [bar.value_label for bar in chart.bars] == ["10.0%", "20.0%", "", "40.0%"]
    assert chart.reference_y == 73.0
    assert chart.baseline_y == CHART_HEIGHT - 22
    assert bar_chart([None, None], ["a", "b"]) is None
    assert bar_chart([], []) is None


# --- Monitoring reports ------------------------------------------------------------------------

DETAILS: dict[str, Any] = {
    "score": {
        "psi": 0.1432,
        "level": "watch",
        "bins": [
            {"bin": "< 560", "expected": 0.2, "actual": 0.32},
            {"bin": "[560, 600)", "expected": 0.5, "actual": 0.45},
            {"bin": ">= 600", "expected": 0.3, "actual": 0.23},
        ],
    },
    "features": {
        "duration": {
            "kind": "numerical",
            "csi": 0.3011,
            "level": "act",
            "bins": [
                {"bin": "< 12", "expected": 0.3, "actual": 0.1},
                {"bin": ">= 12", "expected": 0.7, "actual": 0.9},
            ],
        },
        "savings": {
            "kind": "categorical",
            "csi": 0.0123,
            "level": "ok",
            "bins": [
                {"bin": "high", "expected": 0.4, "actual": 0.42},
                {"bin": "low", "expected": 0.6, "actual": 0.58},
            ],
        },
    },
    "backtest": [
        {
            "grade": "A",
            "min_score": 641,
            "max_score": 700,
            "rows": 40,
            "bads": 2,
            "observed_bad_rate": 0.05,
            "mean_pd": 0.061,
        },
        {
            "grade": "C",
            "min_score": 512,
            "max_score": 579,
            "rows": 25,
            "bads": 9,
            "observed_bad_rate": 0.36,
            "mean_pd": 0.41,
        },
    ],
    "overrides": {
        "period_start": "2025-01-01",
        "period_end": "2025-03-31",
        "decisions": 20,
        "overrides": 3,
        "override_rate": 0.15,
        "by_officer": [
            {
                "officer": 7,
                "officer_name": "Na Li",
                "unit": 2,
                "unit_name": "Branch A",
                "decisions": 8,
                "overrides": 2,
                "override_rate": 0.25,
                "approved_against_decline": 2,
                "declined_against_approve": 0,
            },
            {
                "officer": 9,
                "officer_name": "Jie Chen",
                "unit": 2,
                "unit_name": "Branch A",
                "decisions": 12,
                "overrides": 1,
                "override_rate": 0.0833,
                "approved_against_decline": 0,
                "declined_against_approve": 1,
            },
        ],
        "by_branch": [
            {
                "branch": 2,
                "branch_name": "Branch A",
                "decisions": 20,
                "overrides": 3,
                "override_rate": 0.15,
                "approved_against_decline": 2,
                "declined_against_approve": 1,
            },
        ],
    },
    "notes": [],
    "thresholds": {"watch": 0.1, "act": 0.25},
}


def monitoring_report(**overrides: Any) -> MonitoringReport:
    import datetime as dt

    values: dict[str, Any] = {
        "model_version": card_version(),
        "period_start": dt.date(2025, 1, 1),
        "period_end": dt.date(2025, 3, 31),
        "scored": 120,
        "psi": 0.1432,
        "level": "act",
        "details": DETAILS,
    }
    values.update(overrides)
    return MonitoringReport(**values)


def test_the_monitoring_report_shows_stability_backtest_and_overrides():
    html = monitoring_report_html(monitoring_report())
    assert "<script" not in html and not re.search(r'\b(src|href)="', html)
    header = text(html[: html.index('id="mr-psi"')])
    assert "Monitoring report: german-credit v3" in header
    assert "Act 1 Jan 2025 to 31 Mar 2025 · 120 scores in the period" in header
    assert "Population stability index (PSI): 0.1432 Watch" in section(html, "mr-psi")
    assert table_rows(html, 'id="mr-psi-table"') == [
        "1 < 560 20.0 % 32.0 % 0.0564",
        "2 [560, 600) 50.0 % 45.0 % 0.0053",
        "3 >= 600 30.0 % 23.0 % 0.0186",
    ]
    # Features by index, highest first, each with its level's colour.
    assert table_rows(html, 'id="mr-csi-summary"') == [
        "duration 0.3011 Act",
        "savings 0.0123 Stable",
    ]
    assert '<tr data-feature="duration">' in html
    summary = html[
        html.index('id="mr-csi-summary"') : html.index(
            "</table>", html.index('id="mr-csi-summary"')
        )
    ]
    assert summary.count("mc-level-act") == 1 and summary.count("mc-level-ok") == 1
    # A drifting feature gets its distribution table; a stable one does not.
    assert "duration — CSI 0.3011" in text(html) and "savings — CSI" not in text(html)
    assert table_rows(html, 'id="mr-backtest-table"') == [
        "A 641–700 40 2 5.00 % 6.10 %",
        "C 512–579 25 9 36.00 % 41.00 %",
    ]
    assert "3 of 20 decisions went against the model (15.0 %)." in section(html, "mr-overrides")
    assert table_rows(html, 'id="overrides-by_officer"') == [
        "Na Li 8 2 25.0 %",
        "Jie Chen 12 1 8.3 %",
    ]
    assert table_rows(html, 'id="overrides-by_branch"') == ["Branch A 20 3 15.0 %"]


def test_a_report_without_scores_says_so():
    details = {
        "score": None,
        "features": {},
        "backtest": [],
        "notes": ["The model gave no scores in the period."],
    }
    report = monitoring_report(scored=0, psi=None, level="ok", details=details)
    html = monitoring_report_html(report)
    assert "The model gave no scores in the period." in html
    assert "No score distribution to compare" in html
    assert "No outcomes are known yet" in html
    assert 'id="overrides-none"' in html
    assert monitoring_report_html(report)[:15] == "<!doctype html>"
    assert model_card_pdf(html).startswith(b"%PDF-")
