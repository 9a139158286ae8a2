"""Compiled scenarios: the one rule definition both the batch and the streaming modes run.

A scenario row (``{"code", "spec", ...}``, as stored in compliance.Scenario) is validated
and compiled once; the batch evaluator turns each rule's filter into a numpy mask and the
streaming evaluator into a per-transaction predicate, and both score with the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError

from .frame import CHANNEL_CODE, CHANNELS, KIND_CODE, KINDS, TxFrame
from .spec import BATCH_ONLY_MEASURES, validate_spec

PARTIAL_CREDIT = 0.5


@dataclass(frozen=True)
class Filter:
    """Which transactions a rule looks at."""

    direction: int = 0  # +1 credit, -1 debit, 0 any
    kinds: frozenset[str] | None = None
    channels: frozenset[str] | None = None
    currencies: frozenset[str] | None = None
    countries: frozenset[str] | None = None
    exclude_countries: frozenset[str] | None = None
    flagged: bool | None = None
    internal: bool | None = None
    min_amount: float = 0.0
    max_amount: float | None = None
    round_to: float | None = None

    @classmethod
    def of(cls, spec: Mapping[str, Any] | None) -> Filter:
        spec = spec or {}

        def upper_set(name: str) -> frozenset[str] | None:
            if name not in spec:
                return None
            return frozenset(str(v).upper() for v in spec[name])

        direction = {"credit": 1, "debit": -1}.get(spec.get("direction", "any"), 0)
        return cls(
            direction=direction,
            kinds=frozenset(spec["kinds"]) if "kinds" in spec else None,
            channels=frozenset(spec["channels"]) if "channels" in spec else None,
            currencies=upper_set("currencies"),
            countries=upper_set("countries"),
            exclude_countries=upper_set("exclude_countries"),
            flagged=spec.get("flagged"),
            internal=spec.get("internal"),
            min_amount=float(spec.get("min_amount", 0.0)),
            max_amount=float(spec["max_amount"]) if "max_amount" in spec else None,
            round_to=float(spec["round_to"]) if spec.get("round_to") else None,
        )

    # -- batch -----------------------------------------------------------------------------
    def mask(self, frame: TxFrame) -> np.ndarray:
        """The rows of ``frame`` that pass."""
        n = len(frame)
        ok = np.ones(n, dtype=bool)
        if self.direction:
            ok &= frame.direction == self.direction
        if self.kinds is not None:
            table = np.array([k in self.kinds for k in KINDS], dtype=bool)
            ok &= table[frame.kind]
        if self.channels is not None:
            table = np.array([c in self.channels for c in CHANNELS], dtype=bool)
            ok &= table[frame.channel]
        if self.currencies is not None:
            table = np.array([str(c) in self.currencies for c in frame.currencies], dtype=bool)
            ok &= table[frame.currency]
        if self.countries is not None:
            table = np.array([str(c) in self.countries for c in frame.countries], dtype=bool)
            ok &= table[frame.country]
        if self.exclude_countries is not None:
            table = np.array([str(c) in self.exclude_countries for c in frame.countries])
            ok &= ~table[frame.country]
        if self.flagged is not None or self.internal is not None:
            cp = frame.counterparty
            known = cp >= 0
            safe = np.maximum(cp, 0)
            if self.flagged is not None:
                ok &= (frame.flagged[safe] & known) == self.flagged
            if self.internal is not None:
                ok &= (frame.internal[safe] & known) == self.internal
        if self.min_amount or self.max_amount is not None:
            size = np.abs(frame.amount)
            if self.min_amount:
                ok &= size >= self.min_amount
            if self.max_amount is not None:
                ok &= size < self.max_amount
        if self.round_to:
            ok &= np.isclose(np.fmod(frame.amount_orig, self.round_to), 0.0) & (
                frame.amount_orig > 0
            )
        return ok

    # -- streaming -------------------------------------------------------------------------
    def matches(self, tx: StreamTx) -> bool:
        """Whether one transaction passes (the streaming path; same logic as :meth:`mask`)."""
        if self.direction and tx.direction != self.direction:
            return False
        if self.kinds is not None and tx.kind not in self.kinds:
            return False
        if self.channels is not None and tx.channel not in self.channels:
            return False
        if self.currencies is not None and tx.currency not in self.currencies:
            return False
        if self.countries is not None and tx.country not in self.countries:
            return False
        if self.exclude_countries is not None and tx.country in self.exclude_countries:
            return False
        if self.flagged is not None and tx.flagged != self.flagged:
            return False
        if self.internal is not None and tx.internal != self.internal:
            return False
        size = tx.size
        if size < self.min_amount:
            return False
        if self.max_amount is not None and size >= self.max_amount:
            return False
        if self.round_to:
            if tx.amount_orig <= 0:
                return False
            rest = tx.amount_orig % self.round_to
            # np.isclose's tolerances (rtol 1e-5, atol 1e-8), without its per-call overhead
            if not (abs(rest) <= 1e-8 or abs(rest - self.round_to) <= 1e-8 + 1e-5 * self.round_to):
                return False
        return True


@dataclass(slots=True)
class StreamTx:
    """One transaction as the streaming evaluator sees it (plain Python values)."""

    tx_id: int
    account: str
    counterparty: str
    day: int
    size: float  # |amount| in base currency
    amount_orig: float
    direction: int
    kind: str
    channel: str
    country: str
    currency: str
    flagged: bool
    internal: bool


@dataclass
class Rule:
    code: str
    measure: str
    flt: Filter
    window: int
    op: str
    low: float
    high: float
    weight: float
    required: bool
    den: Filter | None = None
    min_den: float = 0.0
    params: dict[str, float] = field(default_factory=dict)
    threshold_repr: Any = None

    def fired(self, value: np.ndarray) -> np.ndarray:
        if self.op == ">=":
            return value >= self.low
        if self.op == ">":
            return value > self.low
        if self.op == "<=":
            return value <= self.low
        if self.op == "<":
            return value < self.low
        return (value >= self.low) & (value <= self.high)

    def fired_one(self, value: float) -> bool:
        op = self.op
        if op == ">=":
            return value >= self.low
        if op == ">":
            return value > self.low
        if op == "<=":
            return value <= self.low
        if op == "<":
            return value < self.low
        return self.low <= value <= self.high

    def strength(self, value: np.ndarray, fired: np.ndarray) -> np.ndarray:
        """1 when fired; partial credit for a near miss of a lower bound."""
        if self.op in (">=", ">") and self.low > 0:
            partial = PARTIAL_CREDIT * np.clip(value / self.low, 0.0, 1.0)
            return np.where(fired, 1.0, partial)
        return fired.astype(np.float64)

    def strength_one(self, value: float, fired: bool) -> float:
        if fired:
            return 1.0
        if self.op in (">=", ">") and self.low > 0:
            return PARTIAL_CREDIT * min(max(value / self.low, 0.0), 1.0)
        return 0.0


@dataclass
class CompiledScenario:
    code: str
    name: str
    typology: str
    subject: str
    threshold: float
    rules: list[Rule]
    mode: str = "both"
    evidence_days: int = 0
    spec: dict = field(default_factory=dict)

    @property
    def total_weight(self) -> float:
        return sum(r.weight for r in self.rules) or 1.0

    @property
    def is_graph(self) -> bool:
        return any(r.measure in BATCH_ONLY_MEASURES for r in self.rules)

    @property
    def max_window(self) -> int:
        return max([r.window for r in self.rules] + [self.evidence_days or 1])


def compile_rule(spec: Mapping[str, Any]) -> Rule:
    op = spec.get("op", ">=")
    threshold = spec["threshold"]
    if op == "between":
        low, high = float(threshold[0]), float(threshold[1])
    else:
        low = high = float(threshold)
    return Rule(
        code=str(spec["code"]),
        measure=str(spec["measure"]),
        flt=Filter.of(spec.get("filter")),
        window=int(spec.get("window_days", 1)),
        op=op,
        low=low,
        high=high,
        weight=float(spec.get("weight", 1)),
        required=bool(spec.get("required", False)),
        den=Filter.of(spec["denominator"]) if "denominator" in spec else None,
        min_den=float(spec.get("min_denominator", 0.0)),
        params={k: float(v) for k, v in (spec.get("params") or {}).items()},
        threshold_repr=threshold,
    )


def compile_scenario(row: Mapping[str, Any]) -> CompiledScenario:
    """Compile one scenario row ``{"code", "spec", "name"?, "typology"?, "mode"?}``."""
    spec = row["spec"]
    errors = validate_spec(spec)
    if errors:
        raise ValidationError({"spec": [f"{row.get('code', '?')}: {e}" for e in errors]})
    return CompiledScenario(
        code=str(row["code"]),
        name=str(row.get("name", row["code"])),
        typology=str(row.get("typology", "")),
        subject=str(spec.get("subject", "account")),
        threshold=float(spec.get("threshold", 100)),
        rules=[compile_rule(r) for r in spec["rules"]],
        mode=str(row.get("mode", "both")),
        evidence_days=int(spec.get("evidence_days", 0)),
        spec=spec,
    )


def compile_scenarios(rows: Iterable[Mapping[str, Any]] | None) -> list[CompiledScenario]:
    if rows is None:
        from .defaults import SCENARIOS

        rows = SCENARIOS
    return [compile_scenario(r) for r in rows if r.get("is_active", True)]


def kind_name(code: int) -> str:
    return KINDS[code]


def channel_name(code: int) -> str:
    return CHANNELS[code]


__all__ = [
    "CHANNEL_CODE",
    "KIND_CODE",
    "CompiledScenario",
    "Filter",
    "Rule",
    "StreamTx",
    "compile_scenario",
    "compile_scenarios",
]
