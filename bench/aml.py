"""AML transaction monitoring: streaming and batch speed, detection on public data sets.

Prints one JSON line with:

* ``streaming``: transactions/s through StreamingMonitor.process with the shipped streaming
  scenarios (``active_rules``), per-transaction latency inside process() (p50/p99 ms), and
  the same with persisted state in the real AccountMonitorState table of a fresh test
  database (SQLite file, or PostgreSQL with BANKCRM_DATABASE_URL), one banking Account row
  per account: per chunk of ``--chunk`` transactions StreamingMonitor.load_state, process,
  save_state (one bulk upsert). ``with_persistence_*``: the states are dropped from memory
  between chunks (every chunk loads its accounts); ``warm_with_persistence_*``: the states
  seen stay in memory, only new accounts are loaded, every chunk is still written.
  ``*_p99_ms`` is the evaluation time of one transaction inside process();
  ``*_p99_ms_incl_io_share`` adds to it its share of its chunk's load and save time;
  ``max_chunk_io_ms`` is the longest load + save of one chunk;
* ``batch``: run_batch over a synthetic book of 1M+ bookings and over the AMLSim frames
  (transactions/s excluding load time; the load/generation time is given beside it);
* ``amlsim``: per sample, the account-level ROC AUC of the alert score (BatchResult.scores:
  each scenario's graded score calibrated on the book as a tail share, the largest
  -log10 share over the scenarios; no labels, no fitted weights) against ``isFraud``, and
  the single fan-in rule baseline measured in the same run;
* ``ibm``: the IBM HI-Small laundering attempts mixed into synthetic everyday traffic (the
  laundering accounts get everyday traffic too): per typology the share of attempts with at
  least one account alerted, and the share of everyday accounts alerted (false positives);
* ``cycles``: seconds of the time-respecting cycle search over a 1M-booking sample.

Medians over ``--runs`` runs where timed. ``python bench/aml.py [--runs 3] [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged)."""
    from scipy.stats import rankdata

    pos = labels == 1
    n_pos = int(pos.sum())
    n_neg = labels.shape[0] - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


FAN_IN_BASELINE = {
    "code": "fan_in_baseline",
    "spec": {
        "threshold": 100,
        "rules": [
            {
                "code": "distinct_payers_7d",
                "measure": "distinct_counterparties",
                "filter": {"direction": "credit"},
                "window_days": 7,
                "op": ">=",
                "threshold": 5,
            }
        ],
    },
}


def alert_scores(frame, scenarios=None) -> dict[str, float]:
    """Per account: the alert score (BatchResult.scores, what ``bankcrm aml scores``
    writes)."""
    from bankcrm.compliance.aml.batch import evaluate

    return evaluate(frame, scenarios).scores


def bench_amlsim(data: Path, runs: int) -> tuple[dict, dict]:
    from bankcrm.compliance.aml.batch import evaluate
    from bankcrm.compliance.aml.datasets import read_amlsim

    out = {}
    speed = {}
    for folder in sorted((data / "aml-amlsim-ibm-samples").glob("*/")):
        if not (folder / "transactions.csv.gz").exists():
            continue
        t0 = time.perf_counter()
        frame, labels = read_amlsim(folder)
        load = time.perf_counter() - t0
        keys = list(labels)
        y = np.array([labels[k] for k in keys])
        scores = alert_scores(frame)
        base = evaluate(frame, [FAN_IN_BASELINE]).scores
        detections = evaluate(frame).detections
        flagged = {d.account_key for d in detections}
        hit = np.array([k in flagged for k in keys])
        times = []
        for _ in range(runs):
            frame.meta.pop("_graph_cache", None)
            frame.meta.pop("_edges", None)
            t0 = time.perf_counter()
            evaluate(frame, with_scores=False)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        out[folder.name] = {
            "accounts": len(keys),
            "bookings": len(frame),
            "roc_auc": round(_auc(y, np.array([scores.get(k, 0.0) for k in keys])), 4),
            "fan_in_baseline_auc": round(_auc(y, np.array([base.get(k, 0.0) for k in keys])), 4),
            "alerted_fraud_share": round(float(hit[y == 1].mean()), 3),
            "alerted_normal_share": round(float(hit[y == 0].mean()), 3),
        }
        speed[folder.name] = {
            "bookings": len(frame),
            "tx_per_s": round(len(frame) / med),
            "seconds": round(med, 3),
            "load_seconds": round(load, 3),
        }
    return out, speed


def bench_ibm(data: Path) -> dict:
    from bankcrm.compliance.aml.batch import evaluate
    from bankcrm.compliance.aml.datasets import IBM_TYPOLOGIES, read_ibm
    from bankcrm.compliance.aml.frame import TxFrame
    from bankcrm.compliance.aml.synthetic import normal_traffic

    folder = data / "aml-ibm-hi-small-patterns"
    if not folder.exists():
        return {"skipped": "data set absent"}
    laundering, attempts = read_ibm(folder)
    bad = sorted({a for att in attempts for a in att["accounts"]})
    everyday = [f"N{i:06d}" for i in range(20_000)]
    normal = normal_traffic(
        accounts=np.array(bad + everyday, dtype=object),
        payments=300_000,
        start=dt.date(2022, 7, 1),
        days=92,
        seed=11,
    )
    frame = TxFrame.concat([normal, laundering]).sorted_by_account()
    detections = evaluate(frame).detections
    flagged: dict[str, set[str]] = {}
    for d in detections:
        flagged.setdefault(d.account_key, set()).add(d.scenario)
    result = {}
    for typology in IBM_TYPOLOGIES:
        mine = [a for a in attempts if a["typology"] == typology]
        hit = [a for a in mine if any(acc in flagged for acc in a["accounts"])]
        result[typology.lower()] = {
            "attempts": len(mine),
            "detected_share": round(len(hit) / len(mine), 3) if mine else None,
            "detected": bool(hit),
        }
    fp = sum(1 for a in everyday if a in flagged)
    return {
        "typologies": result,
        "bookings": len(frame),
        "everyday_accounts_alerted_share": round(fp / len(everyday), 4),
    }


def synthetic_book(n_payments: int):
    from bankcrm.compliance.aml.synthetic import normal_traffic

    return normal_traffic(
        accounts=[f"A{i:06d}" for i in range(60_000)],
        payments=n_payments,
        start=dt.date(2022, 7, 1),
        days=120,
        seed=3,
    )


def bench_batch(runs: int, n_payments: int) -> tuple[dict, object]:
    from bankcrm.compliance.aml.batch import evaluate

    t0 = time.perf_counter()
    frame = synthetic_book(n_payments)
    gen = time.perf_counter() - t0
    times = []
    cpu = []
    fired = 0
    for _ in range(runs):
        frame.meta.pop("_graph_cache", None)
        frame.meta.pop("_edges", None)
        t0, c0 = time.perf_counter(), time.process_time()
        result = evaluate(frame, with_scores=False)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        fired = len(result.detections)
    med = statistics.median(times)
    return {
        "bookings": len(frame),
        "tx_per_s": round(len(frame) / med),
        # the machine is shared: transactions per second of this process's own CPU time
        "tx_per_cpu_s": round(len(frame) / statistics.median(cpu)),
        "seconds": round(med, 3),
        "generate_seconds": round(gen, 3),
        "detections": fired,
        "per_scenario_seconds": {k: v["seconds"] for k, v in result.per_scenario.items()},
    }, frame


def bench_cycles(frame, runs: int) -> dict:
    from bankcrm.compliance.aml.cycles import find_cycles
    from bankcrm.compliance.aml.defaults import SCENARIOS

    params = next(s for s in SCENARIOS if s["code"] == "cycle")["spec"]["rules"][0]["params"]
    times = []
    for _ in range(runs):
        frame.meta.pop("_edges", None)
        result = find_cycles(
            frame,
            max_length=int(params["max_length"]),
            hop_days=params["hop_days"],
            span_days=params["span_days"],
            decay=params["decay"],
        )
        times.append(result.seconds)
    return {
        "bookings": len(frame),
        "seconds": round(statistics.median(times), 3),
        "cycles_found": len(result.cycles),
        "truncated": result.truncated,
        "max_length": int(params["max_length"]),
    }


def _persisted_run(txs: list, chunk: int, mode: str, prefix: str) -> dict:
    """One pass over ``txs`` persisting per chunk. ``cold``: the states are dropped from
    memory between chunks (every chunk loads its accounts' states from the table); ``warm``:
    the monitor keeps the states it has seen in memory and loads only the others (the
    states are still written to the table after every chunk)."""
    from django.db import transaction

    from bankcrm.compliance.aml.streaming import StreamingMonitor
    from bankcrm.compliance.models import AccountMonitorState

    monitor = StreamingMonitor(measure_latency=True)
    persist = []
    load_s = save_s = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(txs), chunk):
        part = txs[start : start + chunk]
        t1 = time.perf_counter()
        accounts = list({tx.account for tx in part})
        if mode == "cold":
            monitor.states.clear()
        monitor.load_state(accounts)
        t2 = time.perf_counter()
        monitor.process(part)
        t3 = time.perf_counter()
        with transaction.atomic():
            monitor.save_state(accounts)
        t4 = time.perf_counter()
        persist.append((len(part), t2 - t1 + t4 - t3))
        load_s += t2 - t1
        save_s += t4 - t3
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    lat = np.array(monitor.stats.latencies)
    # per booking: its own evaluation time plus its share of its chunk's load and save
    share = np.concatenate([np.full(n, s / n) for n, s in persist])
    total = lat + share
    AccountMonitorState.objects.all().delete()
    return {
        f"{prefix}with_persistence_tx_per_s": round(len(txs) / elapsed),
        f"{prefix}with_persistence_tx_per_cpu_s": round(len(txs) / cpu),
        f"{prefix}with_persistence_p99_ms": round(float(np.percentile(lat, 99)) * 1000, 4),
        f"{prefix}with_persistence_p99_ms_incl_io_share": round(
            float(np.percentile(total, 99)) * 1000, 4
        ),
        f"{prefix}persistence_ms_per_tx": round(sum(s for _, s in persist) / len(txs) * 1000, 4),
        f"{prefix}load_ms_per_tx": round(load_s / len(txs) * 1000, 4),
        f"{prefix}save_ms_per_tx": round(save_s / len(txs) * 1000, 4),
        f"{prefix}max_chunk_io_ms": round(max(s for _, s in persist) * 1000, 1),
    }


def bench_persisted(frame, chunk: int, runs: int = 1) -> dict:
    """Streaming with the state in the real AccountMonitorState table of a fresh test
    database (SQLite file, or PostgreSQL when BANKCRM_DATABASE_URL says so), one banking
    Account row per streamed account. Per chunk of ``chunk`` bookings (in arrival order):
    the chunk's accounts loaded (load_state), the bookings processed, the states written
    back with one bulk upsert (save_state); cold and warm passes, see _persisted_run."""
    import uuid

    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from bankcrm.banking.models import Account
    from bankcrm.compliance.aml.streaming import iter_frame

    sys.path.insert(0, str(ROOT))
    from tests.factories.banking import AccountFactory

    db = settings.DATABASES["default"]
    store_dir = tempfile.mkdtemp(prefix="aml-bench-")
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = os.path.join(store_dir, "bench.sqlite3")
    old = setup_databases(verbosity=0, interactive=False)
    try:
        # the streamed accounts as banking accounts (copies of one factory-made account)
        base = AccountFactory()
        used = np.unique(frame.account)
        ids = {int(i): uuid.uuid5(uuid.NAMESPACE_URL, str(frame.keys[i])) for i in used}
        Account.objects.bulk_create(
            [
                Account(
                    id=ids[i],
                    number=f"6222{n:012d}",
                    number_last4=f"{n % 10000:04d}",
                    product_id=base.product_id,
                    currency=base.currency,
                    opened_on=base.opened_on,
                    branch_id=base.branch_id,
                    owner_id=base.owner_id,
                )
                for n, i in enumerate(ids)
            ],
            batch_size=2000,
        )
        keys = frame.keys.copy()
        for i, u in ids.items():
            keys[i] = str(u)
        frame.keys = keys
        txs = list(iter_frame(frame))
        out = {"with_persistence_db": connection.vendor, "accounts": len(ids), "chunk": chunk}
        out["persistence_runs"] = runs
        for mode in ("cold", "warm"):
            prefix = "" if mode == "cold" else "warm_"
            # the run with the median throughput (the machine is shared)
            results = sorted(
                (_persisted_run(txs, chunk, mode, prefix) for _ in range(runs)),
                key=lambda r: r[f"{prefix}with_persistence_tx_per_s"],
            )
            out.update(results[len(results) // 2])
        return out
    finally:
        teardown_databases(old, verbosity=0)
        shutil.rmtree(store_dir, ignore_errors=True)


def bench_streaming(frame, chunk: int, runs: int = 1) -> dict:
    from bankcrm.compliance.aml.streaming import StreamingMonitor, iter_frame

    txs = list(iter_frame(frame))
    # in memory only
    monitor = StreamingMonitor(measure_latency=True)
    t0, c0 = time.perf_counter(), time.process_time()
    monitor.process(txs)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    lat = np.array(monitor.stats.latencies)
    persisted = bench_persisted(frame, chunk, runs)
    return {
        "bookings": len(txs),
        "active_rules": monitor.active_rules,
        "scenarios": len(monitor.scenarios),
        "tx_per_s": round(len(txs) / elapsed),
        "tx_per_cpu_s": round(len(txs) / cpu),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 4),
        "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 4),
        "max_ms": round(float(lat.max()) * 1000, 3),
        **persisted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--payments", type=int, default=600_000)
    parser.add_argument("--stream", type=int, default=200_000, help="bookings streamed")
    parser.add_argument("--chunk", type=int, default=50_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    data = Path(settings.DATA_DIR)
    started = time.perf_counter()
    batch, book = bench_batch(args.runs, args.payments)
    cycles = bench_cycles(book, args.runs)
    sample = book.sorted_by_time().take(np.arange(min(args.stream, len(book))))
    streaming = bench_streaming(sample, args.chunk, args.runs)
    cycle_sample = data / "aml-amlsim-ibm-samples" / "20K_cycle200"
    if cycle_sample.exists():
        from bankcrm.compliance.aml.datasets import read_amlsim
        from bankcrm.compliance.aml.frame import TxFrame

        mixed = TxFrame.concat([book, read_amlsim(cycle_sample)[0]]).sorted_by_account()
        cycles["with_amlsim_cycle200"] = bench_cycles(mixed, args.runs)
    amlsim, amlsim_speed = bench_amlsim(data, args.runs)
    batch["amlsim"] = amlsim_speed
    ibm = bench_ibm(data)
    print(
        json.dumps(
            {
                "bench": "aml",
                "streaming": streaming,
                "batch": batch,
                "amlsim": amlsim,
                "ibm": ibm,
                "cycles": cycles,
                "cpu_count": os.cpu_count(),
                "load_average": os.getloadavg()[0],
                "seconds": round(time.perf_counter() - started, 1),
            },
            separators=(",", ":"),
        )
    )


if __name__ == "__main__":
    main()
