"""``bankcrm screening``: load-list, check, batch, rescreen and lists."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bankcrm.compliance.models import RescreenRun
from bankcrm.compliance.screening import registry
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

LIST = (
    "id,name,aliases,schema,birth_date,country,identifier,gender,program\n"
    "P-1,XI Jinping,,person,1953-06-15,CN,,male,PEP\n"
    "P-2,Evil Shipping Holdings Ltd,,organisation,,,,,SDGT\n"
)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("screening", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def loaded(tmp_path: Path):
    registry.reset()
    path = tmp_path / "pep.csv"
    path.write_text(LIST, encoding="utf-8")
    figures = json.loads(
        _run("load-list", "--source", "csv", str(path), "--code", "pep", "--no-rescreen")
    )
    yield figures
    registry.reset()


def test_load_list_and_lists(loaded, tmp_path: Path) -> None:
    assert loaded == {
        "list": "pep",
        "version": 1,
        "entries": 2,
        "names": 2,
        "added": 2,
        "changed": 0,
        "removed": 0,
        "hits_closed": 0,
    }
    (listed,) = json.loads(_run("lists"))
    assert (listed["code"], listed["kind"], listed["live_entries"]) == ("pep", "internal", 2)
    assert [v["version"] for v in listed["versions"]] == [1]


def test_check_prints_hits_as_json(loaded) -> None:
    hits = json.loads(_run("check", "习近平", "--dob", "1953-06-15", "--country", "CN"))
    assert hits[0]["entry_id"] == "P-1"
    assert hits[0]["list"] == "pep"
    assert hits[0]["is_alert"] is True
    assert "summary_codes" in hits[0]["explanation"]
    assert json.loads(_run("check", "Nobody Atall")) == []


def test_batch_writes_one_row_per_hit(loaded, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "id,name,dob,country\nq1,Xi Jinping,1953-06-15,CN\nq2,Mary Smith,,\n"
        "q3,Evil Shipping Holdings Limited,,\n",
        encoding="utf-8",
    )
    target = tmp_path / "out.csv"
    figures = json.loads(_run("batch", str(source), str(target), "--floor", "0.5"))
    assert figures["rows"] == 3
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert list(rows[0]) == ["id", "entry_id", "score", "explanation"]
    assert {(r["id"], r["entry_id"]) for r in rows} >= {("q1", "P-1"), ("q3", "P-2")}
    assert "q2" not in {r["id"] for r in rows}
    assert all(0.5 <= float(r["score"]) <= 1 for r in rows)
    assert figures["hits"] == len(rows)
    json.loads(rows[0]["explanation"])


def test_rescreen_and_resume(loaded) -> None:
    PersonFactory(display_name="习近平", person__native_name="习近平")
    PersonFactory(display_name="Mary Smith")
    figures = json.loads(_run("rescreen", "--chunk-size", "1"))
    assert (figures["status"], figures["customers"], figures["screened"]) == ("done", 2, 2)
    again = json.loads(_run("rescreen", "--resume", str(figures["run"])))
    assert (again["run"], again["screened"]) == (figures["run"], 2)
    assert RescreenRun.objects.count() == 1


def test_bad_options_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--path"):
        _run("load-list", "--source", "csv", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="--resume"):
        _run("rescreen", "--resume", "999")
