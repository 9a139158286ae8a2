"""The marketing bench (bench/marketing.py) at a small size, so that it cannot rot: the data
generator, the compiled segment and the hand-written SQL giving the same members, and the
JSON figures it prints."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

BENCH_FILE = Path(__file__).resolve().parents[2] / "bench" / "marketing.py"


@pytest.fixture(scope="module")
def marketing_bench():
    spec = importlib.util.spec_from_file_location("bench_marketing", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_marketing"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_marketing", None)


def test_small_bench_counts_agree(marketing_bench) -> None:
    result = marketing_bench.bench(customers=2000, transactions=20000, runs=3)
    json.dumps(result)  # one JSON line
    assert {
        "benchmark",
        "database",
        "customers",
        "transactions",
        "conditions",
        "members_compiled",
        "members_hand",
        "counts_equal",
        "compiled_median_s",
        "hand_sql_median_s",
        "ratio",
        "targets_met",
    } <= set(result)
    assert result["customers"] == 2000
    assert result["transactions"] == 20000
    assert result["generated"] is True
    assert result["members_compiled"] == result["members_hand"]
    assert result["members_compiled"] > 0
    assert result["counts_equal"] is True
    assert result["ratio"] > 0
