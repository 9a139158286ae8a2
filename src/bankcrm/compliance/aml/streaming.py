"""Streaming mode: each transaction evaluated as it arrives, with per-account state.

The state of an account is compact and JSON-serialisable (stored in AccountMonitorState):
per distinct rule filter, day buckets ``[count, sum, max, max z-score, max gap]`` for the
last days of the longest window, the last day each counterparty was seen, and the running
mean/variance of the matching amounts (Welford); plus the day of the last booking, the days a
scenario last fired, and the id of the last transaction seen (the watermark: a transaction
at or below it is skipped, so re-processing is idempotent).

The rules are the same compiled rules as the batch mode; a scenario fires at most once per
account and day. Scenarios with graph measures (cycles, scatter-gather) run in batch only.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .batch import Detection
from .frame import CHANNELS, KINDS, SECONDS_PER_DAY, TxFrame, day_iso
from .rules import CompiledScenario, Filter, Rule, StreamTx, compile_scenarios

RECENT_IDS = 20


def _filter_id(flt: Filter) -> str:
    text = json.dumps(
        {k: sorted(v) if isinstance(v, frozenset) else v for k, v in flt.__dict__.items()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:10]


@dataclass
class _Slot:
    """One distinct filter: what state it keeps."""

    fid: str
    flt: Filter
    keep_days: int = 1
    distinct: bool = False
    welford: bool = False
    two_sided: bool = False
    min_history: int = 5
    floor_ratio: float = 0.1


@dataclass
class StreamStats:
    processed: int = 0
    skipped: int = 0
    latencies: list[float] = field(default_factory=list)


class StreamingMonitor:
    """Evaluates the streaming scenarios on each transaction.

    ``process(rows)`` takes a TxFrame (evaluated in time order) or StreamTx objects and
    returns the detections. States live in ``self.states`` (account key → dict); load them
    for the accounts of a batch with :meth:`load_state` and write them back in bulk with
    :meth:`save_state` (AccountMonitorState), or use any store through
    :meth:`export_states` / :meth:`import_states`.
    """

    def __init__(self, scenarios: list[dict] | None = None, *, measure_latency: bool = False):
        compiled = compile_scenarios(scenarios)
        self.scenarios: list[CompiledScenario] = [
            s for s in compiled if not s.is_graph and s.mode in ("both", "streaming")
        ]
        self.slots: dict[Filter, _Slot] = {}
        for scenario in self.scenarios:
            for rule in scenario.rules:
                for flt in (rule.flt, rule.den):
                    if flt is None:
                        continue
                    slot = self.slots.setdefault(flt, _Slot(_filter_id(flt), flt))
                    slot.keep_days = max(slot.keep_days, rule.window)
                    if rule.measure == "distinct_counterparties":
                        slot.distinct = True
                    if rule.measure == "zscore" and flt is rule.flt:
                        slot.welford = True
                        slot.two_sided = bool(rule.params.get("two_sided", 0))
                        slot.min_history = int(rule.params.get("min_history", 5))
                        slot.floor_ratio = float(rule.params.get("std_floor_ratio", 0.1))
        self.slot_list = list(self.slots.values())
        slot_index = {flt: i for i, flt in enumerate(self.slots)}
        value_keys: dict[tuple, int] = {}
        # per scenario: (bitmask of the slots it reads, [(rule, slot, den slot, value key)])
        self.plans: list[tuple[CompiledScenario, int, list[tuple[Rule, _Slot, Any, int]]]] = []
        for scenario in self.scenarios:
            mask = 0
            entries = []
            for rule in scenario.rules:
                mask |= 1 << slot_index[rule.flt]
                den = None
                if rule.den is not None:
                    mask |= 1 << slot_index[rule.den]
                    den = self.slots[rule.den]
                vkey = value_keys.setdefault(
                    (rule.measure, rule.flt, rule.den, rule.window, rule.min_den), len(value_keys)
                )
                entries.append((rule, self.slots[rule.flt], den, vkey))
            self.plans.append((scenario, mask, entries))
        self.slot_bits = [1 << slot_index[s.flt] for s in self.slot_list]
        self.keep_days = max([s.keep_days for s in self.slot_list] + [1])
        self.states: dict[str, dict[str, Any]] = {}
        self.measure_latency = measure_latency
        self._db_keys: dict[str, dict[str, Any]] = {}
        self.stats = StreamStats()

    @property
    def active_rules(self) -> int:
        return sum(len(s.rules) for s in self.scenarios)

    # -- state -----------------------------------------------------------------------------
    def _state(self, account: str) -> dict[str, Any]:
        state = self.states.get(account)
        if state is None:
            state = {"last_day": None, "last_id": 0, "f": {}, "fired": {}, "recent": []}
            self.states[account] = state
        return state

    def export_states(self, accounts: Iterable[str] | None = None) -> dict[str, str]:
        """The states (all, or these accounts') as compact JSON texts."""
        keys = self.states.keys() if accounts is None else accounts
        with _no_gc():
            return {k: _dumps(self.states[k]) for k in keys}

    def import_states(self, rows: dict[str, str | dict]) -> None:
        with _no_gc():
            for key, value in rows.items():
                self.states[key] = _revive(json.loads(value) if isinstance(value, str) else value)

    def state_rows(self, account_ids: Iterable[str] | None = None) -> list[tuple[str, str, int]]:
        """(account key, JSON text, watermark) per state, what :func:`upsert_sql` writes."""
        keys = list(self.states if account_ids is None else account_ids)
        states = self.states
        with _no_gc():
            return [(k, _dumps(states[k]), int(states[k]["last_id"])) for k in keys if k in states]

    def _db_key_of(self, connection: Any) -> Any:
        """Account key → its account_id value in the database (memoised per monitor)."""
        cache = self._db_keys.setdefault(connection.vendor, {})
        convert = _key_adapter(connection)

        def to_db(key: str) -> Any:
            value = cache.get(key)
            if value is None:
                value = cache[key] = convert(key)
            return value

        return to_db

    def load_state(self, account_ids: Iterable[str]) -> int:
        """Load the saved states of these accounts (banking Account pks) from the database."""
        from django.db import connection

        from bankcrm.compliance.models import AccountMonitorState

        wanted = [a for a in set(account_ids) if a not in self.states]
        table = connection.ops.quote_name(AccountMonitorState._meta.db_table)
        to_db = self._db_key_of(connection)
        mark = "%s::uuid" if connection.vendor == "postgresql" else "%s"
        loaded = 0
        with _no_gc(), connection.cursor() as cursor:
            for start in range(0, len(wanted), 900):
                chunk = wanted[start : start + 900]
                values = [to_db(a) for a in chunk]
                db_keys = {str(v): a for v, a in zip(values, chunk, strict=True)}
                marks = ",".join([mark] * len(chunk))
                # the JSON text as stored (no per-row model instances): parsed once below
                column = "state::text" if connection.vendor == "postgresql" else "state"
                cursor.execute(
                    f"SELECT account_id, {column}, last_transaction_id FROM {table} "  # noqa: S608  # nosec B608
                    f"WHERE account_id IN ({marks})",
                    values,
                )
                for account_id, text, last_id in cursor.fetchall():
                    raw = json.loads(text) if isinstance(text, str) else (text or {})
                    state = _revive(dict(raw))
                    state["last_id"] = max(int(state.get("last_id", 0)), int(last_id))
                    self.states[db_keys.get(str(account_id), str(account_id))] = state
                    loaded += 1
        return loaded

    def save_state(self, account_ids: Iterable[str] | None = None) -> int:
        """Write the states (all, or these accounts') to AccountMonitorState with one bulk
        upsert (INSERT ... ON CONFLICT DO UPDATE, in pages of rows)."""
        from django.db import connection, transaction
        from django.utils import timezone

        from bankcrm.compliance.models import AccountMonitorState

        rows = self.state_rows(account_ids)
        if not rows:
            return 0
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        table = AccountMonitorState._meta.db_table
        with _no_gc(), transaction.atomic(), connection.cursor() as cursor:
            upsert_rows(cursor, connection.vendor, table, rows, now, self._db_key_of(connection))
        return len(rows)

    # -- evaluation ------------------------------------------------------------------------
    def process(self, rows: TxFrame | Iterable[StreamTx]) -> list[Detection]:
        """Evaluate each transaction in arrival order (a frame: by transaction id, the
        order a core-banking feed posts them); returns the detections raised."""
        detections: list[Detection] = []
        stream = iter_frame(rows) if isinstance(rows, TxFrame) else rows
        clock = time.perf_counter
        lat = self.stats.latencies
        # The states are plain trees without reference cycles: the cyclic collector would
        # only rescan them again and again while they grow.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for tx in stream:
                if self.measure_latency:
                    t0 = clock()
                    self._process_one(tx, detections)
                    lat.append(clock() - t0)
                else:
                    self._process_one(tx, detections)
        finally:
            if collecting:
                gc.enable()
        return detections

    def _process_one(self, tx: StreamTx, out: list[Detection]) -> None:
        state = self._state(tx.account)
        if tx.tx_id <= state["last_id"]:
            self.stats.skipped += 1
            return
        self.stats.processed += 1
        day = tx.day
        last_day = state["last_day"]
        gap = day - last_day if last_day is not None and day > last_day else 0
        oldest = day - self.keep_days + 1
        fstates = state["f"]
        touched = 0
        for slot, bit in zip(self.slot_list, self.slot_bits, strict=True):
            if not slot.flt.matches(tx):
                continue
            touched |= bit
            fs = fstates.get(slot.fid)
            if fs is None:
                fs = {"b": {}}
                fstates[slot.fid] = fs
            buckets = fs["b"]
            z = 0.0
            if slot.welford:
                w = fs.get("w") or [0, 0.0, 0.0]
                n, mean, m2 = w
                if n >= slot.min_history:
                    var = m2 / (n - 1) if n > 1 else 0.0
                    std = max(math.sqrt(max(var, 0.0)), slot.floor_ratio * mean)
                    if std > 0:
                        z = (tx.size - mean) / std
                        if slot.two_sided:
                            z = abs(z)
                n += 1
                delta = tx.size - mean
                mean += delta / n
                m2 += delta * (tx.size - mean)
                fs["w"] = [n, mean, m2]
            b = buckets.get(day)
            if b is None:
                buckets[day] = [1, tx.size, tx.size, z, gap]
                if len(buckets) > slot.keep_days:
                    for old in [d for d in buckets if d < oldest]:
                        del buckets[old]
            else:
                b[0] += 1
                b[1] += tx.size
                if tx.size > b[2]:
                    b[2] = tx.size
                if z > b[3]:
                    b[3] = z
                if gap > b[4]:
                    b[4] = gap
            if slot.distinct and tx.counterparty:
                seen = fs.setdefault("cp", {})
                if seen.get(tx.counterparty, day) <= day:
                    seen[tx.counterparty] = day
                if len(seen) > 64:
                    for cp in [c for c, d in seen.items() if d < oldest]:
                        del seen[cp]
        state["last_day"] = day if last_day is None or day > last_day else last_day
        state["last_id"] = tx.tx_id
        recent = state["recent"]
        recent.append(tx.tx_id)
        if len(recent) > RECENT_IDS:
            del recent[0]
        fired_days = state["fired"]
        if not touched:
            return
        cache: dict[int, float] = {}
        for scenario, mask, entries in self.plans:
            if not touched & mask or fired_days.get(scenario.code) == day:
                continue
            self._evaluate(scenario, entries, tx, state, day, out, cache)

    def _compute(self, rule: Rule, slot: _Slot, den_slot: Any, fstates: dict, day: int) -> float:
        fs = fstates.get(slot.fid)
        since = day - rule.window + 1
        measure = rule.measure
        if fs is None:
            return 0.0
        if measure == "distinct_counterparties":
            return float(sum(1 for d in fs.get("cp", {}).values() if since <= d <= day))
        buckets = fs["b"]
        if measure == "count":
            return float(sum(b[0] for d, b in buckets.items() if since <= d <= day))
        if measure == "sum":
            return float(sum(b[1] for d, b in buckets.items() if since <= d <= day))
        if measure == "max":
            return float(max((b[2] for d, b in buckets.items() if since <= d <= day), default=0.0))
        if measure == "zscore":
            return float(max((b[3] for d, b in buckets.items() if since <= d <= day), default=0.0))
        if measure == "gap_days":
            return float(max((b[4] for d, b in buckets.items() if since <= d <= day), default=0.0))
        if measure == "avg":
            inside = [b for d, b in buckets.items() if since <= d <= day]
            count = sum(b[0] for b in inside)
            return float(sum(b[1] for b in inside) / count) if count else 0.0
        if measure == "ratio":
            num = sum(b[1] for d, b in buckets.items() if since <= d <= day)
            den_fs = fstates.get(den_slot.fid) if den_slot is not None else None
            den = 0.0
            if den_fs is not None:
                den = sum(b[1] for d, b in den_fs["b"].items() if since <= d <= day)
            floor = max(rule.min_den, 1e-9)
            return float(num / den) if den >= floor else 0.0
        return 0.0

    def _evaluate(
        self,
        scenario: CompiledScenario,
        entries: list,
        tx: StreamTx,
        state: dict,
        day: int,
        out: list[Detection],
        cache: dict,
    ) -> None:
        fstates = state["f"]
        score = 0.0
        any_fired = False
        values = []
        for rule, slot, den_slot, vkey in entries:
            value = cache.get(vkey)
            if value is None:
                value = self._compute(rule, slot, den_slot, fstates, day)
                cache[vkey] = value
            fired = rule.fired_one(value)
            if rule.required and not fired:
                return
            any_fired = any_fired or fired
            score += rule.weight * rule.strength_one(value, fired)
            values.append((rule, value, fired))
        if not any_fired:
            return
        score = min(score * 100.0 / scenario.total_weight, 100.0)
        if score < scenario.threshold - 1e-9:
            return
        state["fired"][scenario.code] = day
        out.append(
            Detection(
                scenario=scenario.code,
                account_key=tx.account,
                score=round(score, 2),
                rules=[
                    {
                        "code": r.code,
                        "value": round(v, 4),
                        "threshold": r.threshold_repr,
                        "fired": f,
                    }
                    for r, v, f in values
                ],
                transaction_ids=list(state["recent"]),
                counterparties=[tx.counterparty] if tx.counterparty else [],
                window=(day_iso(day - scenario.max_window + 1), day_iso(day)),
            )
        )


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The states are plain trees without reference cycles: (de)serialising thousands of
    them would only make the cyclic collector rescan them again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _key_adapter(connection: Any) -> Any:
    """Account key (str) → the value the database holds in account_id. Banking accounts
    have UUID keys: canonical UUID texts are passed as text (PostgreSQL casts them, SQLite
    stores the 32 hex digits) without building a UUID object per row."""
    from django.db import models

    from bankcrm.compliance.models import AccountMonitorState

    field = AccountMonitorState._meta.get_field("account")
    target = field.target_field

    def slow(key: str) -> Any:
        return field.get_db_prep_value(key, connection)

    if not isinstance(target, models.UUIDField):
        return slow
    native = connection.features.has_native_uuid_field

    def fast(key: str) -> Any:
        if len(key) == 36 and key[8] == "-" and key.islower():
            return key if native else key.replace("-", "")
        return slow(key)

    return fast


def upsert_rows(
    cursor: Any, vendor: str, table: str, rows: list, now: Any, to_db: Any = str
) -> None:
    """One bulk upsert of (account, state JSON, watermark) rows into the state table.

    PostgreSQL: one statement per 5,000 rows taking the columns as arrays (unnest), so a
    page is one round trip; elsewhere one prepared statement executed for every row."""
    head = f'INSERT INTO "{table}" (account_id, state, last_transaction_id, updated_at) '
    tail = (
        " ON CONFLICT (account_id) DO UPDATE SET state = excluded.state, "
        "last_transaction_id = excluded.last_transaction_id, updated_at = excluded.updated_at"
    )
    if vendor == "postgresql":
        for start in range(0, len(rows), 5000):
            part = rows[start : start + 5000]
            # The table name is the model's own (not input); the values are parameters.
            select = "SELECT k, s::jsonb, i, %s FROM unnest(%s::uuid[], %s::text[], %s::bigint[])"
            sql = f"{head}{select} AS t(k, s, i){tail}"  # nosec B608
            cursor.execute(
                sql,
                [
                    now,
                    [to_db(key) for key, _, _ in part],
                    [text for _, text, _ in part],
                    [last_id for _, _, last_id in part],
                ],
            )
        return
    cursor.executemany(
        head + "VALUES (%s, %s, %s, %s)" + tail,
        [(to_db(key), text, last_id, now) for key, text, last_id in rows],
    )


def _revive(state: dict[str, Any]) -> dict[str, Any]:
    """JSON turns the day keys of the buckets into strings: back to ints."""
    for fs in state.get("f", {}).values():
        fs["b"] = {int(k): v for k, v in fs.get("b", {}).items()}
    state.setdefault("last_day", None)
    state.setdefault("last_id", 0)
    state.setdefault("f", {})
    state.setdefault("fired", {})
    state.setdefault("recent", [])
    return state


def iter_frame(frame: TxFrame) -> Iterator[StreamTx]:
    """The frame's transactions in arrival order (transaction id) as StreamTx objects."""
    order = np.argsort(frame.tx_id, kind="stable")
    keys = frame.keys
    countries = frame.countries
    currencies = frame.currencies
    flagged = frame.flagged
    internal = frame.internal
    cols = zip(
        frame.tx_id[order].tolist(),
        frame.account[order].tolist(),
        frame.counterparty[order].tolist(),
        (frame.ts[order] // SECONDS_PER_DAY).tolist(),
        np.abs(frame.amount[order]).tolist(),
        frame.amount_orig[order].tolist(),
        frame.direction[order].tolist(),
        frame.kind[order].tolist(),
        frame.channel[order].tolist(),
        frame.country[order].tolist(),
        frame.currency[order].tolist(),
        strict=True,
    )
    for tx_id, acc, cp, day, size, orig, direction, kind, channel, country, currency in cols:
        yield StreamTx(
            tx_id=tx_id,
            account=str(keys[acc]),
            counterparty=str(keys[cp]) if cp >= 0 else "",
            day=day,
            size=size,
            amount_orig=orig,
            direction=direction,
            kind=KINDS[kind],
            channel=CHANNELS[channel],
            country=str(countries[country]),
            currency=str(currencies[currency]),
            flagged=bool(flagged[cp]) if cp >= 0 else False,
            internal=bool(internal[cp]) if cp >= 0 else False,
        )
