"""``bankcrm risk score|nightly|monitor``: one JSON line out, errors naming the option."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bankcrm.risk import commands_scoring
from bankcrm.risk.management.commands import risk as risk_command
from bankcrm.risk.models import MonitoringReport, ScoreRun
from tests.lending import conftest as lending_fixtures
from tests.risk.test_monitoring import BASELINE, add_scores
from tests.risk.test_scoring import make_version

# The lending fixtures: a two-branch bank, its staff, customers and products.
bank = lending_fixtures.bank
lending_bank = lending_fixtures.lending_bank

GROUP = (commands_scoring.add_scoring_actions, commands_scoring.handle_scoring_action)


@pytest.fixture(autouse=True)
def scoring_actions(monkeypatch):
    """``bankcrm risk`` with the scoring actions (listed once)."""
    if GROUP not in risk_command.ACTION_GROUPS:
        monkeypatch.setattr(risk_command, "ACTION_GROUPS", (*risk_command.ACTION_GROUPS, GROUP))


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    call_command("risk", *argv, stdout=out, stderr=err)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_score_a_file(lending_bank, tmp_path):
    make_version()
    data = tmp_path / "in.csv"
    data.write_text("ref;age;housing\nX1;22;rent\nX2;;own\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = run(
        "score", "--model", "retail", "--data", str(data), "--out", str(out),
        "--user", lending_bank.analyst.username,
    )  # fmt: skip
    assert (result["rows"], result["model"], result["version"]) == (2, "retail", 1)
    assert result["run"] == ScoreRun.objects.get().pk
    with open(out, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["row"], row["score"], row["grade"]) for row in rows] == [
        ("1", "450", "C"),
        ("2", "520", "C"),
    ]


def test_score_names_the_option_at_fault(lending_bank, tmp_path):
    make_version()
    with pytest.raises(CommandError) as exc:
        run("score", "--model", "nope", "--data", "x.csv", "--out", str(tmp_path / "o.csv"))
    assert str(exc.value) == "--model: There is no model named nope."
    with pytest.raises(CommandError) as exc:
        run(
            "score", "--model", "retail", "--data", str(tmp_path / "x.csv"),
            "--out", str(tmp_path / "o.csv"), "--user", lending_bank.rm_a.username,
        )  # fmt: skip
    assert "permission" in str(exc.value)
    assert not ScoreRun.objects.exists()


def test_nightly_without_a_behaviour_model_scores_nobody(lending_bank):
    result = run("nightly", "--as-of", "2026-06-30")
    assert result == {
        "as_of": "2026-06-30",
        "outcomes_changed": 0,
        "behaviour_run": None,
        "behaviour_rows": 0,
    }
    with pytest.raises(CommandError) as exc:
        run("nightly", "--as-of", "30/06/2026")
    assert str(exc.value) == "--as-of: enter a date as YYYY-MM-DD, not “30/06/2026”."


def test_monitor_prints_the_level(lending_bank):
    version = make_version(baseline=BASELINE)
    add_scores(version, [(450, 22, "own"), (620, 40, "rent")])
    today = timezone.localdate(timezone.now(), timezone=dt.UTC)
    start, end = (
        (today - dt.timedelta(days=1)).isoformat(),
        (today + dt.timedelta(days=1)).isoformat(),
    )
    result = run("monitor", "retail", "--from", start, "--until", end)
    report = MonitoringReport.objects.get()
    assert result["report"] == report.pk
    assert (result["level"], result["scored"], result["psi"]) == (report.level, 2, report.psi)
    with pytest.raises(CommandError) as exc:
        run("monitor", "retail", "--from", end, "--until", start)
    assert str(exc.value) == "--until: The end of the period cannot be before its start."
    assert MonitoringReport.objects.count() == 1
