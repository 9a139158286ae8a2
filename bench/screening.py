"""Sanctions and PEP screening: name-matching quality and screening speed.

Quality, on the OpenSanctions name benchmark (``name-matching/nomenklatura-name-bench/
cases.csv``, 826 labelled pairs of person, company and vessel names): ROC AUC of the score,
F1 at the method's alert threshold, and the share of STRONG-labelled pairs decided correctly,
for bankcrm's ``compare_names`` (at ``DEFAULT_THRESHOLD``), nomenklatura's LogicV2 (at its
default threshold 0.7, called as its own ``contrib/name_bench`` does: a single-name entity
pair) and a rapidfuzz ``token_sort_ratio`` baseline (at 0.8) — all measured in this run.
``best_f1`` is each method's F1 at its best threshold on this set (an optimistic bound).

Speed: the OFAC SDN (2024-05-03, with the aliases of the 2021-04 alt file for entries still
listed), UN consolidated and Canada SEMA lists are read with ``sources.parse_list`` and indexed
with ``ScreeningIndex``; a mix of list names (perturbed: typos, reordered, dropped or
initialled parts, case, diacritics) and names not on the lists (random combinations of name
parts from ``rigour-person-name-equivalents``) is screened one by one: names/s and p50/p95
latency over ``--runs`` runs (medians of wall-clock time, and of the process CPU time, since
the machine may be shared: ``load_avg_1m`` says how busy it was), plus for the perturbed list
names the share whose source entry is the top hit (or tied with it: the same person is often
on several lists), among the hits, and at or above the alert threshold; and a rapidfuzz
``process.extract`` full scan over all list names as the baseline (names/s).

Customer-like queries (``customer_queries``): ``--customers`` demo-bank customers
(``integrations.demo_generator``) turned into queries the way ``services_screening.party_query``
does (display name, "given family" and pinyin aliases, date of birth, nationality, gender,
identifiers; organisations by registered name and numbers), screened against the same index:
customers/s, p50/p95, CPU rate (each run a fresh set of customers: a rescreen sees each
customer once), and how many hits and alerts the first set raised.

Prints one JSON line.

    python bench/screening.py [--queries 1000] [--runs 3] [--scan-queries 200] [--seed 7]
        [--customers 2000]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DATA = Path(os.environ.get("BANKCRM_DATA_DIR", ROOT.parent / "shared" / "data"))
CASES = DATA / "name-matching" / "nomenklatura-name-bench" / "cases.csv"
EQUIV = DATA / "name-matching" / "rigour-person-name-equivalents" / "persons.txt.gz"
SANCTIONS = DATA / "sanctions"

SCHEMA_MAP = {
    "Person": "person",
    "Company": "organisation",
    "Organization": "organisation",
    "LegalEntity": "",
    "Vessel": "vessel",
}


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------


def roc_auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a random match scores above a random non-match (ties count half)."""
    pairs = sorted(zip(scores, labels, strict=True))
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2
        rank_sum += avg_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def f1_at(scores: list[float], labels: list[bool], threshold: float) -> float:
    tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= threshold and y)
    fp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= threshold and not y)
    fn = sum(1 for s, y in zip(scores, labels, strict=True) if s < threshold and y)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def quality(rows: list[dict], scores: list[float], threshold: float) -> dict:
    labels = [r["is_match"] == "true" for r in rows]
    strong = [
        (s >= threshold) == y
        for r, s, y in zip(rows, scores, labels, strict=True)
        if (r["quality"] or "").upper() == "STRONG"
    ]
    best = max(f1_at(scores, labels, t / 100) for t in range(30, 100))
    return {
        "auc": round(roc_auc(scores, labels), 4),
        "f1": round(f1_at(scores, labels, threshold), 4),
        "strong_correct": round(sum(strong) / len(strong), 4) if strong else None,
        "threshold": threshold,
        "best_f1": round(best, 4),
    }


# ---------------------------------------------------------------------------------------------
# name benchmark
# ---------------------------------------------------------------------------------------------


def logic_v2_scorer():
    from uuid import uuid4

    from followthemoney import ValueEntity, model
    from nomenklatura.matching.logic_v2.model import LogicV2

    config = LogicV2.default_config()

    def score(name1: str, name2: str, schema: str) -> float:
        schema_obj = model.get(schema)
        if schema_obj is None:
            return 0.0
        qry = ValueEntity(schema_obj, {"id": uuid4().hex})
        qry.add("name", name1)
        cdt = ValueEntity(schema_obj, {"id": uuid4().hex})
        cdt.add("name", name2)
        return float(LogicV2.compare(qry, cdt, config).score)

    return score


def name_bench(failures: int) -> dict:
    from rapidfuzz import fuzz

    from bankcrm.compliance.screening.matcher import DEFAULT_THRESHOLD, compare_names

    with CASES.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict = {"pairs": len(rows)}
    t0 = time.perf_counter()
    ours = [compare_names(r["name1"], r["name2"], SCHEMA_MAP.get(r["schema"], ""))[0] for r in rows]
    t_ours = time.perf_counter() - t0
    out["bankcrm"] = quality(rows, ours, DEFAULT_THRESHOLD)
    out["bankcrm"]["us_per_pair"] = round(t_ours / len(rows) * 1e6, 1)
    try:
        lv2 = logic_v2_scorer()
        t0 = time.perf_counter()
        theirs = [lv2(r["name1"], r["name2"], r["schema"]) for r in rows]
        t_lv2 = time.perf_counter() - t0
        out["logic_v2"] = quality(rows, theirs, 0.7)
        out["logic_v2"]["us_per_pair"] = round(t_lv2 / len(rows) * 1e6, 1)
    except ImportError as exc:  # pragma: no cover - nomenklatura is a bench-only dependency
        out["logic_v2"] = {"error": str(exc)}
    rf = [fuzz.token_sort_ratio(r["name1"].lower(), r["name2"].lower()) / 100 for r in rows]
    out["rapidfuzz_token_sort"] = quality(rows, rf, 0.8)
    if failures:
        wrong = [
            (abs(s - DEFAULT_THRESHOLD), r, s)
            for r, s in zip(rows, ours, strict=True)
            if (s >= DEFAULT_THRESHOLD) != (r["is_match"] == "true")
        ]
        wrong.sort(key=lambda x: -x[0])
        for _d, r, s in wrong[:failures]:
            print(
                f"{r['is_match']:5} {s:.3f} {r['quality'] or 'MEDIUM':6} {r['schema']:12} "
                f"{r['name1']!r} ~ {r['name2']!r} [{r['case_group']}/{r['category']}]",
                file=sys.stderr,
            )
        print(f"# {len(wrong)} wrong", file=sys.stderr)
    return out


# ---------------------------------------------------------------------------------------------
# screening speed
# ---------------------------------------------------------------------------------------------


def load_candidates():
    from bankcrm.compliance.screening.matcher import Candidate
    from bankcrm.compliance.screening.sources import parse_list

    ofac_alt: dict[str, list[str]] = {}
    for rec in parse_list("ofac", SANCTIONS / "ofac-sdn-alt-add-2021-04"):
        ofac_alt[rec["entry_id"]] = [n["name"] for n in rec["names"]]
    sources = [
        ("OFAC", "ofac", SANCTIONS / "ofac-sdn-2024-05-03"),
        ("UN", "un", SANCTIONS / "un-consolidated-2025-04-19" / "consolidated.xml.gz"),
        ("CA", "canada", SANCTIONS / "canada-sema-2025" / "sema.xml.gz"),
    ]
    cands: list[Candidate] = []
    for code, source, path in sources:
        for rec in parse_list(source, path):
            names = [n["name"] for n in rec["names"]]
            if code == "OFAC":
                names += [n for n in ofac_alt.get(rec["entry_id"], ()) if n not in names]
            cands.append(
                Candidate(
                    key=len(cands) + 1,
                    list_code=code,
                    entry_id=rec["entry_id"],
                    schema=rec["schema"] or "unknown",
                    names=tuple(dict.fromkeys(n for n in names if n)),
                    birth_dates=tuple(rec.get("birth_dates") or ()),
                    countries=tuple(rec.get("countries") or ()),
                    identifiers=tuple(i["number"] for i in rec.get("identifiers") or ()),
                    gender=rec.get("gender") or "",
                )
            )
    return cands


def _perturb(name: str, rng: random.Random) -> str:
    parts = name.split()
    op = rng.randrange(6)
    if op == 0 and len(parts) > 1:  # reorder
        parts = parts[1:] + parts[:1]
    elif op == 1:  # one typo in the longest part
        i = max(range(len(parts)), key=lambda k: len(parts[k]))
        w = parts[i]
        if len(w) > 4:
            k = rng.randrange(1, len(w) - 1)
            kind = rng.randrange(3)
            if kind == 0:
                w = w[:k] + w[k + 1 :]
            elif kind == 1:
                w = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
            else:
                w = w[:k] + rng.choice("aeioulnrst") + w[k + 1 :]
        parts[i] = w
    elif op == 2 and len(parts) > 2:  # drop a middle part
        del parts[rng.randrange(1, len(parts) - 1)]
    elif op == 3 and len(parts) > 1:  # initial for the first part
        parts[0] = parts[0][0] + "."
    elif op == 4:
        return name.upper()
    return " ".join(parts).title() if rng.random() < 0.5 else " ".join(parts)


def make_queries(cands, n: int, rng: random.Random):
    from bankcrm.compliance.screening.matcher import Query

    parts: list[str] = []
    with gzip.open(EQUIV, "rt", encoding="utf-8") as fh:
        for line in fh:
            forms = [f.strip() for f in line.split("=>")[0].split(",")]
            latin = [f for f in forms if f.isascii() and f.isalpha() and len(f) > 2]
            if latin:
                parts.append(rng.choice(latin))
    persons = [c for c in cands if c.schema == "person"]
    listed = [c for c in cands if c.names]
    queries = []
    for _ in range(n):
        if rng.random() < 0.5:
            c = rng.choice(persons if rng.random() < 0.8 else listed)
            name = rng.choice(c.names[:3])
            queries.append((Query(name=_perturb(name, rng), schema=""), c.key))
        else:
            k = rng.choice((2, 2, 3))
            name = " ".join(rng.choice(parts).title() for _ in range(k))
            queries.append((Query(name=name, schema="person"), None))
    return queries


def make_customer_queries(n: int, seed: int):
    """Queries built the way ``services_screening.party_query`` builds them for the demo
    bank's customers: a person's display name (the Chinese characters, or "Given Family" for
    a foreigner) with "given family" and the pinyin as aliases, the date of birth, gender,
    nationality and residence, resident id and passport; an organisation's registered name
    with its registration number and USCC."""
    import datetime as dt

    from bankcrm.compliance.screening.matcher import Query
    from bankcrm.integrations.demo_generator import DemoBankPlan, generate_demo_bank

    bank = generate_demo_bank(DemoBankPlan(customers=n, seed=seed, as_of=dt.date(2025, 6, 30)))
    queries = []
    for person in bank.persons:
        display = person.native_name or f"{person.given_name} {person.family_name}"
        aliases: list[str] = []
        full = " ".join(p for p in (person.given_name, person.family_name) if p)
        for alias in (full, person.native_name, person.pinyin):
            if alias and alias != display and alias not in aliases:
                aliases.append(alias)
        countries = [person.nationality.upper()]
        if "CN" not in countries:
            countries.append("CN")  # residence
        queries.append(
            Query(
                name=display,
                aliases=tuple(aliases),
                schema="person",
                birth_date=person.birth_date.isoformat(),
                countries=tuple(countries),
                identifiers=tuple(i for i in (person.resident_id, person.passport) if i),
                gender=person.gender,
            )
        )
    for org in bank.organisations:
        queries.append(
            Query(
                name=org.legal_name,
                schema="organisation",
                countries=("CN",),
                identifiers=(org.registration_number, org.uscc),
            )
        )
    random.Random(seed).shuffle(queries)
    return queries


def customer_bench(index, n: int, runs: int, seed: int) -> dict:
    """Each run screens a fresh set of ``n`` demo customers (seed + run), as a rescreen sees
    every customer once; a warm-up set comes first."""
    from bankcrm.compliance.screening.matcher import DEFAULT_THRESHOLD

    for q in make_customer_queries(100, seed + 1000):  # warm-up
        index.search(q)
    rates, p50s, p95s, cpu_rates, cpu_p95s = [], [], [], [], []
    hits = alerts = with_hits = persons = query_names = 0
    for run in range(runs):
        queries = make_customer_queries(n, seed + run)
        lat, cpu = [], []
        t_all = time.perf_counter()
        c_all = time.process_time()
        for q in queries:
            t = time.perf_counter()
            c = time.process_time()
            res = index.search(q)
            cpu.append(time.process_time() - c)
            lat.append(time.perf_counter() - t)
            if run == 0:
                hits += len(res)
                alerts += sum(1 for m in res if m.score >= DEFAULT_THRESHOLD)
                with_hits += bool(res)
        total = time.perf_counter() - t_all
        cpu_total = time.process_time() - c_all
        if run == 0:
            persons = sum(1 for q in queries if q.schema == "person")
            query_names = sum(1 + len(q.aliases) for q in queries)
        lat.sort()
        cpu.sort()
        rates.append(len(queries) / total)
        cpu_rates.append(len(queries) / max(cpu_total, 1e-9))
        p50s.append(lat[len(lat) // 2] * 1000)
        p95s.append(lat[int(len(lat) * 0.95)] * 1000)
        cpu_p95s.append(cpu[int(len(cpu) * 0.95)] * 1000)
    return {
        "customers": n,
        "persons": persons,
        "query_names": query_names,
        "names_per_s": round(statistics.median(rates), 1),
        "p50_ms": round(statistics.median(p50s), 3),
        "p95_ms": round(statistics.median(p95s), 3),
        "cpu_names_per_s": round(statistics.median(cpu_rates), 1),
        "cpu_p95_ms": round(statistics.median(cpu_p95s), 3),
        "hits": hits,
        "alerts": alerts,
        "customers_with_hits": with_hits,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def forget_results(index) -> None:
    """Drop what the matcher and the index keep of names already screened (the compared name
    pairs, the postings of query words), so that a run repeating the previous run's queries
    is timed as their first screening; word normalisation and token similarities stay cached
    as they always were."""
    from bankcrm.compliance.screening import matcher

    compare = getattr(matcher, "_compare_tokens", None)
    if compare is not None:
        compare.cache_clear()
    postings = getattr(index, "_postings_cache", None)
    if postings is not None:
        postings.clear()


def speed_bench(queries_n: int, runs: int, scan_n: int, seed: int, customers_n: int = 0) -> dict:
    from rapidfuzz import fuzz, process, utils

    from bankcrm.compliance.screening.index import ScreeningIndex

    t0 = time.perf_counter()
    cands = load_candidates()
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = ScreeningIndex(cands)
    t_build = time.perf_counter() - t0
    n_names = sum(len(c.names) for c in cands)
    rng = random.Random(seed)
    queries = make_queries(cands, queries_n, rng)
    for q, _k in queries[:50]:  # warm-up
        index.search(q)
    from bankcrm.compliance.screening.matcher import DEFAULT_THRESHOLD

    rates, p50s, p95s, cpu_rates, cpu_p95s = [], [], [], [], []
    top1 = in_hits = alerted = listed_n = 0
    for run in range(runs):
        forget_results(index)  # every run screens the same names: none is known beforehand
        lat, cpu = [], []
        t_all = time.perf_counter()
        c_all = time.process_time()
        for q, key in queries:
            t = time.perf_counter()
            c = time.process_time()
            res = index.search(q)
            cpu.append(time.process_time() - c)
            lat.append(time.perf_counter() - t)
            if run == 0 and key is not None:
                listed_n += 1
                keys = [m.candidate.key for m in res]
                top1 += bool(res) and (
                    keys[0] == key
                    or res[0].score == next((m.score for m in res if m.candidate.key == key), -1)
                )
                in_hits += key in keys
                alerted += any(m.candidate.key == key and m.score >= DEFAULT_THRESHOLD for m in res)
        total = time.perf_counter() - t_all
        cpu_total = time.process_time() - c_all
        lat.sort()
        cpu.sort()
        rates.append(len(queries) / total)
        cpu_rates.append(len(queries) / cpu_total)
        p50s.append(lat[len(lat) // 2] * 1000)
        p95s.append(lat[int(len(lat) * 0.95)] * 1000)
        cpu_p95s.append(cpu[int(len(cpu) * 0.95)] * 1000)
    # full-scan baseline: every list name compared to each query in C (rapidfuzz)
    choices = [utils.default_process(n) for c in cands for n in c.names]
    scan_q = [utils.default_process(q.name) for q, _k in queries[:scan_n]]
    t0 = time.perf_counter()
    for q in scan_q:
        process.extract(q, choices, scorer=fuzz.token_sort_ratio, limit=20, processor=None)
    t_scan = time.perf_counter() - t0
    rate = statistics.median(rates)
    customers = customer_bench(index, customers_n, runs, seed) if customers_n else None
    return {
        "entries": len(cands),
        "names": n_names,
        "parse_s": round(t_parse, 2),
        "build_s": round(t_build, 2),
        "queries": len(queries),
        "names_per_s": round(statistics.median(rates), 1),
        "p50_ms": round(statistics.median(p50s), 3),
        "p95_ms": round(statistics.median(p95s), 3),
        "cpu_names_per_s": round(statistics.median(cpu_rates), 1),
        "cpu_p95_ms": round(statistics.median(cpu_p95s), 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "listed_queries": listed_n,
        "listed_top1": round(top1 / listed_n, 4) if listed_n else None,
        "listed_in_hits": round(in_hits / listed_n, 4) if listed_n else None,
        "listed_alerted": round(alerted / listed_n, 4) if listed_n else None,
        "rapidfuzz_scan_names_per_s": round(len(scan_q) / t_scan, 1),
        "speedup_vs_scan": round(rate / (len(scan_q) / t_scan), 1),
        "customer_queries": customers,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scan-queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--customers", type=int, default=2000, help="demo customers screened (0 = none)"
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--failures", type=int, default=0, help="print N misjudged pairs")
    args = parser.parse_args(argv)
    if not CASES.exists():
        print(json.dumps({"error": f"missing {CASES}"}))
        return 1
    t0 = time.perf_counter()
    result: dict[str, object] = {"bench": "screening", "name_bench": name_bench(args.failures)}
    if not args.skip_speed:
        result["screening"] = speed_bench(
            args.queries, args.runs, args.scan_queries, args.seed, args.customers
        )
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
