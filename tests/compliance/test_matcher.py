"""Name matching for sanctions and PEP screening (pure functions, no database)."""

from __future__ import annotations

import json

import pytest

from bankcrm.compliance.screening.matcher import (
    DEFAULT_THRESHOLD,
    REPORT_FLOOR,
    Candidate,
    Query,
    compare_names,
    score_candidate,
)
from bankcrm.compliance.screening.names import analyze_name, hangul_romanize


def score(a: str, b: str, schema: str = "person") -> float:
    return compare_names(a, b, schema)[0]


# --- Chinese -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "Xi Jinping",
        "Jinping Xi",
        "XI Jin-ping",
        "Xí Jìnpíng",
        "xi2 jin4 ping2",
        "Xi Jin Ping",
        "習近平",
    ],
)
def test_chinese_characters_match_pinyin_in_any_order_and_tones(query):
    s, exp = compare_names(query, "习近平", "person")
    assert s >= DEFAULT_THRESHOLD, (query, s, exp)
    s2, _ = compare_names("习近平", query, "person")
    assert s2 >= DEFAULT_THRESHOLD


def test_chinese_explanation_says_pinyin():
    s, exp = compare_names("习近平", "Jinping Xi", "person")
    assert s >= 0.95
    hows = {(p["query"], p["entry"], p["how"]) for p in exp["parts"]}
    assert ("xi", "xi", "pinyin") in hows
    assert ("jinping", "jinping", "pinyin") in hows
    assert exp["unmatched_query"] == [] and exp["unmatched_entry"] == []


def test_chinese_different_people_do_not_match():
    assert score("习近平", "Li Keqiang") < REPORT_FLOOR
    assert score("习近平", "习近朋") < DEFAULT_THRESHOLD  # one character differs
    assert score("Xi Jinping", "Xi Mingze") < DEFAULT_THRESHOLD


def test_chinese_compound_surname_and_heteronym():
    assert [t.text for t in analyze_name("欧阳修", "person").tokens] == ["ouyang", "xiu"]
    assert [t.text for t in analyze_name("曾国藩", "person").tokens] == ["zeng", "guofan"]


# --- Korean --------------------------------------------------------------------------------


def test_hangul_romanisation():
    assert hangul_romanize("김정은") == "gimjeongeun"
    assert [t.text for t in analyze_name("박근혜", "person").tokens] == ["bak", "geunhye"]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("김정은", "Kim Jong Un"),
        ("김정은", "Kim Jong-un"),
        ("박근혜", "Park Geun-hye"),
        ("박근혜", "Pak Kun Hye"),
        ("이명박", "Lee Myung-bak"),
        ("이명박", "Yi Myeong-bak"),
        ("최순실", "Choi Soon-sil"),
        ("Choe Sun Sil", "Choi Soon-sil"),
        ("Park Ji-sung", "Bak Ji-seong"),
        ("Rhee Myung Bak", "Lee Myung-bak"),
        ("Gim Jeong-eun", "Kim Jong Un"),
    ],
)
def test_korean_romanisation_variants(a, b):
    assert score(a, b) >= DEFAULT_THRESHOLD, (a, b, compare_names(a, b, "person"))


def test_korean_different_names_do_not_match():
    assert score("김정은", "김종은") < DEFAULT_THRESHOLD  # one syllable differs
    assert score("김정은", "Park Geun-hye") < REPORT_FLOOR


# --- Cyrillic, Arabic, Latin variants ------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Владимир Путин", "Vladimir Putin"),
        ("Сергей Лавров", "Sergey Lavrov"),
        ("Александр Лукашенко", "Alexander Lukashenko"),
        ("Володимир Зеленський", "Volodymyr Zelenskyy"),
    ],
)
def test_cyrillic_transliteration(a, b):
    assert score(a, b) >= DEFAULT_THRESHOLD


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("محمد بن سلمان", "Mohammed bin Salman"),
        ("أسامة بن لادن", "Osama bin Laden"),
    ],
)
def test_arabic_transliteration(a, b):
    s, exp = compare_names(a, b, "person")
    assert s >= DEFAULT_THRESHOLD, exp
    assert any(p["how"] == "transliteration" for p in exp["parts"])


def test_latin_variants_order_initials_typos():
    assert score("José Núñez", "Jose Nunez") == 1.0
    assert score("John Smith", "Smith John") >= DEFAULT_THRESHOLD
    assert score("J. Smith", "John Smith") >= DEFAULT_THRESHOLD
    assert score("Jon Smiht", "John Smith") >= 0.75
    assert score("Osama bin Laden", "Usama ibn Ladin") >= DEFAULT_THRESHOLD
    assert score("Olaf Scholz", "Octavian Scholz") < DEFAULT_THRESHOLD
    assert score("John Smith", "Jane Brown") < REPORT_FLOOR
    # exact order scores above reordered, reordered above a typo
    assert score("Hans Friedrich", "Hans Friedrich") > score("Friedrich Hans", "Hans Friedrich")


# --- organisations -------------------------------------------------------------------------


def test_organisation_legal_forms_are_stripped():
    assert score("Acme Holdings LLC", "ACME HOLDINGS LIMITED", "organisation") >= 0.95
    assert score("OOO Газпром", "Gazprom LLC", "organisation") >= 0.95
    assert score("Siemens Aktiengesellschaft", "Siemens AG", "organisation") >= 0.95
    assert score("Stripe LLC", "Strip Limited Liability Company", "organisation") >= 0.8
    assert score("Acme Holdings LLC", "Apex Holdings LLC", "organisation") < REPORT_FLOOR
    tokens = analyze_name("阿里巴巴集团控股有限公司", "organisation").tokens
    assert "gong" not in {t.text for t in tokens} and "si" not in {t.text for t in tokens}
    legal = [
        t.text for t in analyze_name("Acme Trading Co., Ltd.", "organisation").tokens if t.legal
    ]
    assert "ltd" in legal


def test_organisation_numbers_and_acronyms():
    same = score("Bowne Global Solutions II", "Bowne Global Solutions II", "organisation")
    sibling = score("Bowne Global Solutions", "Bowne Global Solutions II", "organisation")
    assert sibling < same
    assert score("PLA", "People's Liberation Army", "organisation") >= DEFAULT_THRESHOLD
    assert score("Al Qaeda", "Al-Qa'ida/Islamic Army", "organisation") >= DEFAULT_THRESHOLD


# --- attributes ----------------------------------------------------------------------------

XI = Candidate(
    key=1,
    list_code="TEST",
    entry_id="X-1",
    schema="person",
    names=("XI Jinping", "习近平"),
    birth_dates=("1953-06-15",),
    countries=("CN",),
    identifiers=("G12345678",),
    gender="male",
)


def test_birth_date_and_country_evidence():
    plain = score_candidate(Query(name="Xi Jinping"), XI)
    same = score_candidate(Query(name="Xi Jinping", birth_date="1953-06-15", countries=("CN",)), XI)
    other = score_candidate(
        Query(name="Xi Jinping", birth_date="1980-01-01", countries=("US",)), XI
    )
    assert same.score >= plain.score > other.score
    assert other.score < DEFAULT_THRESHOLD
    assert "dob_match" in same.explanation["summary_codes"]
    assert {"dob_mismatch", "country_mismatch"} <= set(other.explanation["summary_codes"])
    attrs = {a["field"]: a for a in other.explanation["attributes"]}
    assert attrs["birth_date"]["result"] == "mismatch" and attrs["birth_date"]["effect"] < 0
    assert attrs["birth_date"]["query"] == "1980-01-01"
    assert attrs["birth_date"]["entry"] == "1953-06-15"
    assert attrs["country"]["result"] == "mismatch" and attrs["country"]["effect"] < 0


def test_year_only_birth_date_is_partial_support():
    m = score_candidate(Query(name="Xi Jinping", birth_date="1953"), XI)
    attrs = {a["field"]: a for a in m.explanation["attributes"]}
    assert attrs["birth_date"]["result"] == "partial" and attrs["birth_date"]["effect"] > 0


def test_identifier_gender_and_schema():
    ident = score_candidate(Query(name="Xi Jinpin", identifiers=("G 1234-5678",)), XI)
    plain = score_candidate(Query(name="Xi Jinpin"), XI)
    assert ident.score > plain.score
    assert "identifier_match" in ident.explanation["summary_codes"]
    female = score_candidate(Query(name="Xi Jinping", gender="female"), XI)
    assert female.score < 1.0 and "gender_mismatch" in female.explanation["summary_codes"]
    org = score_candidate(Query(name="Xi Jinping", schema="organisation"), XI)
    assert org.score < DEFAULT_THRESHOLD
    assert "schema_mismatch" in org.explanation["summary_codes"]


def test_supporting_evidence_does_not_lift_a_poor_name():
    m = score_candidate(Query(name="Li Keqiang", birth_date="1953-06-15", countries=("CN",)), XI)
    assert m.score < REPORT_FLOOR


def test_explanation_is_json_serialisable_and_complete():
    m = score_candidate(Query(name="习近平", birth_date="1953-06-15", countries=("CN",)), XI)
    data = json.loads(json.dumps(m.explanation))
    assert set(data) >= {
        "matched_name",
        "query_name",
        "name_score",
        "parts",
        "unmatched_query",
        "unmatched_entry",
        "attributes",
        "summary_codes",
    }
    assert data["query_name"] == "习近平"
    assert data["matched_name"] in XI.names
    assert data["summary_codes"][0] == "name_strong"
    for part in data["parts"]:
        assert part["how"] in {
            "exact",
            "transliteration",
            "pinyin",
            "phonetic",
            "fuzzy",
            "initial",
            "order",
        }
    _s, exp = compare_names("Jon Smiht", "John Smith")
    json.dumps(exp)
