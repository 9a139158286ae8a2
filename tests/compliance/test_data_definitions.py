"""Scenarios and the rating policy are data: exported as JSON, edited, loaded back through
the command line, checked first, versioned and audited; a bad file changes nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bankcrm.audit.models import AuditEvent
from bankcrm.compliance.models import RatingPolicy, Scenario

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_scenarios_round_trip_and_a_changed_spec_is_a_new_version(tmp_path: Path) -> None:
    exported = json.loads(_run("aml", "scenario-export", "large_cash"))
    assert [item["code"] for item in exported] == ["large_cash"]
    exported[0]["spec"]["threshold"] = exported[0]["spec"].get("threshold", 100) + 5
    exported.append(
        {
            "code": "cash_burst",
            "name": "Burst of cash deposits",
            "typology": "placement",
            "mode": "batch",
            "spec": exported[0]["spec"],
        }
    )
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    before = Scenario.objects.get(code="large_cash").version
    saved = json.loads(_run("aml", "scenario-load", str(path), "--reason", "Annual tuning"))
    assert saved["saved"] == [
        {"code": "large_cash", "version": before + 1},
        {"code": "cash_burst", "version": 1},
    ]
    assert Scenario.objects.get(code="cash_burst").mode == "batch"
    event = AuditEvent.objects.filter(action="compliance.scenario_save").order_by("pk").first()
    assert event.reason == "Annual tuning"


def test_a_bad_scenario_file_names_the_problem_and_saves_nothing(tmp_path: Path) -> None:
    good = json.loads(_run("aml", "scenario-export", "fan_in"))[0]
    bad = {**good, "code": "broken", "spec": {"rules": [{"code": "x", "measure": "median"}]}}
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps([{**good, "name": "Renamed"}, bad]), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        _run("aml", "scenario-load", str(path), "--reason", "Try")
    assert "Scenario 2 (broken)" in str(error.value) and "measure" in str(error.value)
    assert not Scenario.objects.filter(code="broken").exists()
    assert Scenario.objects.get(code="fan_in").name == good["name"]  # the first rolled back


def test_the_rating_policy_round_trips_as_a_new_active_version(tmp_path: Path) -> None:
    exported = json.loads(_run("kyc", "policy-export"))
    spec = exported["spec"]
    spec["review_months"]["medium"] = 24
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    loaded = json.loads(_run("kyc", "policy-load", str(path), "--name", "2027 policy"))
    assert loaded == {"version": exported["version"] + 1, "name": "2027 policy", "active": True}
    active = RatingPolicy.objects.get(is_active=True)
    assert active.spec["review_months"]["medium"] == 24
    assert RatingPolicy.objects.count() == 2


def test_a_bad_policy_is_refused_and_the_old_one_stays(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"factors": "none"}), encoding="utf-8")
    with pytest.raises(CommandError):
        _run("kyc", "policy-load", str(path), "--name", "Broken")
    assert RatingPolicy.objects.get(is_active=True).version == 1
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CommandError) as error:
        _run("kyc", "policy-load", str(path), "--name", "Broken")
    assert "not a readable JSON file" in str(error.value)


def test_review_periods_and_the_ownership_threshold_are_policy_data(tmp_path: Path) -> None:
    from decimal import Decimal

    from bankcrm.compliance.selectors_kyc import ubo_threshold

    assert ubo_threshold() == Decimal("25")
    exported = json.loads(_run("kyc", "policy-export"))
    spec = exported["spec"]
    path = tmp_path / "policy.json"
    spec["review_months"]["low"] = 72  # more than five years: refused
    path.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        _run("kyc", "policy-load", str(path), "--name", "Too lax")
    assert "at least every 60 months" in str(error.value)
    spec["review_months"]["low"] = 60
    spec["ubo_threshold_percent"] = 10
    path.write_text(json.dumps(spec), encoding="utf-8")
    _run("kyc", "policy-load", str(path), "--name", "Ten percent owners")
    assert ubo_threshold() == Decimal("10")


def test_country_lists_are_replaced_with_a_reason_and_checked() -> None:
    from bankcrm.compliance.models import CountryList

    shown = json.loads(_run("kyc", "country-list", "fatf_high_risk"))
    assert {"KP", "IR", "MM"} <= set(shown["countries"])
    with pytest.raises(CommandError) as error:
        _run("kyc", "country-list", "fatf_high_risk", "--set", "KP", "XYZ", "--reason", "x")
    assert "XYZ" in str(error.value)
    with pytest.raises(CommandError):
        _run("kyc", "country-list", "fatf_high_risk", "--set", "KP")  # no reason
    assert CountryList.objects.get(code="fatf_high_risk").countries == shown["countries"]
    updated = json.loads(
        _run(
            "kyc", "country-list", "fatf_high_risk", "--set", "kp", "IR", "MM", "SY",
            "--reason", "FATF plenary of February 2026",
        )
    )  # fmt: skip
    assert updated["countries"] == ["IR", "KP", "MM", "SY"]
    event = AuditEvent.objects.get(action="kyc.country_list_set")
    assert "DZ" in event.after["removed"] and event.reason == "FATF plenary of February 2026"
