"""Streaming state: saved to AccountMonitorState and loaded back, the watermark makes
re-processing idempotent, and the seeded scenarios are the shipped ones."""

from __future__ import annotations

import datetime as dt

import pytest

from bankcrm.compliance.aml.defaults import SCENARIOS
from bankcrm.compliance.aml.frame import TxFrame
from bankcrm.compliance.aml.streaming import StreamingMonitor
from bankcrm.compliance.models import AccountMonitorState, Scenario
from tests.factories.banking import AccountFactory

pytestmark = pytest.mark.django_db

DAY0 = dt.date(2024, 3, 1)


def _rows(account: str, start_id: int, days: range, amount: float) -> list[dict]:
    return [
        {
            "id": start_id + i,
            "account": account,
            "counterparty": f"PAYER{start_id + i}",
            "date": DAY0 + dt.timedelta(days=d),
            "amount": amount,
        }
        for i, d in enumerate(days)
    ]


def test_state_round_trip_through_the_database() -> None:
    account = AccountFactory()
    key = str(account.pk)
    first = _rows(key, 1, range(0, 3), 1_000)
    second = _rows(key, 10, range(3, 6), 1_000)
    # one monitor over everything
    whole = StreamingMonitor()
    expected = whole.process(TxFrame.from_rows(first + second))
    # the same, with the state saved after the first part and loaded by a new monitor
    before = StreamingMonitor()
    before.process(TxFrame.from_rows(first))
    assert before.save_state([key]) == 1
    stored = AccountMonitorState.objects.get(account=account)
    assert stored.last_transaction_id == 3
    after = StreamingMonitor()
    assert after.load_state([key]) == 1
    assert after.states[key] == before.states[key]
    got = after.process(TxFrame.from_rows(second))
    assert [(d.scenario, d.account_key) for d in got] == [
        (d.scenario, d.account_key) for d in expected
    ]
    assert ("fan_in", key) in {(d.scenario, d.account_key) for d in got}
    # saving again updates the row in place
    after.save_state([key])
    assert AccountMonitorState.objects.get(account=account).last_transaction_id == 12


def test_processing_twice_evaluates_nothing_twice() -> None:
    rows = _rows("ACC", 1, range(0, 6), 1_000)
    monitor = StreamingMonitor()
    assert {d.scenario for d in monitor.process(TxFrame.from_rows(rows))} == {"fan_in"}
    exported = monitor.export_states()
    again = StreamingMonitor()
    again.import_states(exported)
    assert again.process(TxFrame.from_rows(rows)) == []
    assert again.stats.skipped == 6
    assert again.stats.processed == 0


def test_seeded_scenarios_match_the_shipped_defaults() -> None:
    seeded = {s.code: s.spec for s in Scenario.objects.all()}
    assert seeded == {s["code"]: s["spec"] for s in SCENARIOS}


def test_streaming_runs_at_least_fifteen_rules() -> None:
    assert StreamingMonitor().active_rules >= 15
