"""``bankcrm risk``: training from a CSV (one JSON line on stdout, progress on stderr), clear
errors that register nothing, reading and the governance steps with ``--user``."""

from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bankcrm.audit.models import AuditEvent
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.risk.models import ModelVersion
from tests.risk import test_registry as registry

pytestmark = pytest.mark.django_db

# The registry's fixtures, shared.
risk_staff = registry.risk_staff
register = registry.register
approved = registry.approved
quick_pdf = registry.quick_pdf

SUMMARY_KEYS = ["name", "version", "auc_cv_mean", "auc_cv_std", "gini", "ks", "rows", "bad_rate"]


def loans_csv(path: Path, rows: int = 300) -> Path:
    """Learning data as a bank might export it: ``;``-separated, a customer id, gaps in age
    and savings, and the outcome as text ("good" / "bad")."""
    rng = np.random.default_rng(7)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["customer_id", "age", "duration", "savings", "outcome"])
        for number in range(rows):
            age = int(rng.integers(19, 70))
            duration = int(rng.choice([6, 12, 18, 24, 36, 48]))
            savings = str(rng.choice(["none", "low", "high"], p=[0.3, 0.5, 0.2]))
            log_odds = (
                -1.0
                + 0.05 * (duration - 24)
                - 0.04 * (age - 40)
                + {"none": 1.0, "low": 0.0, "high": -1.2}[savings]
            )
            is_bad = rng.random() < 1 / (1 + np.exp(-log_odds))
            writer.writerow(
                [
                    f"C{number:05d}",
                    "" if rng.random() < 0.1 else age,
                    duration,
                    "" if rng.random() < 0.05 else savings,
                    "bad" if is_bad else "good",
                ]
            )
    return path


def risk(*argv: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("risk", *argv, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_train_on_a_semicolon_csv_with_gaps_and_a_text_target(tmp_path, risk_staff):
    data = loans_csv(tmp_path / "loans.csv")
    out, err = risk(
        "train", "--data", str(data), "--target", "outcome", "--bad", "bad",
        "--folds", "3", "--repeats", "1", "--user", "analyst",
    )  # fmt: skip
    lines = out.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert list(summary)[:2] == ["name", "version"]
    assert set(SUMMARY_KEYS) <= set(summary)
    version = ModelVersion.objects.get()
    assert (summary["name"], summary["version"]) == ("loans", 1) == (version.name, version.version)
    assert summary["method"] == "scorecard" and summary["status"] == "draft"
    assert summary["rows"] == 300 == version.fingerprint["rows"]
    assert summary["bad_rate"] == round(version.metrics["bad_rate"], 4)
    assert summary["auc_cv_mean"] == round(version.metrics["auc_cv_mean"], 4)
    assert 0.6 < summary["auc_cv_mean"] < 1
    assert summary["gini"] == pytest.approx(2 * summary["auc_cv_mean"] - 1, abs=0.01)
    assert "challenger" not in summary
    assert version.created_by == risk_staff.analyst
    assert version.dataset_name == "loans.csv"
    assert version.grade_bands[-1]["min_score"] is None
    assert "customer_id" not in {feature["name"] for feature in version.spec["features"]}
    assert "customer_id" in err and "Registered loans v1" in err
    event = AuditEvent.objects.get(action="risk.model_register")
    assert (event.actor, event.channel) == ("analyst", "command")


def test_with_both_methods_the_line_holds_the_challenger(tmp_path, register, monkeypatch):
    from bankcrm.risk import services

    seen = {}

    def trained(**kwargs):
        seen.update(kwargs)
        return [register(name="loans"), register(name="loans-gbm", method="gbm")]

    monkeypatch.setattr(services, "model_train", trained)
    data = loans_csv(tmp_path / "loans.csv", rows=40)
    out, _ = risk(
        "train", "--data", str(data), "--target", "outcome", "--bad", "bad", "worse",
        "--method", "both", "--exclude", "customer_id", "--date", "opened",
        "--monotone", "age=descending", "duration=ascending",
    )  # fmt: skip
    (line,) = out.splitlines()
    summary = json.loads(line)
    assert (summary["name"], summary["method"]) == ("loans", "scorecard")
    assert summary["challenger"] == {
        "name": "loans-gbm",
        "version": 1,
        "method": "gbm",
        "status": "draft",
        "auc_cv_mean": 0.8012,
        "auc_cv_std": 0.031,
        "gini": 0.6024,
        "ks": 0.47,
        "rows": 1000,
        "bad_rate": 0.3,
    }
    assert seen["bad"] == ["bad", "worse"] and seen["method"] == "both"
    assert seen["exclude"] == ["customer_id"] and seen["dates"] == ["opened"]
    assert seen["settings"].monotone == {"age": "descending", "duration": "ascending"}
    assert (seen["settings"].folds, seen["settings"].repeats) == (5, 5)


def test_a_missing_target_column_stops_with_a_clear_message(tmp_path, risk_staff):
    data = loans_csv(tmp_path / "loans.csv", rows=40)
    with pytest.raises(CommandError) as caught:
        risk("train", "--data", str(data), "--target", "klass", "--bad", "bad")
    message = str(caught.value)
    assert message.startswith("--data: ")
    assert "'klass'" in message and "outcome" in message
    assert caught.value.returncode == 1
    assert not ModelVersion.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="risk.").exists()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--bad", "terrible"], "--data: bad value 'terrible' does not occur in target 'outcome'"),
        (["--bad", "bad", "--folds", "1"], "--folds: Enter a whole number from 2 to 20."),
        (["--bad", "bad", "--pdo", "0"], "--pdo: Points to double the odds must be above 0."),
        (["--bad", "bad", "--monotone", "age"], "--monotone: Write “age” as COLUMN=ascending"),
        (["--bad", "bad", "--name", "my model"], "--name: Use letters, digits, hyphens"),
        (["--bad", "bad", "--user", "nobody"], "--user: there is no active user “nobody”."),
    ],
)
def test_bad_options_name_the_option_and_register_nothing(tmp_path, risk_staff, options, expected):
    data = loans_csv(tmp_path / "loans.csv", rows=40)
    with pytest.raises(CommandError) as caught:
        risk("train", "--data", str(data), "--target", "outcome", *options)
    assert str(caught.value).startswith(expected)
    assert not ModelVersion.objects.exists()


def test_a_missing_file_is_named(tmp_path, risk_staff):
    with pytest.raises(CommandError, match=r"--data: There is no file .*absent\.csv"):
        risk("train", "--data", str(tmp_path / "absent.csv"), "--target", "y", "--bad", "1")


def test_training_needs_the_training_permission(tmp_path, risk_staff):
    data = loans_csv(tmp_path / "loans.csv", rows=40)
    with pytest.raises(CommandError, match="You do not have permission"):
        risk("train", "--data", str(data), "--target", "outcome", "--bad", "bad", "--user", "mro")
    assert not ModelVersion.objects.exists()


def test_governance_from_the_command_line(register, risk_staff, tmp_path):
    register()
    register(actor=risk_staff.dual)

    with pytest.raises(CommandError, match="independent validation"):
        risk("validate", "german", "--version", "2", "--user", "dual", "--note", "fine")
    assert ModelVersion.objects.get(version=2).status == "draft"

    out, _ = risk("validate", "german", "--version", "1", "--user", "mro", "--note", "Sound")
    assert json.loads(out) == {
        "name": "german",
        "version": 1,
        "status": "validated",
        "shadow": False,
    }
    risk("approve", "german", "--version", "1", "--user", "mro2", "--note", "Fit for use")
    out, _ = risk("promote", "german", "--version", "1", "--user", "analyst", "--reason", "Ready")
    request = PendingApproval.objects.get()
    assert json.loads(out) == {
        "name": "german",
        "version": 1,
        "status": "approved",
        "shadow": False,
        "result": "pending_approval",
        "approval": request.pk,
    }
    with pytest.raises(CommandError, match="You asked for this promotion yourself"):
        risk("promote", "german", "--version", "1", "--user", "analyst", "--reason", "Now")
    out, _ = risk("promote", "german", "--version", "1", "--user", "mro", "--reason", "Agreed")
    assert json.loads(out)["result"] == "promoted"
    assert ModelVersion.objects.get(version=1).status == "production"
    validate = AuditEvent.objects.get(action="risk.model_validate")
    assert (validate.actor, validate.channel, validate.reason) == ("mro", "command", "Sound")

    with pytest.raises(CommandError, match="There is no version 9 of the model “german”"):
        risk("retire", "german", "--version", "9", "--user", "mro", "--reason", "x")
    with pytest.raises(CommandError):
        risk("validate", "german", "--version", "2", "--note", "no user given")


def test_list_show_and_card(register, approved, risk_staff, tmp_path):
    register()
    approved(name="behaviour", purpose="behaviour")
    out, _ = risk("list", "--json")
    rows = json.loads(out)
    assert [(row["name"], row["status"], row["purpose"]) for row in rows] == [
        ("behaviour", "approved", "behaviour"),
        ("german", "draft", "application"),
    ]
    out, _ = risk("list", "--status", "approved")
    table = out.splitlines()
    assert table[0].startswith("name") and len(table) == 2 and table[1].startswith("behaviour")

    out, _ = risk("show", "german")
    detail = json.loads(out)
    assert (detail["name"], detail["version"], detail["grade_bands"]) == (
        "german",
        1,
        registry.BANDS,
    )
    assert [row["action"] for row in detail["history"]] == ["register"]

    out, _ = risk("card", "german", "--out", str(tmp_path / "card.html"))
    assert json.loads(out)["out"] == str(tmp_path / "card.html")
    assert "german" in (tmp_path / "card.html").read_text(encoding="utf-8")
    risk("card", "german", "--version", "1", "--out", str(tmp_path / "card.pdf"))
    assert (tmp_path / "card.pdf").read_bytes() == b"%PDF-1.7 card"
    with pytest.raises(CommandError, match=r"--out: name a \.html or a \.pdf file"):
        risk("card", "german", "--out", str(tmp_path / "card.docx"))
    with pytest.raises(CommandError, match="There is no model “nope”"):
        risk("show", "nope")
