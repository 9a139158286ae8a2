"""``bankcrm import aml``, ``bankcrm aml run|scores|report`` and the nightly task."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from bankcrm.banking.models import Account
from bankcrm.compliance.models import Alert, RegulatoryReport, ScenarioRun
from bankcrm.compliance.services_alerts import GRADED_SCORES_KEY
from bankcrm.compliance.services_cases import case_open
from bankcrm.compliance.tasks_aml import aml_nightly
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.customers import PersonFactory

from .test_alerts import make_user, raise_alert

pytestmark = pytest.mark.django_db

AMLSIM = Path(settings.DATA_DIR) / "aml-amlsim-ibm-samples" / "20K_fanin200"


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_import_run_and_scores_one_row_per_account(tmp_path):
    if not AMLSIM.exists():
        pytest.skip(f"AMLSim sample not found at {AMLSIM} (set BANKCRM_DATA_DIR)")
    output = _run("import", "aml", "--format", "amlsim", str(AMLSIM), "--limit", "3000")
    assert "AML import complete" in output
    accounts = Account.objects.filter(source_system="amlsim").count()
    assert accounts > 0

    first = json.loads(_run("aml", "run").strip().splitlines()[-1])
    assert first["status"] == "done"
    assert first["transactions"] == 6000
    assert GRADED_SCORES_KEY not in first["fired"]
    run = ScenarioRun.objects.get(pk=first["run"])
    assert first["alerts_raised"] > 0
    assert run.alerts_raised == first["alerts_raised"] == Alert.objects.count()

    # The same book again: every detection updates its open alert, none is new.
    second = json.loads(_run("aml", "run").strip().splitlines()[-1])
    assert second["alerts_raised"] == 0
    assert second["alerts_updated"] == first["alerts_raised"]
    assert Alert.objects.count() == first["alerts_raised"]

    out = tmp_path / "scores.csv"
    _run("aml", "scores", str(out))
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == accounts
    assert list(rows[0]) == ["account", "score", "scenarios", "source"]
    assert len({r["account"] for r in rows}) == accounts
    assert all(r["account"].isdigit() for r in rows)  # the AMLSim node ids
    assert all(0.0 <= float(r["score"]) <= 100.0 for r in rows)
    assert {r["source"] for r in rows} == {"amlsim:20K_fanin200"}
    fired_rows = [r for r in rows if r["scenarios"]]
    alerted = Alert.objects.exclude(party__isnull=True).count()
    assert len(fired_rows) == alerted  # one customer per AMLSim account


def test_scores_needs_a_run(tmp_path):
    with pytest.raises(CommandError):
        _run("aml", "scores", str(tmp_path / "scores.csv"))


def test_run_bad_date_is_named():
    with pytest.raises(CommandError, match=r"--from|date"):
        _run("aml", "run", "--from", "2024-13-01")


def test_report_command_writes_files(tmp_path):
    officer = make_user("officer1", "compliance_officer")
    owner = PersonFactory()
    account = AccountFactory(owner=owner, branch=owner.owning_unit)
    txn = TransactionFactory(
        account=account,
        booking_date=dt.date(2024, 7, 1),
        amount=Decimal("60000.00"),
        kind="cash_deposit",
    )
    alert = raise_alert(account, transactions=[txn.pk])
    case = case_open(actor=officer, alerts=[alert])

    out = tmp_path / "str.json"
    result = json.loads(
        _run("aml", "report", "--kind", "str_generic", "--case", case.reference, str(out))
    )
    assert result["file"] == str(out)
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["reference"] == case.reference
    assert [t["id"] for t in document["transactions"]] == [txn.pk]

    out = tmp_path / "lvtr.csv"
    _run(
        "aml", "report", "--kind", "lvtr_cn", "--from", "2024-07-01", "--to", "2024-07-01", str(out)
    )
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [int(r["txn_id"]) for r in rows] == [txn.pk]
    assert rows[0]["rule_code"] == "cash"
    assert RegulatoryReport.objects.count() == 2
    assert RegulatoryReport.objects.filter(generated_by__isnull=True).count() == 2

    with pytest.raises(CommandError, match="--case"):
        _run("aml", "report", "--kind", "str_cn", "--case", "AML-1999-000001", str(out))


def test_nightly_task_runs_the_batch():
    owner = PersonFactory()
    account = AccountFactory(owner=owner, branch=owner.owning_unit)
    TransactionFactory(account=account, booking_date=dt.date(2024, 7, 1))
    figures = aml_nightly(as_of="2024-07-02")
    run = ScenarioRun.objects.get(pk=figures["run"])
    assert run.status == ScenarioRun.Status.DONE
    assert (run.date_from, run.date_to) == (
        dt.date(2024, 7, 2) - dt.timedelta(days=400),
        dt.date(2024, 7, 2),
    )
    assert figures["transactions"] == 1
