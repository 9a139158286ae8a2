"""The customer service bench (bench/service.py) at a small size, so that it cannot rot: its
case generator, and on PostgreSQL the whole run (COPY load, timings, the JSON line)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from bankcrm.support.models import CaseSequence, ServiceCase

pytestmark = pytest.mark.django_db

BENCH_FILE = Path(__file__).resolve().parents[2] / "bench" / "service.py"


@pytest.fixture(scope="module")
def service_bench():
    spec = importlib.util.spec_from_file_location("bench_service", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_service"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_service", None)


NOW = dt.datetime(2026, 6, 30, 10, 0, tzinfo=dt.UTC)


def _plan(service_bench, cases: int):
    queues = [
        service_bench.QueueSpec(1, "contact_centre", 10, "Head Office", (101, 102), 0.4),
        service_bench.QueueSpec(2, "bench_a", 11, "Branch A", (103,), 0.35),
        service_bench.QueueSpec(3, "bench_b", 12, "Branch B", (), 0.25),
    ]
    types = [
        service_bench.TypeSpec(pk, code, 50 + pk, weight)
        for pk, (code, weight) in enumerate(service_bench.TYPE_WEIGHTS.items(), start=1)
    ]
    parties = {
        11: [(uuid.UUID(int=n), "mass", 11) for n in range(1, 40)],
        12: [(uuid.UUID(int=n), "private", 12) for n in range(40, 50)],
    }

    def terms(code: str, priority: int, segment: str):
        first, resolution = service_bench.FALLBACK_TARGETS[priority]
        return service_bench.SlaTerms(7, None, first, resolution, 80)

    def due(calendar_pk, start: dt.datetime, minutes: int) -> dt.datetime:
        return start + dt.timedelta(minutes=minutes)

    return service_bench.CasePlan(
        cases=cases,
        now=NOW,
        queues=queues,
        types=types,
        parties_by_unit=parties,
        sla_terms=terms,
        due=due,
        seed=3,
        first_number={2026: 41},
    )


def test_generated_cases_are_realistic_and_repeatable(service_bench) -> None:
    rows = list(service_bench.generate_cases(_plan(service_bench, 2000)))
    assert len(rows) == 2000
    assert all(set(row) == set(service_bench.CASE_COLUMNS) for row in rows)
    # A tenth open, the rest resolved, closed or cancelled; oldest first.
    assert sum(row["is_open"] for row in rows) == 200
    states = Counter(row["state"] for row in rows)
    assert set(states) == {
        "new",
        "triaged",
        "in_progress",
        "waiting_on_customer",
        "resolved",
        "closed",
    }
    assert states["resolved"] + states["closed"] == 1800
    received = [row["received_at"] for row in rows]
    assert received == sorted(received) and received[-1] < NOW
    assert NOW - received[0] > dt.timedelta(days=600)  # spread over two years
    # References per year, gap-free, continuing after the numbers already given.
    by_year: dict[int, list[int]] = {}
    for row in rows:
        _sc, year, number = row["reference"].split("-")
        by_year.setdefault(int(year), []).append(int(number))
    assert by_year[2026][0] == 42
    for year, numbers in by_year.items():
        start = 42 if year == 2026 else 1
        assert numbers == list(range(start, start + len(numbers))), year
    # Every queue, type, channel and priority is used; the contact centre is the busiest.
    assert Counter(row["queue_id"] for row in rows).most_common(1)[0][0] == 1
    assert {row["case_type_id"] for row in rows} == {1, 2, 3, 4, 5}
    assert {row["channel"] for row in rows} == set(service_bench.CHANNEL_WEIGHTS)
    assert {row["priority"] for row in rows} == {1, 2, 3, 4}
    # The scope: a customer's unit when there is a customer, else the queue's.
    units = {1: 10, 2: 11, 3: 12}
    for row in rows:
        if row["party_id"] is None:
            assert row["org_unit_id"] == units[row["queue_id"]]
            assert row["contact_email"].endswith("@mail.example")
        else:
            assert row["org_unit_id"] == (11 if row["party_id"].int < 40 else 12)
            assert row["contact_email"] == ""
    with_party = sum(row["party_id"] is not None for row in rows)
    assert 1500 < with_party < 1900
    # Open cases: dues, a pause while waiting on the customer; closed ones: times in order.
    for row in rows:
        if row["is_open"]:
            assert row["resolved_at"] is None and row["closed_at"] is None
            assert row["resolution_due_at"] > row["received_at"]
            assert (row["sla_paused_since"] is not None) == (row["state"] == "waiting_on_customer")
        elif row["resolved_at"] is not None:
            assert row["received_at"] <= row["first_responded_at"] <= row["resolved_at"] <= NOW
            assert (row["closed_at"] is not None) == (row["state"] == "closed")
        else:  # cancelled before work started
            assert row["state"] == "closed" and row["closed_at"] >= row["received_at"]
    # The same seed gives the same cases.
    again = list(service_bench.generate_cases(_plan(service_bench, 2000)))
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert [r["subject"] for r in again] == [r["subject"] for r in rows]


def test_bench_runs_at_small_size(service_bench) -> None:
    result = service_bench.bench(cases=2000, parties=300, units=6, runs=2, recompute_runs=1)
    line = json.loads(json.dumps(result, ensure_ascii=False))
    if connection.vendor != "postgresql":
        assert line == {
            "benchmark": "service",
            "database": connection.vendor,
            "skipped": "PostgreSQL only: give --database or --postgres (COPY loads the cases)",
        }
        return

    assert line["benchmark"] == "service" and line["database"] == "postgresql"
    assert (line["cases"], line["open_cases"], line["units"], line["queues"]) == (2000, 200, 6, 6)
    assert line["parties"] >= 300 and line["parties_added"] > 0
    assert line["cases_loaded"] is True
    assert ServiceCase.objects.count() == 2000
    assert line["missing"] == []
    for key in ("case_table_mb", "setup_s", "cases_load_s", "cases_load_rows_per_s"):
        assert line[key] >= 0, key
    assert line["statistics"] == "analyze"  # inside the test's transaction
    assert line["cases_load_rows_per_s"] > 0
    assert line["busy_queue"]["code"] == "contact_centre"
    assert line["busy_queue"]["open_cases"] > 0

    def positive(entry: dict, unit: str = "ms") -> None:
        assert set(entry) == {f"median_{unit}", f"p95_{unit}"}
        assert entry[f"median_{unit}"] > 0 and entry[f"p95_{unit}"] >= entry[f"median_{unit}"]

    page = line["queue_page"]
    assert set(page) == {
        "raw_sql",
        "selector",
        "selector_vs_raw_ratio",
        "page",
        "page_bytes",
        "page_queries",
        "page_vs_raw_ratio",
    }
    for key in ("raw_sql", "selector", "page"):
        positive(page[key])
    assert page["selector_vs_raw_ratio"] > 0 and page["page_bytes"] > 0
    assert page["page_queries"] > 0
    assert set(line["search"]) == {"reference", "subject_word", "customer_name"}
    for kind, entry in line["search"].items():
        positive(entry["raw_sql"])
        positive(entry["selector"])
        assert entry["selector_vs_raw_ratio"] > 0, kind
    assert line["search"]["reference"]["median_results"] == 1
    recompute = line["sla_recompute_open"]
    assert recompute["open_cases"] == 200
    positive(recompute["raw_sql"], "s")
    positive(recompute["service"], "s")
    assert recompute["per_100000_open_s"] > 0
    assert recompute["per_100000_open_extrapolated"] is True
    # Each run moved every open case's dues: the service wrote them all back.
    assert recompute["recomputed"] == 200
    assert set(line["targets_met"]) == {
        "queue_page_selector",
        "queue_page_page",
        "search_reference",
        "search_subject_word",
        "search_customer_name",
        "sla_recompute_per_100000_open",
    }
    assert all(isinstance(met, bool) for met in line["targets_met"].values())

    # The loaded cases are real cases: sealed fields open, the sequence continues after them.
    case = ServiceCase.objects.filter(party__isnull=True).order_by("reference").first()
    assert case.contact_email.endswith("@mail.example") and case.contact_name
    assert case.description in service_bench.DESCRIPTIONS.values()
    assert ServiceCase.objects.filter(contact_email_index=case.contact_email_index).count() >= 1
    last = ServiceCase.objects.filter(reference__startswith="SC-2026-").order_by("-reference")
    assert CaseSequence.objects.get(year=2026).last_number == int(last[0].reference[8:])

    # A second run reuses the loaded cases.
    again = service_bench.bench(cases=2000, parties=300, units=6, runs=1, recompute_runs=1)
    assert again["cases_loaded"] is False and ServiceCase.objects.count() == 2000
