"""Scoring of a screening query against one list entry.

``compare_names`` aligns the tokens of two names (exact, transliteration, pinyin, phonetic,
fuzzy and initial matches, in any order, with adjacent tokens merged where one side writes a
name part in one word and the other in two) and returns a name score in 0..1 with an
explanation. ``score_candidate`` adds date of birth, countries, identifiers, gender and
schema as supporting or contradicting evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import OSA, Levenshtein
from rapidfuzz.process import extractOne

from bankcrm.compliance.screening.names import (
    NameForm,
    Token,
    analyze_name,
    loose_key,
    make_token,
    name_variants,
    schema_kind,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "REPORT_FLOOR",
    "Candidate",
    "Match",
    "Query",
    "compare_names",
    "score_candidate",
    "score_candidate_at",
]

DEFAULT_THRESHOLD: float = 0.8
REPORT_FLOOR: float = 0.5


@dataclass(frozen=True, slots=True)
class Candidate:
    key: int
    list_code: str
    entry_id: str
    schema: str
    names: tuple[str, ...]
    birth_dates: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    gender: str = ""


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    aliases: tuple[str, ...] = ()
    schema: str = ""
    birth_date: str = ""
    countries: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    gender: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    candidate: Candidate
    score: float
    explanation: dict


# ---------------------------------------------------------------------------------------------
# Token comparison
# ---------------------------------------------------------------------------------------------


def _cross_how(a: Token, b: Token) -> str:
    if "han" in (a.origin, b.origin) and a.origin != b.origin:
        return "pinyin"
    if a.origin != b.origin:
        return "transliteration"
    return ""


_MIN_TOKEN_SIM = 0.7  # below: a weak pairing that does not count as agreement
_WEAK_TOKEN_SIM = 0.5


@lru_cache(maxsize=500_000)
def token_similarity(a: Token, b: Token) -> tuple[float, str]:
    """Similarity of two name tokens in 0..1 and how they matched (0 = no match)."""
    cross = _cross_how(a, b)
    if a.text == b.text:
        return 1.0, cross or "exact"
    la, lb = len(a.text), len(b.text)
    if a.origin == b.origin and a.origin in ("han", "hangul"):
        # both written natively: a different character is a different name
        s = Levenshtein.normalized_similarity(a.text, b.text) * 0.7
        return (round(s, 3), "fuzzy") if s >= _MIN_TOKEN_SIM else (0.0, "")
    if a.groups & b.groups:
        return 0.92, cross or "transliteration"
    if la == 1 or lb == 1:
        if a.text[:1] == b.text[:1]:
            return 0.7, "initial"
        return 0.0, ""
    if a.loose == b.loose and (cross or min(la, lb) >= 4):
        return (0.93, cross) if cross else (0.9, "phonetic")
    if "abjad" in (a.origin, b.origin):
        # abjad transliterations lack most vowels: compare consonant skeletons
        if a.skel == b.skel and len(a.skel) >= 2:
            return (0.9, cross or "phonetic")
        sk = Levenshtein.normalized_similarity(a.skel, b.skel)
        if sk >= 0.7 and min(len(a.skel), len(b.skel)) >= 3:
            return round(0.5 + 0.4 * sk, 3), cross or "phonetic"
        if a.origin != b.origin:
            return 0.0, ""
    lev = max(
        OSA.normalized_similarity(a.text, b.text),
        OSA.normalized_similarity(a.loose, b.loose),
    )
    how = "fuzzy"
    s = lev
    if a.skel == b.skel and len(a.skel) >= 3 and min(la, lb) >= 4:
        s, how = max(s, 0.86), "phonetic"
    elif a.phonetic == b.phonetic and len(a.phonetic) >= 2 and min(la, lb) >= 3:
        s, how = max(s, 0.5 * lev + 0.42), "phonetic"
    if min(la, lb) <= 3 and how == "fuzzy":
        return 0.0, ""
    if s >= _MIN_TOKEN_SIM or (s >= _WEAK_TOKEN_SIM and min(la, lb) >= 4):
        return round(s, 3), how
    return 0.0, ""


def _merge_adjacent(side: list[Token], other: list[Token], kind: str) -> list[Token]:
    """Join adjacent tokens of ``side`` that the other name writes as one word."""
    if len(side) < 2 or len(side) < len(other):
        return side
    other_text = {t.text for t in other}
    if all(t.text in other_text for t in side):
        return side
    side_text = {u.text for u in side}
    longs = [t for t in other if len(t.text) > 2 and t.text not in side_text]
    if not longs:
        return side
    lens = [len(t.text) for t in longs]
    lo_len, hi_len = min(lens) - 2, max(lens) + 2
    other_loose = {t.loose for t in longs}
    out: list[Token] = []
    i = 0
    while i < len(side):
        merged = False
        if side[i].text not in other_text:
            size = len(side[i].text)
            for n in range(2, min(5, len(side) - i) + 1):
                size += len(side[i + n - 1].text)
                if size < lo_len:
                    continue
                if size > hi_len:
                    break
                joined = "".join(t.text for t in side[i : i + n])
                jl = _loose(joined)
                if (
                    jl in other_loose
                    or (
                        len(jl) >= 6
                        and extractOne(
                            jl,
                            other_loose,
                            scorer=Levenshtein.normalized_similarity,
                            score_cutoff=0.85,
                        )
                        is not None
                    )
                ) and not _has_partner(side[i], other):
                    out.append(_single(joined, side[i].origin, kind))
                    i += n
                    merged = True
                    break
        if not merged:
            out.append(side[i])
            i += 1
    return out


def _has_partner(tok: Token, other: list[Token]) -> bool:
    return any(token_similarity(tok, o)[0] >= 0.9 for o in other)


def _fold_acronyms(side: list[Token], other: list[Token], kind: str) -> list[Token]:
    """Replace runs of ``other`` whose initials spell a token of ``side`` (PLA, U.S.) by it."""
    acronyms = {t.text for t in side if 2 <= len(t.text) <= 5 and t.text.isalpha()}
    if not acronyms or len(other) < 2:
        return other
    words = other
    out: list[Token] = []
    i = 0
    while i < len(words):
        done = False
        for acr in acronyms:
            n = len(acr)
            if i + n <= len(words) and n >= 2:
                window = words[i : i + n]
                if "".join(t.text[0] for t in window) == acr and not any(
                    t.text == acr for t in other
                ):
                    legal = all(t.legal for t in window)
                    out.append(_single(acr, window[0].origin, kind, legal))
                    i += n
                    done = True
                    break
        if not done:
            out.append(words[i])
            i += 1
    return out


@lru_cache(maxsize=100_000)
def _loose(text: str) -> str:
    return loose_key(text)


@lru_cache(maxsize=100_000)
def _single(text: str, origin: str, kind: str, legal: bool = False) -> Token:
    return make_token(text, origin, schema_kind(kind), legal=legal)


_KIND_SCHEMA = {"person": "person", "org": "organisation", "object": "vessel"}


# ---------------------------------------------------------------------------------------------
# Name comparison
# ---------------------------------------------------------------------------------------------


def _align(qt: list[Token], et: list[Token]) -> list[tuple[int, int, float, str]]:
    pairs = []
    for i, a in enumerate(qt):
        for j, b in enumerate(et):
            s, how = token_similarity(a, b)
            if s > 0:
                pairs.append((s * min(a.weight, b.weight) + s * 0.01, s, i, j, how))
    pairs.sort(reverse=True)
    used_q: set[int] = set()
    used_e: set[int] = set()
    out = []
    for _key, s, i, j, how in pairs:
        if i in used_q or j in used_e:
            continue
        used_q.add(i)
        used_e.add(j)
        out.append((i, j, s, how))
    return out


def _order_kept(aligned: list[tuple[int, int, float, str]]) -> bool:
    seq = [j for _i, j, _s, _h in sorted(aligned)]
    return seq == sorted(seq)


def _compare_core(q: NameForm, e: NameForm, kind: str):
    """Score of two normalised names with the aligned tokens."""
    return _compare_tokens(q.tokens, q.origin, q.compact, e.tokens, e.origin, e.compact, kind)


@lru_cache(maxsize=50_000)
def _compare_tokens(
    q_tokens: tuple[Token, ...],
    q_origin: str,
    q_compact: str,
    e_tokens: tuple[Token, ...],
    e_origin: str,
    e_compact: str,
    kind: str,
):
    """:func:`_compare_core` on what it reads of the two names, cached: tokens are shared
    objects, so a rescreen meeting the same words again (homophones written with other
    characters, the same pinyin, a common name) reuses the result. Callers only read it."""
    qt = list(q_tokens)
    et = list(e_tokens)
    if not qt or not et:
        return 0.0, qt, et, []
    sch = _KIND_SCHEMA.get(kind, "")
    if kind != "person":
        et = _fold_acronyms(qt, et, sch)
        qt = _fold_acronyms(et, qt, sch)
    qt2 = _merge_adjacent(qt, et, sch)
    et2 = _merge_adjacent(et, qt2, sch)
    aligned = _align(qt2, et2)
    score = _combine(qt2, et2, aligned, kind)
    # whole-string comparison catches split/joined words and typos across boundaries
    same_native = q_origin == e_origin and q_origin in ("han", "hangul")
    if q_compact and e_compact and len(q_compact) >= 6 and not same_native:
        cmp = Levenshtein.normalized_similarity(q_compact, e_compact, score_cutoff=0.9)
        if cmp >= 0.9:
            score = max(score, cmp * 0.95)
    if kind != "person":
        q_num = {t.text for t in qt2 if _is_number(t)}
        e_num = {t.text for t in et2 if _is_number(t)}
        if q_num != e_num:
            # numbers or roman numerals differ (fund II, vessel 3): often a sibling entity, which
            # screening still reports, but below the identical name
            score -= 0.05
    return max(0.0, min(1.0, score)), qt2, et2, aligned


def _build_explanation(q: NameForm, e: NameForm, core) -> dict:
    score, qt2, et2, aligned = core
    parts = []
    for i, j, s, how in sorted(aligned):
        parts.append({"query": qt2[i].text, "entry": et2[j].text, "how": how, "score": round(s, 3)})
    if aligned and not _order_kept(aligned):
        for p in parts:
            if p["how"] == "exact":
                p["how"] = "order"
    return _explain(q, e, score, parts, qt2, et2, aligned)


def compare_forms(q: NameForm, e: NameForm, kind: str = "") -> tuple[float, dict]:
    core = _compare_core(q, e, kind)
    return core[0], _build_explanation(q, e, core)


_ROMAN = frozenset(
    ("ii", "iii", "iv", "vi", "vii", "viii", "ix", "xi", "xii", "xiii", "xiv", "xv", "xx")
)


def _is_number(t: Token) -> bool:
    return t.text.isdigit() or t.text in _ROMAN


def _combine(qt: list[Token], et: list[Token], aligned, kind: str) -> float:
    """Name score from the aligned token pairs (legal forms carry no weight)."""
    # one pass per side: weights without and with legal forms, significant parts
    wq = wq_all = we = we_all = 0.0
    n_sig_q = n_sig_e = 0
    native = False
    for t in qt:
        wq_all += t.weight
        if not t.legal:
            wq += t.weight
            if t.weight >= 0.5:
                n_sig_q += 1
        if t.origin == "han" or t.origin == "hangul":
            native = True
    for t in et:
        we_all += t.weight
        if not t.legal:
            we += t.weight
            if t.weight >= 0.5:
                n_sig_e += 1
        if t.origin == "han" or t.origin == "hangul":
            native = True
    use_legal = not wq or not we
    if use_legal:
        wq, we = wq_all, we_all
    mq = me = 0.0
    n_sig = 0
    sig_strong = False
    agreed_q: set[int] = set()
    agreed_e: set[int] = set()
    kept: list[tuple[int, int, float, str]] = []
    for p in aligned:
        i, j, s, how = p
        a, b = qt[i], et[j]
        c = s if s >= _MIN_TOKEN_SIM else s * 0.5
        if use_legal or not a.legal:
            mq += a.weight * c
        if use_legal or not b.legal:
            me += b.weight * c
        if s >= 0.75 and (a.weight >= 0.8 or b.weight >= 0.8):
            n_sig += 1
            sig_strong = True
        elif how == "initial" and s >= 0.7:
            n_sig += 1
            sig_strong = sig_strong or a.weight >= 0.8 or b.weight >= 0.8
        if s >= _MIN_TOKEN_SIM:
            agreed_q.add(i)
            agreed_e.add(j)
            kept.append(p)
    cov_q = min(1.0, mq / wq) if wq else 0.0
    cov_e = min(1.0, me / we) if we else 0.0
    lo, hi = min(cov_q, cov_e), max(cov_q, cov_e)
    # persons: extra middle names on one side are common; organisations: every word counts
    score = 0.6 * lo + 0.4 * hi if kind == "org" else 0.35 * lo + 0.65 * hi
    if n_sig < 2 and min(n_sig_q, n_sig_e) >= 2:
        # one matching part of two multi-part names
        score = min(score, 0.5 + 0.2 * lo)
    elif n_sig < 2 and max(n_sig_q, n_sig_e) >= 2:
        # a single name against a full name
        score = min(score, 0.6 + 0.2 * lo)
    if not sig_strong:
        # only initials or particles (al, bin, de) agree: no evidence of the same name
        score = min(score, 0.4)
    if any(t.weight >= 0.5 and not t.legal for k, t in enumerate(qt) if k not in agreed_q) and any(
        t.weight >= 0.5 and not t.legal for k, t in enumerate(et) if k not in agreed_e
    ):
        # each side has a part the other lacks: contradicting name parts
        score -= 0.1
    if aligned and (kind == "org" or not native) and not _order_kept(kept):
        score -= 0.03
    return score


def _explain(q, e, score, parts, qt, et, aligned=()) -> dict:
    mq = {p[0] for p in aligned}
    me = {p[1] for p in aligned}
    return {
        "matched_name": e.original,
        "query_name": q.original,
        "name_score": round(score, 3),
        "parts": parts,
        "unmatched_query": [t.text for k, t in enumerate(qt) if k not in mq],
        "unmatched_entry": [t.text for k, t in enumerate(et) if k not in me],
        "attributes": [],
        "summary_codes": [],
    }


def _name_code(score: float) -> str:
    if score >= 0.9:
        return "name_strong"
    if score >= DEFAULT_THRESHOLD:
        return "name_good"
    if score >= REPORT_FLOOR:
        return "name_weak"
    return "name_poor"


def compare_names(a: str, b: str, schema: str = "") -> tuple[float, dict]:
    """Name-only similarity of ``a`` (query) and ``b`` (list name) in 0..1 with explanation."""
    kind = schema_kind(schema)
    score, exp = -1.0, {}
    for va in name_variants(a):
        for vb in name_variants(b):
            s, e = compare_forms(analyze_name(va, schema), analyze_name(vb, schema), kind)
            if s > score:
                score, exp = s, e
    exp["matched_name"], exp["query_name"] = b, a
    exp["summary_codes"] = [_name_code(score)]
    return round(score, 4), exp


# ---------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------

_ID_CLEAN_RE = re.compile(r"[^0-9A-Z]")


def _dob_evidence(query: str, entry: tuple[str, ...]) -> dict | None:
    if not query or not entry:
        return None
    best: dict | None = None
    best_effect = -1.0
    for d in entry:
        d = d.strip()
        if not d:
            continue
        n = min(len(d), len(query))
        if d[:n] == query[:n]:
            result = "match" if n >= 10 else "partial"
            effect = 0.06 if n >= 10 else 0.03
        else:
            try:
                gap = abs(int(d[:4]) - int(query[:4]))
            except ValueError:
                continue
            if gap == 0:
                result, effect = "partial", -0.03  # same year, other day
            elif gap <= 1:
                result, effect = "partial", -0.05
            else:
                result, effect = "mismatch", -0.2
        cand = {
            "field": "birth_date",
            "result": result,
            "query": query,
            "entry": d,
            "effect": effect,
        }
        if best is None or effect > best_effect:
            best, best_effect = cand, effect
    return best


def _attribute_evidence(query: Query, cand: Candidate, q_kind: str, c_kind: str) -> list[dict]:
    out: list[dict] = []
    dob = _dob_evidence(query.birth_date, cand.birth_dates)
    if dob:
        out.append(dob)
    qc = {c.upper() for c in query.countries if c}
    cc = {c.upper() for c in cand.countries if c}
    if qc and cc:
        common = qc & cc
        out.append(
            {
                "field": "country",
                "result": "match" if common else "mismatch",
                "query": ",".join(sorted(qc)),
                "entry": ",".join(sorted(cc)),
                "effect": 0.03 if common else -0.08,
            }
        )
    qi = {_ID_CLEAN_RE.sub("", i.upper()) for i in query.identifiers if i}
    ci = {_ID_CLEAN_RE.sub("", i.upper()) for i in cand.identifiers if i}
    qi.discard("")
    ci.discard("")
    if qi and ci:
        common = qi & ci
        if common:
            out.append(
                {
                    "field": "identifier",
                    "result": "match",
                    "query": sorted(common)[0],
                    "entry": sorted(common)[0],
                    "effect": 0.15,
                }
            )
    if query.gender and cand.gender:
        same = query.gender.lower() == cand.gender.lower()
        out.append(
            {
                "field": "gender",
                "result": "match" if same else "mismatch",
                "query": query.gender,
                "entry": cand.gender,
                "effect": 0.0 if same else -0.1,
            }
        )
    if q_kind and c_kind and q_kind != c_kind:
        out.append(
            {
                "field": "schema",
                "result": "mismatch",
                "query": query.schema,
                "entry": cand.schema,
                "effect": -0.25,
            }
        )
    return out


_CODE = {
    ("birth_date", "match"): "dob_match",
    ("birth_date", "partial"): "dob_partial",
    ("birth_date", "mismatch"): "dob_mismatch",
    ("country", "match"): "country_match",
    ("country", "mismatch"): "country_mismatch",
    ("identifier", "match"): "identifier_match",
    ("gender", "match"): "gender_match",
    ("gender", "mismatch"): "gender_mismatch",
    ("schema", "mismatch"): "schema_mismatch",
}


def _best_pair(q_forms: list[NameForm], cand_forms: list[NameForm], kind: str):
    """The best-scoring pair of a query name and a list name: (core result, (query, entry))."""
    best = None
    best_pair = None
    for qf in q_forms:
        for cf in cand_forms:
            core = _compare_core(qf, cf, kind)
            if best is None or core[0] > best[0]:
                best, best_pair = core, (qf, cf)
                if core[0] >= 0.999:
                    break
        if best is not None and best[0] >= 0.999:
            break
    return best, best_pair


def best_name_match(
    q_forms: list[NameForm], cand_forms: list[NameForm], kind: str
) -> tuple[float, dict]:
    """The best-scoring pair of a query name and a list name, with its explanation."""
    best, best_pair = _best_pair(q_forms, cand_forms, kind)
    if best is None or best_pair is None:
        return 0.0, {}
    return best[0], _build_explanation(best_pair[0], best_pair[1], best)


def score_candidate(
    query: Query,
    cand: Candidate,
    q_forms: list[NameForm] | None = None,
    cand_forms: list[NameForm] | None = None,
) -> Match:
    """Full score of a query against one candidate: best name pair plus attribute evidence."""
    match = score_candidate_at(query, cand, q_forms, cand_forms, floor=None)
    if match is None:  # pragma: no cover - no floor, always a match
        raise RuntimeError("no match without a floor")
    return match


def score_candidate_at(
    query: Query,
    cand: Candidate,
    q_forms: list[NameForm] | None = None,
    cand_forms: list[NameForm] | None = None,
    *,
    floor: float | None,
) -> Match | None:
    """:func:`score_candidate`, or None when the score is below ``floor`` (the explanation
    is then never built)."""
    q_kind = schema_kind(query.schema)
    c_kind = schema_kind(cand.schema)
    kind = q_kind or c_kind
    if q_forms is None:
        q_forms = [
            analyze_name(v, query.schema or cand.schema)
            for n in (query.name, *query.aliases)
            if n
            for v in name_variants(n)
        ]
    if cand_forms is None:
        cand_forms = [
            analyze_name(v, cand.schema) for n in cand.names if n for v in name_variants(n)
        ]
    best, best_pair = _best_pair(q_forms, cand_forms, kind)
    name_score = max(0.0, best[0]) if best is not None and best_pair is not None else 0.0
    attrs = _attribute_evidence(query, cand, q_kind, c_kind)
    # supporting evidence can lift a good name, never make a poor one strong
    effect = sum(a["effect"] for a in attrs)
    if effect > 0:
        effect = effect * max(0.0, min(1.0, (name_score - 0.5) / 0.3))
    score = round(max(0.0, min(1.0, name_score + effect)), 4)
    if floor is not None and score < floor:
        return None
    exp = (
        _build_explanation(best_pair[0], best_pair[1], best)
        if best is not None and best_pair is not None
        else {}
    )
    codes = [_name_code(name_score)] + [
        _CODE[(a["field"], a["result"])] for a in attrs if (a["field"], a["result"]) in _CODE
    ]
    exp["name_score"] = round(name_score, 3)
    exp["attributes"] = attrs
    exp["summary_codes"] = codes
    return Match(candidate=cand, score=score, explanation=exp)
