"""Each shipped AML scenario on a small hand-made fixture that must fire and one that must
not; the streaming and batch modes agree on every fixture."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from bankcrm.compliance.aml.batch import run_batch
from bankcrm.compliance.aml.defaults import SCENARIOS, active_rule_count
from bankcrm.compliance.aml.frame import TxFrame
from bankcrm.compliance.aml.spec import is_batch_only, validate_spec
from bankcrm.compliance.aml.streaming import StreamingMonitor

DAY0 = dt.date(2024, 3, 1)
FX = {"USD": 7.1, "CNY": 1.0}


def _scenario(code: str) -> dict:
    return next(s for s in SCENARIOS if s["code"] == code)


class Book:
    """Hand-made bookings: one leg per call, or both legs of a transfer between accounts."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def leg(self, account, day, amount, *, cp="", kind="other", currency="CNY", country=""):
        self.rows.append(
            {
                "id": len(self.rows) + 1,
                "account": account,
                "counterparty": cp,
                "date": DAY0 + dt.timedelta(days=day),
                "amount": amount,
                "currency": currency,
                "kind": kind,
                "country": country,
            }
        )
        return self

    def transfer(self, src, dst, day, amount):
        self.leg(src, day, -amount, cp=dst, kind="transfer_out")
        return self.leg(dst, day, amount, cp=src, kind="transfer_in")

    def frame(self, flagged=()) -> TxFrame:
        # a core-banking feed posts in booking order: ids follow the dates
        rows = sorted(self.rows, key=lambda r: (r["date"], r["id"]))
        rows = [dict(r, id=i + 1) for i, r in enumerate(rows)]
        return TxFrame.from_rows(rows, fx=FX, flagged_keys=flagged)


def flagged_accounts(code: str, frame: TxFrame) -> set[str]:
    """Accounts the scenario fires on; batch and streaming must agree."""
    scenario = _scenario(code)
    batch = {d.account_key for d in run_batch(frame, [scenario])}
    if not is_batch_only(scenario["spec"]):
        monitor = StreamingMonitor([scenario])
        streamed = {d.account_key for d in monitor.process(frame)}
        assert streamed == batch
    return batch


def test_shipped_scenarios_are_valid_and_have_enough_rules() -> None:
    for scenario in SCENARIOS:
        assert validate_spec(scenario["spec"]) == [], scenario["code"]
    assert active_rule_count() >= 15
    assert len({s["code"] for s in SCENARIOS}) == len(SCENARIOS)


def test_large_cash() -> None:
    fire = Book().leg("A", 0, 30_000, kind="cash_deposit").leg("A", 0, 25_000, kind="cash_deposit")
    fire.leg("B", 0, 11_000, kind="cash_deposit", currency="USD")  # 78,100 CNY
    calm = Book().leg("A", 0, 30_000, kind="cash_deposit").leg("A", 1, 25_000, kind="cash_deposit")
    calm.leg("B", 0, 9_000, kind="cash_deposit", currency="USD")  # 63,900 CNY
    calm.leg("C", 0, 60_000, kind="transfer_in")  # not cash
    assert flagged_accounts("large_cash", fire.frame()) == {"A", "B"}
    assert flagged_accounts("large_cash", calm.frame()) == set()


def test_structuring() -> None:
    fire = Book().leg("A", 0, 45_000, kind="cash_deposit").leg("A", 4, 48_000, kind="cash_deposit")
    calm = Book().leg("A", 0, 45_000, kind="cash_deposit").leg("A", 10, 48_000, kind="cash_deposit")
    calm.leg("B", 0, 20_000, kind="cash_deposit").leg("B", 2, 30_000, kind="cash_deposit")
    assert flagged_accounts("structuring", fire.frame()) == {"A"}
    assert flagged_accounts("structuring", calm.frame()) == set()


def test_rapid_movement() -> None:
    fire = Book().leg("A", 0, 100_000, cp="X").leg("A", 2, -95_000, cp="Y")
    calm = Book().leg("A", 0, 100_000, cp="X").leg("A", 2, -20_000, cp="Y")
    calm.leg("B", 0, 100_000, cp="X").leg("B", 9, -95_000, cp="Y")  # a week later
    assert flagged_accounts("rapid_movement", fire.frame()) == {"A"}
    assert flagged_accounts("rapid_movement", calm.frame()) == set()


def test_fan_in_and_fan_out() -> None:
    fan_in, calm_in = Book(), Book()
    fan_out, calm_out = Book(), Book()
    for i in range(6):
        fan_in.leg("A", i, 1_000, cp=f"P{i}")
        calm_in.leg("A", i * 3, 1_000, cp=f"P{i}")  # spread over 16 days
        fan_out.leg("A", i, -1_000, cp=f"P{i}")
        calm_out.leg("A", i, -1_000, cp=f"P{i % 5}")  # five payees only
    assert flagged_accounts("fan_in", fan_in.frame()) == {"A"}
    assert flagged_accounts("fan_in", calm_in.frame()) == set()
    assert flagged_accounts("fan_out", fan_out.frame()) == {"A"}
    assert flagged_accounts("fan_out", calm_out.frame()) == set()


def test_gather_scatter() -> None:
    fire, calm = Book(), Book()
    for i in range(4):
        fire.leg("H", i, 10_000, cp=f"IN{i}").leg("H", 5 + i, -10_000, cp=f"OUT{i}")
        calm.leg("H", i, 10_000, cp=f"IN{i}").leg("H", 5 + i, -10_000, cp=f"OUT{i % 3}")
    assert flagged_accounts("gather_scatter", fire.frame()) == {"H"}
    assert flagged_accounts("gather_scatter", calm.frame()) == set()


def test_scatter_gather() -> None:
    fire, calm = Book(), Book()
    for i in range(3):
        fire.transfer("S", f"M{i}", i, 10_000).transfer(f"M{i}", "D", i + 2, 9_500)
    for i in range(2):
        calm.transfer("S", f"M{i}", i, 10_000).transfer(f"M{i}", "D", i + 2, 9_500)
    assert flagged_accounts("scatter_gather", fire.frame()) == {"S", "D"}
    assert flagged_accounts("scatter_gather", calm.frame()) == set()


def test_cycle() -> None:
    fire = Book().transfer("A", "B", 0, 10_000).transfer("B", "C", 2, 9_800)
    fire.transfer("C", "A", 4, 9_600)
    # the same triangle, but no order of its hops runs forward in time
    early = Book().transfer("A", "B", 1, 10_000).transfer("B", "C", 5, 9_800)
    early.transfer("C", "A", 3, 9_600)
    # the money dwindles to a tenth on the way: not the same funds
    dwindling = Book().transfer("A", "B", 0, 10_000).transfer("B", "C", 2, 1_000)
    dwindling.transfer("C", "A", 4, 900)
    assert flagged_accounts("cycle", fire.frame()) == {"A", "B", "C"}
    assert flagged_accounts("cycle", early.frame()) == set()
    assert flagged_accounts("cycle", dwindling.frame()) == set()


def test_high_risk_geography() -> None:
    fire = Book().leg("A", 0, -20_000, cp="Z", country="IR")
    calm = Book().leg("A", 0, -20_000, cp="Z", country="DE").leg("B", 0, -2_000, country="IR")
    assert flagged_accounts("high_risk_geography", fire.frame()) == {"A"}
    assert flagged_accounts("high_risk_geography", calm.frame()) == set()


def test_dormant_reactivation() -> None:
    fire = Book().leg("A", 0, 1_000).leg("A", 200, 30_000)
    calm = Book().leg("A", 0, 1_000).leg("A", 100, 30_000).leg("B", 0, 1_000).leg("B", 200, 500)
    assert flagged_accounts("dormant_reactivation", fire.frame()) == {"A"}
    assert flagged_accounts("dormant_reactivation", calm.frame()) == set()


def test_profile_change() -> None:
    fire, calm = Book(), Book()
    for i, amount in enumerate([1_000, 1_100, 900, 1_050, 950, 1_000]):
        fire.leg("A", i, -amount, cp="SHOP")
        calm.leg("A", i, -amount, cp="SHOP")
    fire.leg("A", 7, -20_000, cp="NEW")
    calm.leg("A", 7, -1_200, cp="SHOP")
    assert flagged_accounts("profile_change", fire.frame()) == {"A"}
    assert flagged_accounts("profile_change", calm.frame()) == set()


def test_repeated_counterparty() -> None:
    fire, calm = Book(), Book()
    for i in range(12):
        fire.leg("A", i * 2, -2_000, cp="MULE")  # twelve payments to one payee in 23 days
        calm.leg("A", i * 3, -2_000, cp="MULE")  # the same over 34 days: 11 in any 30
        calm.leg("B", i, -2_000, cp=f"SHOP{i % 2}")  # twelve payments, two payees
    assert flagged_accounts("repeated_counterparty", fire.frame()) == {"A"}
    assert flagged_accounts("repeated_counterparty", calm.frame()) == set()


def test_alert_score_is_the_most_unusual_scenario() -> None:
    from bankcrm.compliance.aml.batch import evaluate, tail_surprisal

    surprisal = tail_surprisal(np.array([0.0, 10.0, 10.0, 50.0]))
    # a share of 3/4 scores 10 or more, 1/4 scores 50 or more; a score of 0 gives nothing
    assert surprisal.tolist() == pytest.approx([0.0, -np.log10(0.75), -np.log10(0.75), np.log10(4)])
    book = Book()
    for i in range(6):
        book.leg("A", i, 1_000, cp=f"P{i}")  # fan-in: the only account with six payers
    for account in ("B", "C", "D"):
        book.leg(account, 0, 1_000, cp="P0")
    scores = evaluate(book.frame()).scores
    # A is the one account in four on top of the fan-in scenario: log10(4), not diluted by
    # the scenarios where it is no different from the others
    assert scores["A"] == pytest.approx(np.log10(4))
    assert max(scores[k] for k in ("B", "C", "D")) < scores["A"]


def test_round_amounts() -> None:
    fire = Book().leg("A", 0, -10_000).leg("A", 5, -20_000).leg("A", 9, -5_000)
    calm = Book().leg("A", 0, -10_000).leg("A", 5, -20_000).leg("A", 9, -5_432)
    calm.leg("B", 0, -1_000).leg("B", 1, -2_000).leg("B", 2, -3_000)  # below CNY 5,000
    assert flagged_accounts("round_amounts", fire.frame()) == {"A"}
    assert flagged_accounts("round_amounts", calm.frame()) == set()


def test_sanctioned_counterparty() -> None:
    book = Book().leg("A", 0, -500, cp="ACME SHELL LTD").leg("B", 0, -500, cp="CORNER SHOP")
    assert flagged_accounts("sanctioned_counterparty", book.frame(["ACME SHELL LTD"])) == {"A"}
    assert flagged_accounts("sanctioned_counterparty", book.frame()) == set()


def test_detection_carries_evidence() -> None:
    book = Book().leg("A", 0, 30_000, cp="T1", kind="cash_deposit")
    book.leg("A", 0, 25_000, cp="T2", kind="cash_deposit")
    [detection] = run_batch(book.frame(), [_scenario("large_cash")])
    assert detection.scenario == "large_cash"
    assert sorted(detection.transaction_ids) == [1, 2]
    assert detection.counterparties == ["T1", "T2"]
    assert detection.window == ("2024-03-01", "2024-03-01")
    assert detection.rules[0] == {
        "code": "cash_cny_day",
        "value": 55000.0,
        "threshold": 50000,
        "fired": True,
    }
    assert detection.score == pytest.approx(50.0 + 50.0 * 0.0, abs=0.01)


def test_all_scenarios_agree_between_modes() -> None:
    book = Book()
    for i in range(8):
        book.leg("A", i, 9_000 + 100 * i, cp=f"P{i}")
        book.leg("A", i, -(8_000 + 50 * i), cp=f"Q{i % 3}")
        book.leg("B", i, 48_000, kind="cash_deposit")
    book.leg("A", 9, -90_000, cp="Z", country="KP")
    frame = book.frame(["Q1"])
    streaming_rows = [s for s in SCENARIOS if not is_batch_only(s["spec"])]
    batch = {(d.scenario, d.account_key) for d in run_batch(frame, streaming_rows)}
    streamed = {(d.scenario, d.account_key) for d in StreamingMonitor().process(frame)}
    assert batch == streamed
    assert ("high_risk_geography", "A") in batch
    assert ("sanctioned_counterparty", "A") in batch
    assert ("structuring", "B") in batch
    assert ("large_cash", "B") not in batch
