"""Batch mode: every scenario over a whole TxFrame, set-based with numpy.

The frame is ordered by (subject, time). An evaluation point is a (subject, day) with at
least one transaction; a rule's window of W days ending on that day is a contiguous range of
evaluation points, found once per W with ``searchsorted`` on the sorted (subject, day) keys.
Sums and counts are differences of cumulative sums over per-day totals (``np.add.reduceat``),
maxima a sparse table over the per-day maxima, distinct counterparties a running count of
+1/-1 events (a counterparty counts from the day it is seen until W days later or its next
appearance). A subject alerts on the evaluation point of its highest score.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .frame import TxFrame, day_iso
from .rules import CompiledScenario, Filter, Rule, compile_scenarios

EVIDENCE_TRANSACTIONS = 50
EVIDENCE_COUNTERPARTIES = 20


@dataclass(frozen=True, slots=True)
class Detection:
    """A scenario that fired on one account (or customer): its score and evidence."""

    scenario: str  # Scenario.code
    account_key: str  # banking Account pk as str, or the data set's account id
    score: float  # 0..100
    rules: list[dict]  # [{"code", "value", "threshold", "fired"}]
    transaction_ids: list[int]  # evidence (capped)
    counterparties: list[str]
    window: tuple[str, str]  # ISO dates


@dataclass
class BatchResult:
    detections: list[Detection]
    #: alert score of every subject, for ranking accounts: each scenario's graded score (its
    #: best in the frame, 0..100, alerting or not; partial evidence counts) is calibrated on
    #: the book itself as the share p of subjects scoring at least as high, and the alert
    #: score is the largest -log10(p) over the scenarios (3.0 = as unusual as the top 0.1 %
    #: of the book on its most unusual scenario). One strong typology is not diluted by
    #: scenarios that score nearly everyone a little; no labels are involved.
    scores: dict[str, float]
    #: {"scenario code": {"fired": n, "seconds": s}}
    per_scenario: dict[str, dict[str, float]] = field(default_factory=dict)
    transactions: int = 0
    seconds: float = 0.0


class _Points:
    """The (subject, day) evaluation points of a frame ordered by subject then time."""

    def __init__(self, frame: TxFrame, subject: np.ndarray) -> None:
        self.frame = frame
        self.n = len(frame)
        self.subject = subject.astype(np.int64)
        day = frame.day.astype(np.int64)
        self.day = day
        self.day0 = int(day.min()) if self.n else 0
        key = (self.subject << 32) | (day - self.day0)
        self.key = key
        change = np.empty(self.n, dtype=bool)
        if self.n:
            change[0] = True
            np.not_equal(key[1:], key[:-1], out=change[1:])
        self.starts = np.flatnonzero(change)
        self.ends = np.append(self.starts[1:], self.n)
        self.gkey = key[self.starts]
        self.gsubject = self.subject[self.starts]
        self.gday = day[self.starts]
        self._lo: dict[int, np.ndarray] = {}
        self._masks: dict[Filter, np.ndarray] = {}
        self._values: dict[tuple, np.ndarray] = {}
        self._size = np.abs(frame.amount)
        self._gap: np.ndarray | None = None
        self._pairs: tuple[np.ndarray, np.ndarray] | None = None
        self._row_group: np.ndarray | None = None
        self._fwd: dict[int, np.ndarray] = {}

    @property
    def size(self) -> int:
        return int(self.starts.shape[0])

    def lo(self, window: int) -> np.ndarray:
        """Index of the first evaluation point inside the window ending at each point."""
        found = self._lo.get(window)
        if found is None:
            if window <= 1:
                found = np.arange(self.size)
            else:
                found = np.searchsorted(self.gkey, self.gkey - (window - 1), side="left")
            self._lo[window] = found
        return found

    def row_group(self) -> np.ndarray:
        """The evaluation point (subject, day) of every row."""
        if self._row_group is None:
            self._row_group = np.repeat(np.arange(self.size), self.ends - self.starts)
        return self._row_group

    def fwd(self, window: int) -> np.ndarray:
        """Index of the first evaluation point at least ``window`` days after each point."""
        found = self._fwd.get(window)
        if found is None:
            found = np.searchsorted(self.gkey, self.gkey + window, side="left")
            self._fwd[window] = found
        return found

    def mask(self, flt: Filter) -> np.ndarray:
        found = self._masks.get(flt)
        if found is None:
            found = flt.mask(self.frame)
            self._masks[flt] = found
        return found

    # -- window aggregates -----------------------------------------------------------------
    def window_sum(self, x: np.ndarray, window: int) -> np.ndarray:
        if self.n == 0:
            return np.zeros(0)
        per_day = np.add.reduceat(x, self.starts)
        if window <= 1:
            return per_day
        acc = np.empty(per_day.shape[0] + 1)
        acc[0] = 0.0
        np.cumsum(per_day, out=acc[1:])
        return acc[1:] - acc[self.lo(window)]

    def window_max(self, x: np.ndarray, window: int) -> np.ndarray:
        if self.n == 0:
            return np.zeros(0)
        per_day = np.maximum.reduceat(x, self.starts)
        if window <= 1:
            return per_day
        lo = self.lo(window)
        hi = np.arange(self.size)
        length = hi - lo + 1
        # sparse table: level k holds the max of 2**k consecutive points
        levels = [per_day]
        span = 1
        while span * 2 <= int(length.max()):
            prev = levels[-1]
            nxt = prev.copy()
            nxt[: prev.shape[0] - span] = np.maximum(prev[: -span or None], prev[span:])
            levels.append(nxt)
            span *= 2
        k = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
        out = np.empty(self.size)
        for level, table in enumerate(levels):
            sel = k == level
            if sel.any():
                s = lo[sel]
                e = hi[sel] - (1 << level) + 1
                out[sel] = np.maximum(table[s], table[e])
        return out

    def _pair_order(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows with a counterparty ordered by (subject, counterparty, day), and their keys."""
        if self._pairs is None:
            frame = self.frame
            rows = np.flatnonzero(frame.counterparty >= 0)
            n_days = np.int64(int(self.day.max()) - self.day0 + 1)
            n_cp = np.int64(frame.n_keys + 1)
            key = (self.subject[rows] * n_cp + frame.counterparty[rows]) * n_days + (
                self.day[rows] - self.day0
            )
            order = np.argsort(key, kind="stable")
            self._pairs = (rows[order], key[order])
        return self._pairs

    def window_distinct(self, m: np.ndarray, window: int) -> np.ndarray:
        rows, key = self._pair_order()
        sel = m[rows]
        if not sel.any():
            return np.zeros(self.size)
        rows, key = rows[sel], key[sel]
        first = np.r_[True, key[1:] != key[:-1]]  # one per (subject, counterparty, day)
        rows, key = rows[first], key[first]
        n_days = np.int64(int(self.day.max()) - self.day0 + 1)
        pair = key // n_days
        day = key - pair * n_days
        subj = self.subject[rows]
        same_next = np.zeros(key.shape[0], dtype=bool)
        same_next[:-1] = pair[1:] == pair[:-1]
        next_day = np.where(same_next, np.append(day[1:], 0), day + window)
        until = np.minimum(next_day, day + window)
        # each (subject, counterparty, day) counts on the subject's evaluation points from
        # that day until the counterparty is seen again or drops out of the window
        del subj, until
        group = self.row_group()
        lo = group[rows]
        fwd = self.fwd(window)[lo]
        nxt = np.append(lo[1:], 0)
        hi = np.where(same_next & (next_day < day + window), nxt, fwd)
        diff = np.bincount(lo, minlength=self.size + 1) - np.bincount(hi, minlength=self.size + 1)
        return np.cumsum(diff[: self.size]).astype(np.float64)

    def pair_counts(self, m: np.ndarray, window: int) -> np.ndarray:
        """Per matching transaction: the subject's matching transactions with the same
        counterparty in the ``window`` days up to and including its day."""
        out = np.zeros(self.n)
        rows, key = self._pair_order()
        sel = m[rows]
        if not sel.any():
            return out
        rows, key = rows[sel], key[sel]
        n_days = np.int64(int(self.day.max()) - self.day0 + 1)
        pair = key // n_days
        day = key - pair * n_days
        lo = np.searchsorted(key, pair * n_days + np.maximum(day - (window - 1), 0), "left")
        # end of each run of equal keys (the same pair and day): the key is sorted
        last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
        hi = np.repeat(last + 1, np.diff(np.r_[-1, last]))
        out[rows] = hi - lo
        return out

    # -- per-transaction values ------------------------------------------------------------
    def gap(self) -> np.ndarray:
        """Days since the subject's previous transaction (0 for its first in the frame)."""
        if self._gap is None:
            gap = np.zeros(self.n)
            if self.n > 1:
                same = self.subject[1:] == self.subject[:-1]
                gap[1:] = np.where(same, self.day[1:] - self.day[:-1], 0)
            self._gap = gap
        return self._gap

    def zscore(
        self, m: np.ndarray, min_history: int, floor_ratio: float, two_sided: bool = False
    ) -> np.ndarray:
        """z of each matching amount against the subject's earlier matching amounts."""
        out = np.zeros(self.n)
        idx = np.flatnonzero(m)
        if idx.shape[0] == 0:
            return out
        x = self._size[idx]
        subj = self.subject[idx]
        first = np.ones(idx.shape[0], dtype=bool)
        first[1:] = subj[1:] != subj[:-1]
        start = np.maximum.accumulate(np.where(first, np.arange(idx.shape[0]), 0))
        s1 = np.cumsum(x) - x
        s2 = np.cumsum(x * x) - x * x
        base1 = s1[start]
        base2 = s2[start]
        prev_n = np.arange(idx.shape[0]) - start
        p1 = s1 - base1
        p2 = s2 - base2
        n_safe = np.maximum(prev_n, 1)
        mean = p1 / n_safe
        var = np.where(prev_n > 1, (p2 - p1 * mean) / np.maximum(prev_n - 1, 1), 0.0)
        std = np.sqrt(np.maximum(var, 0.0))
        std = np.maximum(std, floor_ratio * mean)
        z = np.where((prev_n >= min_history) & (std > 0), (x - mean) / np.where(std > 0, std, 1), 0)
        if two_sided:
            z = np.abs(z)
        out[idx] = z
        return out

    def rule_values(self, rule: Rule) -> np.ndarray:
        """The rule's measure at every evaluation point."""
        sig = (
            rule.measure,
            rule.flt,
            rule.den,
            rule.window,
            rule.min_den,
            tuple(rule.params.items()),
        )
        found = self._values.get(sig)
        if found is not None:
            return found
        m = self.mask(rule.flt)
        w = rule.window
        measure = rule.measure
        if measure == "count":
            val = self.window_sum(m.astype(np.float64), w)
        elif measure == "sum":
            val = self.window_sum(np.where(m, self._size, 0.0), w)
        elif measure == "max":
            val = self.window_max(np.where(m, self._size, 0.0), w)
        elif measure == "avg":
            total = self.window_sum(np.where(m, self._size, 0.0), w)
            count = self.window_sum(m.astype(np.float64), w)
            val = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        elif measure == "distinct_counterparties":
            val = self.window_distinct(m, w)
        elif measure == "ratio":
            num = self.window_sum(np.where(m, self._size, 0.0), w)
            den_mask = self.mask(rule.den) if rule.den is not None else np.ones(self.n, bool)
            den = self.window_sum(np.where(den_mask, self._size, 0.0), w)
            floor = max(rule.min_den, 1e-9)
            val = np.where(den >= floor, num / np.maximum(den, floor), 0.0)
        elif measure == "zscore":
            z = self.zscore(
                m,
                int(rule.params.get("min_history", 5)),
                float(rule.params.get("std_floor_ratio", 0.1)),
                bool(rule.params.get("two_sided", 0)),
            )
            val = self.window_max(np.where(m, z, 0.0), w)
        elif measure == "gap_days":
            val = self.window_max(np.where(m, self.gap(), 0.0), w)
        elif measure == "pair_count":
            val = self.window_max(self.pair_counts(m, w), w)
        else:
            from .cycles import graph_values

            per_tx = graph_values(self.frame, rule)
            val = self.window_sum(np.where(m, per_tx, 0.0), w)
        self._values[sig] = val
        return val


def _subject_codes(frame: TxFrame, subject: str) -> tuple[TxFrame, np.ndarray, np.ndarray]:
    if subject == "customer" and frame.owner is not None and frame.owner_keys is not None:
        order = np.lexsort((frame.tx_id, frame.ts, frame.owner))
        ordered = frame.take(order)
        return ordered, ordered.owner, frame.owner_keys
    ordered = frame.sorted_by_account()
    return ordered, ordered.account, frame.keys


def evaluate(
    frame: TxFrame,
    scenarios: list[dict] | list[CompiledScenario] | None = None,
    *,
    with_scores: bool = True,
    workers: int | None = None,
) -> BatchResult:
    """Run scenarios over the frame: detections, graded scores per subject, timings."""
    started = time.perf_counter()
    compiled = [s for s in _compiled(scenarios) if s.mode != "streaming"]
    detections: list[Detection] = []
    scores: dict[str, float] = {}
    per_scenario: dict[str, dict[str, float]] = {}
    prepared: dict[str, tuple[TxFrame, _Points, np.ndarray]] = {}
    if len(frame):
        for scenario in compiled:
            if scenario.subject not in prepared:
                ordered, subject, names = _subject_codes(frame, scenario.subject)
                prepared[scenario.subject] = (ordered, _Points(ordered, subject), names)

    def run(scenario: CompiledScenario) -> tuple[Any, float]:
        t0 = time.perf_counter()
        if not len(frame):
            return None, 0.0
        ordered, points, names = prepared[scenario.subject]
        return _evaluate_scenario(scenario, ordered, points, names), time.perf_counter() - t0

    # ``workers`` > 1 runs the scenarios in threads (numpy releases the GIL in its kernels;
    # they share the cached window aggregates of their subject). Off by default: on a
    # loaded two-core machine it measured no faster than one thread.
    workers = max(1, min(workers or 1, os.cpu_count() or 1, len(compiled) or 1))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(run, compiled))
    else:
        outcomes = [run(scenario) for scenario in compiled]
    for scenario, (outcome, seconds) in zip(compiled, outcomes, strict=True):
        if outcome is None:
            per_scenario[scenario.code] = {"fired": 0, "seconds": 0.0}
            continue
        ordered, _points, names = prepared[scenario.subject]
        found, best_score, best_subject = outcome
        detections.extend(found)
        if with_scores:
            prefix = (
                "party:" if scenario.subject == "customer" and ordered.owner is not None else ""
            )
            surprisal = tail_surprisal(best_score)
            for code, value in zip(best_subject.tolist(), surprisal.tolist(), strict=True):
                key = prefix + str(names[code])
                if value > scores.get(key, 0.0) or key not in scores:
                    scores[key] = value
        per_scenario[scenario.code] = {"fired": len(found), "seconds": round(seconds, 4)}
    return BatchResult(
        detections=detections,
        scores=scores,
        per_scenario=per_scenario,
        transactions=len(frame),
        seconds=time.perf_counter() - started,
    )


def tail_surprisal(score: np.ndarray) -> np.ndarray:
    """-log10 of the share of subjects scoring at least as high (0 for a score of 0)."""
    n = score.shape[0]
    if not n:
        return np.zeros(0)
    ordered = np.sort(score)
    at_least = n - np.searchsorted(ordered, score, "left")
    out = -np.log10(at_least / n)
    out[score <= 0] = 0.0
    return np.maximum(out, 0.0)


def _compiled(scenarios: Any) -> list[CompiledScenario]:
    if scenarios and isinstance(scenarios[0], CompiledScenario):
        return list(scenarios)
    return compile_scenarios(scenarios)


def _evaluate_scenario(
    scenario: CompiledScenario, frame: TxFrame, points: _Points, names: np.ndarray
) -> tuple[list[Detection], np.ndarray, np.ndarray]:
    total = scenario.total_weight
    score = np.zeros(points.size)
    required_ok = np.ones(points.size, dtype=bool)
    any_fired = np.zeros(points.size, dtype=bool)
    values: list[np.ndarray] = []
    fires: list[np.ndarray] = []
    for rule in scenario.rules:
        value = points.rule_values(rule)
        fired = rule.fired(value)
        values.append(value)
        fires.append(fired)
        score += rule.weight * rule.strength(value, fired)
        any_fired |= fired
        if rule.required:
            required_ok &= fired
    score *= 100.0 / total
    score = np.minimum(score, 100.0)
    alert = required_ok & any_fired & (score >= scenario.threshold - 1e-9)
    # best score per subject (for ranking), and the best alerting point per subject
    gsub = points.gsubject
    bounds = np.flatnonzero(np.r_[True, gsub[1:] != gsub[:-1]])
    best_score = np.maximum.reduceat(score, bounds)
    best_subject = gsub[bounds]
    detections: list[Detection] = []
    if alert.any():
        hits = np.flatnonzero(alert)
        # highest score per subject, latest point on a tie
        order = np.lexsort((hits, score[hits], gsub[hits]))
        hits = hits[order]
        last = np.ones(hits.shape[0], dtype=bool)
        last[:-1] = gsub[hits[1:]] != gsub[hits[:-1]]
        union = np.zeros(points.n, dtype=bool)
        for rule in scenario.rules:
            union |= points.mask(rule.flt)
        window = scenario.max_window
        lo = points.lo(window)
        prefix = "party:" if scenario.subject == "customer" and frame.owner is not None else ""
        for e in hits[last].tolist():
            row_lo = int(points.starts[lo[e]])
            row_hi = int(points.ends[e])
            rows = np.flatnonzero(union[row_lo:row_hi]) + row_lo
            if rows.shape[0] > EVIDENCE_TRANSACTIONS:
                rows = rows[-EVIDENCE_TRANSACTIONS:]
            cps = frame.counterparty[rows]
            seen: list[str] = []
            for cp in cps[cps >= 0].tolist():
                name = str(frame.keys[cp])
                if name not in seen:
                    seen.append(name)
                    if len(seen) >= EVIDENCE_COUNTERPARTIES:
                        break
            detections.append(
                Detection(
                    scenario=scenario.code,
                    account_key=prefix + str(names[int(gsub[e])]),
                    score=round(float(score[e]), 2),
                    rules=[
                        {
                            "code": rule.code,
                            "value": round(float(values[i][e]), 4),
                            "threshold": rule.threshold_repr,
                            "fired": bool(fires[i][e]),
                        }
                        for i, rule in enumerate(scenario.rules)
                    ],
                    transaction_ids=[int(t) for t in frame.tx_id[rows].tolist()],
                    counterparties=seen,
                    window=(day_iso(int(points.gday[lo[e]])), day_iso(int(points.gday[e]))),
                )
            )
    return detections, best_score, best_subject


def run_batch(frame: TxFrame, scenarios: list[dict] | None = None) -> list[Detection]:
    """Detections of the scenarios (default: the shipped ones) over the frame."""
    return evaluate(frame, scenarios, with_scores=False).detections


def account_scores(frame: TxFrame, scenarios: list[dict] | None = None) -> dict[str, float]:
    """Graded score of every account: the sum of its scenario scores, alerting or not."""
    return evaluate(frame, scenarios).scores
