"""Candidate retrieval of the screening index (pure, no database)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from django.conf import settings

from bankcrm.compliance.screening import index as index_module
from bankcrm.compliance.screening.index import ScreeningIndex
from bankcrm.compliance.screening.matcher import (
    DEFAULT_THRESHOLD,
    REPORT_FLOOR,
    Candidate,
    Query,
    score_candidate,
    score_candidate_at,
)
from bankcrm.compliance.screening.names import analyze_name

LIST = [
    ("person", ("XI Jinping", "习近平"), ("1953-06-15",), ("CN",)),
    ("person", ("KIM Jong Un", "김정은"), ("1984-01-08",), ("KP",)),
    ("person", ("PARK Geun-hye",), ("1952-02-02",), ("KR",)),
    ("person", ("Vladimir Vladimirovich PUTIN", "Владимир Владимирович Путин"), ("1952",), ("RU",)),
    ("person", ("Sergey Viktorovich LAVROV",), ("1950-03-21",), ("RU",)),
    ("person", ("Mohammed bin Salman AL SAUD",), ("1985-08-31",), ("SA",)),
    ("person", ("Usama bin Muhammad bin Awad BIN LADIN", "Osama bin Laden"), ("1957",), ()),
    ("person", ("John SMITH",), ("1970-01-01",), ("GB",)),
    ("person", ("Jane SMITH",), ("1971-01-01",), ("GB",)),
    ("person", ("John SMYTHE",), (), ("US",)),
    ("organisation", ("GAZPROM PJSC", "ПАО Газпром"), (), ("RU",)),
    ("organisation", ("ACME HOLDINGS LIMITED",), (), ("GB",)),
    ("organisation", ("ALIBABA GROUP HOLDING LIMITED", "阿里巴巴集团控股有限公司"), (), ("CN",)),
    ("organisation", ("BANCO NACIONAL DE CUBA", "NATIONAL BANK OF CUBA"), (), ("CU",)),
    ("vessel", ("OCEAN STAR",), (), ()),
]


def make_candidates() -> list[Candidate]:
    return [
        Candidate(
            key=i + 1,
            list_code="TEST",
            entry_id=str(100 + i),
            schema=schema,
            names=names,
            birth_dates=dobs,
            countries=countries,
        )
        for i, (schema, names, dobs, countries) in enumerate(LIST)
    ]


QUERIES = [
    Query(name="习近平"),
    Query(name="Jinping Xi", birth_date="1953-06-15"),
    Query(name="Kim Jong-un"),
    Query(name="Pak Kun Hye"),
    Query(name="Путин Владимир"),
    Query(name="Vladimir Putin", countries=("RU",)),
    Query(name="Sergei Lavrov"),
    Query(name="محمد بن سلمان"),
    Query(name="Osama bin Ladin"),
    Query(name="Jon Smith", birth_date="1970-01-01"),
    Query(name="Gazprom OOO", schema="organisation"),
    Query(name="Acme Holdings LLC", schema="organisation"),
    Query(name="阿里巴巴集团控股有限公司", schema="organisation"),
    Query(name="Banco Nacional de Cuba"),
    Query(name="Totally Unrelated Person"),
]


@pytest.fixture(scope="module")
def index() -> ScreeningIndex:
    return ScreeningIndex(make_candidates())


def brute_force(cands: list[Candidate], query: Query, floor: float) -> list:
    out = [score_candidate(query, c) for c in cands]
    return sorted((m for m in out if m.score >= floor), key=lambda m: (-m.score, m.candidate.key))


def test_len(index):
    assert len(index) == len(LIST)
    assert len(ScreeningIndex([])) == 0
    assert ScreeningIndex([]).search(Query(name="anyone")) == []


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_index_top_match_equals_brute_force(index, query):
    cands = make_candidates()
    expected = brute_force(cands, query, REPORT_FLOOR)
    got = index.search(query)
    if not expected:
        assert got == [] or got[0].score < DEFAULT_THRESHOLD
        return
    assert got, f"no hit for {query.name}"
    assert got[0].candidate.key == expected[0].candidate.key
    assert got[0].score == pytest.approx(expected[0].score)
    # every hit the index reports is scored exactly as the brute-force comparison scores it
    by_key = {m.candidate.key: m.score for m in expected}
    for m in got:
        assert m.score == pytest.approx(by_key[m.candidate.key])


def test_expected_top_hits(index):
    def top(q: Query) -> str:
        hits = index.search(q)
        return hits[0].candidate.names[0] if hits else ""

    assert top(Query(name="习近平")) == "XI Jinping"
    assert top(Query(name="Kim Jong-un")) == "KIM Jong Un"
    assert top(Query(name="Gazprom OOO", schema="organisation")) == "GAZPROM PJSC"
    assert index.search(Query(name="Totally Unrelated Person"), floor=DEFAULT_THRESHOLD) == []


def test_floor_limit_and_order(index):
    hits = index.search(Query(name="John Smith"), floor=0.0, limit=3)
    assert len(hits) <= 3
    assert [m.score for m in hits] == sorted((m.score for m in hits), reverse=True)
    assert hits[0].candidate.names[0] == "John SMITH"
    strict = index.search(Query(name="John Smith"), floor=0.99)
    assert all(m.score >= 0.99 for m in strict)


def test_hits_carry_json_explanations(index):
    hits = index.search(Query(name="Jinping Xi", birth_date="1953-06-15", countries=("CN",)))
    assert hits
    data = json.loads(json.dumps(hits[0].explanation))
    assert data["query_name"] == "Jinping Xi"
    assert "dob_match" in data["summary_codes"]


def test_query_touches_only_its_candidates(monkeypatch, index):
    """Scoring is limited to candidates the inverted index reached, never all entries."""
    calls = []
    real = index_module.score_candidate_at

    def counting(query, cand, *args, **kwargs):
        calls.append(cand.key)
        return real(query, cand, *args, **kwargs)

    monkeypatch.setattr(index_module, "score_candidate_at", counting)
    cands = make_candidates() + [
        Candidate(
            key=1000 + i,
            list_code="F",
            entry_id=str(i),
            schema="person",
            names=(f"Filler{i:04d} Person{i:04d}",),
        )
        for i in range(2000)
    ]
    big = ScreeningIndex(cands)
    hits = big.search(Query(name="Xi Jinping"))
    assert hits[0].candidate.names[0] == "XI Jinping"
    assert len(calls) <= 20


def test_random_perturbations_find_their_entry(index):
    rng = random.Random(3)
    cands = make_candidates()
    for cand in cands:
        name = cand.names[0]
        parts = name.split()
        rng.shuffle(parts)
        got = index.search(Query(name=" ".join(parts).lower()))
        assert got and got[0].candidate.key == cand.key, (name, got[:1])


SANCTIONS = Path(settings.DATA_DIR) / "sanctions" / "un-consolidated-2025-04-19"


def test_un_list_index_finds_perturbed_names():
    path = SANCTIONS / "consolidated.xml.gz"
    if not path.exists():
        pytest.skip(f"the UN list is not in {SANCTIONS} (set BANKCRM_DATA_DIR)")
    try:
        from bankcrm.compliance.screening.sources import parse_list
    except ImportError:  # pragma: no cover
        pytest.skip("list parsers not available")
    cands = []
    for i, rec in enumerate(parse_list("un", path)):
        cands.append(
            Candidate(
                key=i + 1,
                list_code="UN",
                entry_id=rec["entry_id"],
                schema=rec["schema"] or "unknown",
                names=tuple(n["name"] for n in rec["names"]),
                birth_dates=tuple(rec["birth_dates"]),
                countries=tuple(rec["countries"]),
            )
        )
    idx = ScreeningIndex(cands)
    rng = random.Random(5)
    sample = rng.sample([c for c in cands if c.schema == "person"], 60)
    found = 0
    for cand in sample:
        parts = cand.names[0].split()
        query = " ".join(reversed(parts)).title()
        hits = idx.search(Query(name=query))
        names = {h.candidate.names[0] for h in hits if h.score >= DEFAULT_THRESHOLD}
        found += cand.names[0] in names
    assert found >= 57


CUSTOMER_QUERIES = [
    # as services_screening.party_query builds them: characters, "given family", pinyin
    Query(
        name="习近平",
        aliases=("近平 习", "Xi Jinping"),
        schema="person",
        birth_date="1953-06-15",
        countries=("CN",),
        gender="male",
    ),
    Query(
        name="习进平", aliases=("进平 习", "Xi Jinping"), schema="person", birth_date="1960-01-01"
    ),
    Query(name="金正恩", aliases=("正恩 金", "Jin Zhengen"), schema="person", countries=("CN",)),
    Query(name="Jane Smith", schema="person", birth_date="1971-01-01", gender="female"),
    Query(name="阿里巴巴集团控股有限公司", schema="organisation", countries=("CN",)),
]


@pytest.mark.parametrize("query", CUSTOMER_QUERIES, ids=lambda q: q.name)
def test_customer_queries_score_as_brute_force(index, query):
    """Customer queries (several names, attributes): every hit scored as score_candidate
    scores it with all the query's names, and the brute-force top hit is found."""
    expected = brute_force(make_candidates(), query, REPORT_FLOOR)
    got = index.search(query)
    assert [m.candidate.key for m in got][:1] == [m.candidate.key for m in expected][:1]
    by_key = {m.candidate.key: m for m in expected}
    for m in got:
        assert m.score == pytest.approx(by_key[m.candidate.key].score)
        assert m.explanation == by_key[m.candidate.key].explanation


def test_repeated_query_names_change_nothing(index):
    """A name repeated as an alias (same words, same script) is screened once, same result."""
    plain = Query(name="Xi Jinping", birth_date="1953-06-15")
    twice = Query(name="Xi Jinping", aliases=("XI JINPING", "xi jinping"), birth_date="1953-06-15")
    a, b = index.search(plain), index.search(twice)
    assert [(m.candidate.key, m.score) for m in a] == [(m.candidate.key, m.score) for m in b]
    names = ("习近平", "Xi Jinping", "XI Jinping", "近平 习")
    forms = [analyze_name(n, "person") for n in names]
    # the same words in the same order and script; another order is kept (it may join
    # differently with a list name's parts)
    assert index_module._distinct_forms(forms) == [forms[0], forms[1], forms[3]]


def test_score_below_floor_is_none():
    cand = make_candidates()[0]
    query = Query(name="Xi Jinping", birth_date="1980-01-01", gender="female")
    full = score_candidate(query, cand)
    assert score_candidate_at(query, cand, floor=full.score + 0.01) is None
    again = score_candidate_at(query, cand, floor=full.score)
    assert again is not None
    assert (again.score, again.explanation) == (full.score, full.explanation)
