"""In-memory inverted index over list entries for fast candidate retrieval.

Built once from :class:`Candidate` objects: every name (primary and aliases, any script) is
normalised with :func:`analyze_name`; each distinct token gets keys (exact form, loose
romanisation key, consonant skeleton, metaphone, romanisation variant group, and one-letter
deletions for typo tolerance). A query looks up only its own keys, sums IDF-weighted evidence
per entry, and fully scores the best few entries with :func:`score_candidate_at` (an
explanation is only built for an entry at or above the floor). Query words are shared
objects, so what a word reaches (its postings) and the comparison of two names are kept and
reused: a rescreen of many customers meets the same common names again and again.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from functools import lru_cache
from itertools import pairwise

from bankcrm.compliance.screening.matcher import (
    REPORT_FLOOR,
    Candidate,
    Match,
    Query,
    score_candidate_at,
)
from bankcrm.compliance.screening.names import (
    NameForm,
    Token,
    analyze_name,
    make_token,
    name_variants,
)

__all__ = ["ScreeningIndex"]

# route factors: how much a key hit counts compared to an exact token hit
_EXACT, _GROUP, _LOOSE, _PHON, _SKEL, _DEL = 1.0, 0.9, 0.9, 0.75, 0.6, 0.7
_NAMES_SCORED = 12  # list names fully scored per query (the best by index evidence)
_POSTINGS_BUDGET = 1000  # per query token: the rarest keys first, then stop
_ALWAYS_SCORED = 4  # names scored even when few query tokens reached them
_MAX_DF_SHARE = 0.01  # tokens in more than 1% of names only refine (see _retrieve)
_POSTINGS_CACHE_SIZE = 10_000  # query tokens whose postings are kept (see _token_postings)


def _deletions(text: str) -> set[str]:
    if len(text) < 5:
        return set()
    return {text[:i] + text[i + 1 :] for i in range(len(text))}


def _bigrams(form: NameForm) -> list[Token]:
    """Adjacent name parts joined (``jong`` + ``un`` -> ``jongun``) as extra lookup tokens."""
    toks = [t for t in form.tokens if not t.legal and t.weight >= 0.5]
    if len(toks) < 2 or len(toks) > 6:
        return []
    return [_joined(a.text + b.text, a.origin) for a, b in pairwise(toks)]


@lru_cache(maxsize=100_000)
def _joined(text: str, origin: str) -> Token:
    return make_token(text, origin, "")


def _token_keys(tok: Token) -> list[tuple[str, float]]:
    keys: list[tuple[str, float]] = [("x:" + tok.text, _EXACT), ("l:" + tok.loose, _LOOSE)]
    for g in tok.groups:
        keys.append((f"g:{g}", _GROUP))
    if len(tok.phonetic) >= 2 and len(tok.text) >= 3:
        keys.append(("p:" + tok.phonetic, _PHON))
    if len(tok.skel) >= 3 or (tok.origin == "abjad" and len(tok.skel) >= 2):
        keys.append(("s:" + tok.skel, _SKEL))
    return keys


def _distinct_forms(forms: Iterable[NameForm]) -> list[NameForm]:
    """Query names with tokens, without those that repeat an earlier name's words in the same
    order and script (``Zhang Wei`` given again as ``ZHANG Wei``: the same name to screen).
    Another order (``张伟`` and ``伟 张``) is kept: its parts may join differently with the
    parts of a list name."""
    out: list[NameForm] = []
    seen: set[tuple] = set()
    for form in forms:
        if not form.tokens:
            continue
        key = (form.origin, tuple((t.text, t.legal) for t in form.tokens))
        if key not in seen:
            seen.add(key)
            out.append(form)
    return out


class ScreeningIndex:
    """Candidate retrieval and scoring over a fixed set of list entries."""

    def __init__(self, candidates: Iterable[Candidate]) -> None:
        self._cands: list[Candidate] = []
        self._forms: list[list[NameForm]] = []
        self._name_owner: list[int] = []  # name id -> candidate position
        self._name_form: list[NameForm] = []  # name id -> normalised name
        vocab: dict[str, int] = {}
        tok_names: list[list[int]] = []  # token id -> name ids
        key_toks: dict[str, set[int]] = {}
        del_toks: dict[str, set[int]] = {}
        compact: dict[str, list[int]] = {}
        for cand in candidates:
            pos = len(self._cands)
            self._cands.append(cand)
            forms = []
            seen: set[str] = set()
            for full in cand.names:
                for name in name_variants(full) if full else ():
                    if name in seen:
                        continue
                    seen.add(name)
                    form = analyze_name(name, cand.schema)
                    if not form.tokens:
                        continue
                    forms.append(form)
                    nid = len(self._name_owner)
                    self._name_owner.append(pos)
                    self._name_form.append(form)
                    bigrams = _bigrams(form)
                    for tok in (*form.tokens, *bigrams):
                        tid = vocab.get(tok.text)
                        is_bigram = tok in bigrams
                        if tid is None:
                            tid = vocab[tok.text] = len(tok_names)
                            tok_names.append([])
                            keys = _token_keys(tok)[:2] if is_bigram else _token_keys(tok)
                            for key, _f in keys:
                                key_toks.setdefault(key, set()).add(tid)
                            if not tok.legal and not is_bigram:
                                for key in _deletions(tok.text):
                                    del_toks.setdefault(key, set()).add(tid)
                        postings = tok_names[tid]
                        if not postings or postings[-1] != nid:
                            postings.append(nid)
                    if len(form.compact) >= 6:
                        compact.setdefault(form.compact, []).append(nid)
            self._forms.append(forms)
        self._vocab = vocab
        self._tok_text = {tid: text for text, tid in vocab.items()}
        self._tok_names = [tuple(p) for p in tok_names]
        self._key_toks = {k: tuple(v) for k, v in key_toks.items()}
        self._del_toks = {k: tuple(v) for k, v in del_toks.items()}
        self._compact = compact
        n = max(1, len(self._name_owner))
        self._n_names = n
        self._idf = [math.log(1.0 + n / (1 + len(p))) for p in self._tok_names]
        self._max_df = max(50, int(n * _MAX_DF_SHARE))
        self._postings_cache: dict[
            tuple[Token, bool], tuple[dict[int, float], list[tuple[int, float]]]
        ] = {}
        self._frequent = {
            tid: frozenset(p) for tid, p in enumerate(self._tok_names) if len(p) > self._max_df
        }

    def __len__(self) -> int:
        return len(self._cands)

    # -- retrieval ------------------------------------------------------------------------

    def _token_hits(self, tok: Token, joined: bool = False) -> dict[int, float]:
        """Vocabulary token ids reachable from a query token with their route factor.

        ``joined`` tokens (two adjacent parts written together) use the exact and loose keys
        only."""
        hits: dict[int, float] = {}
        keys = _token_keys(tok)
        for key, factor in keys[:2] if joined else keys:
            for tid in self._key_toks.get(key, ()):
                if hits.get(tid, 0.0) < factor:
                    hits[tid] = factor
        if len(tok.text) >= 5 and not joined:
            dels = _deletions(tok.text) | {tok.text}
            for key in dels:
                for tid in self._del_toks.get(key, ()):
                    if hits.get(tid, 0.0) < _DEL:
                        hits[tid] = _DEL
            for key in _deletions(tok.text):
                found = self._vocab.get(key)
                if found is not None and hits.get(found, 0.0) < _DEL:
                    hits[found] = _DEL
        return hits

    def _token_postings(
        self, tok: Token, joined: bool
    ) -> tuple[dict[int, float], list[tuple[int, float]]]:
        """What one query token adds: list name -> its best key's IDF-weighted factor (the
        rarest keys first, within the postings budget), and the frequent vocabulary tokens
        it reaches with their weight. Kept per token (tokens are shared objects, and
        customers' names repeat the same common words); callers only read the result."""
        got = self._postings_cache.get((tok, joined))
        if got is not None:
            return got
        hits = sorted(
            (
                (factor * self._idf[tid] * tok.weight, tid)
                for tid, factor in self._token_hits(tok, joined).items()
            ),
            reverse=True,
        )
        per_name: dict[int, float] = {}
        frequent: list[tuple[int, float]] = []
        budget = _POSTINGS_BUDGET
        for w, tid in hits:
            if tid in self._frequent:
                frequent.append((tid, w))
                continue
            postings = self._tok_names[tid]
            if budget <= 0:
                break
            budget -= len(postings)
            for nid in postings:
                if nid not in per_name:
                    per_name[nid] = w
        got = (per_name, frequent)
        if len(self._postings_cache) >= _POSTINGS_CACHE_SIZE:
            self._postings_cache.clear()
        self._postings_cache[(tok, joined)] = got
        return got

    def _retrieve(self, forms: list[NameForm], k: int) -> dict[int, list[int]]:
        """Best ``k`` names for the query forms, grouped by candidate position.

        Each query token adds, to every list name it reaches through one of its keys, the
        token's IDF times the key's factor (once per query token). Tokens found in many
        names only add to names already reached by a rarer token (or, when a query has no
        rare token, to the names holding all of its frequent tokens)."""
        best: dict[int, float] = {}
        share: dict[int, float] = {}
        for form in forms:
            toks = [t for t in form.tokens if not t.legal] or list(form.tokens)
            # particles (al, bin, de ...) only help when there is nothing else
            toks = [t for t in toks if t.weight >= 0.5] or toks
            n_tok = max(1, len(toks))
            # "jong un" against "jongun": adjacent parts joined are looked up as well
            toks += _bigrams(form)
            name_score: dict[int, float] = {}
            name_hits: dict[int, int] = {}
            frequent: list[tuple[int, float, int]] = []
            for qi, tok in enumerate(toks):
                per_name, token_frequent = self._token_postings(tok, qi >= n_tok)
                for tid, w in token_frequent:
                    frequent.append((tid, w, qi))
                for nid, w in per_name.items():
                    name_score[nid] = name_score.get(nid, 0.0) + w
                    name_hits[nid] = name_hits.get(nid, 0) + 1
            # one frequent key per query token: the exact form if the token has one
            best_freq: dict[int, tuple[float, int]] = {}
            for tid, w, qi in frequent:
                if qi not in best_freq or best_freq[qi][0] < w:
                    best_freq[qi] = (w, tid)
            if best_freq and not name_score:
                sets = sorted((self._frequent[tid] for _w, tid in best_freq.values()), key=len)
                common = set(sets[0])
                for other in sets[1:]:
                    narrowed = common & other
                    if narrowed:
                        common = narrowed
                for nid in list(common)[: self._max_df]:
                    name_score[nid] = 0.0
                    name_hits[nid] = 0
            for w, tid in best_freq.values():
                for nid in name_score.keys() & self._frequent[tid]:
                    name_score[nid] += w
                    name_hits[nid] += 1
            for nid in self._compact.get(form.compact, ()):
                name_score[nid] = name_score.get(nid, 0.0) + 10.0
                name_hits[nid] = n_tok
            for nid, sc in name_score.items():
                if best.get(nid, -1.0) < sc:
                    best[nid] = sc
                    share[nid] = name_hits.get(nid, 0) / n_tok
        ranked = heapq.nlargest(k * 4, best, key=best.__getitem__)
        top = [
            nid for rank, nid in enumerate(ranked) if rank < _ALWAYS_SCORED or share[nid] >= 0.5
        ][:k]
        out: dict[int, list[int]] = {}
        for nid in top:
            out.setdefault(self._name_owner[nid], []).append(nid)
        return out

    # -- search ---------------------------------------------------------------------------

    def search(self, query: Query, *, floor: float = REPORT_FLOOR, limit: int = 20) -> list[Match]:
        """Entries scoring at least ``floor`` against ``query``, best first."""
        names = [n for n in (query.name, *query.aliases) if n and n.strip()]
        if not names or not self._cands:
            return []
        schema = query.schema
        forms_by_schema: dict[str, list[NameForm]] = {}

        def q_forms(cand_schema: str) -> list[NameForm]:
            sch = schema or cand_schema
            got = forms_by_schema.get(sch)
            if got is None:
                got = _distinct_forms(analyze_name(n, sch) for n in names)
                forms_by_schema[sch] = got
            return got

        base_forms = q_forms("") if not schema else q_forms(schema)
        if not any(len(t.text) > 1 for f in base_forms for t in f.tokens):
            return []  # nothing but initials: no basis for a match
        positions = self._retrieve(base_forms, max(limit + 4, _NAMES_SCORED))
        out: list[Match] = []
        for pos, nids in positions.items():
            cand = self._cands[pos]
            cand_forms = [self._name_form[n] for n in nids]
            m = score_candidate_at(query, cand, q_forms(cand.schema), cand_forms, floor=floor)
            if m is not None:
                out.append(m)
        out.sort(key=lambda m: (-m.score, m.candidate.key))
        return out[:limit]
