"""The customer search box: what a query looks like, and how names compare.

One box finds a customer by name (Chinese characters, pinyin with or without tone marks and
spaces, Latin names, prefixes of any of these), phone, e-mail, identity document number or
account number. :func:`classify_query` decides what the text most likely is; personal data
(phones, e-mails, document and account numbers) is found by exact blind-index look-ups only,
names by prefix on their normalised and pinyin forms (:func:`name_search_key`,
:func:`pinyin_key`).

The look-up itself (:func:`customer_search`) reads through the customers' selectors, so it is
scoped to the actor like every other read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ParsedQuery",
    "QueryKind",
    "SearchResult",
    "classify_query",
    "customer_search",
    "name_search_key",
    "phone_variants",
    "pinyin_key",
    "pinyin_segmentations",
    "pinyin_syllables",
    "segment_pinyin",
    "strip_tones",
]


class QueryKind(StrEnum):
    """What a search query looks like; recorded in the audit trail instead of the value."""

    EMPTY = "empty"
    PHONE = "phone"
    EMAIL = "email"
    RESIDENT_ID = "resident_id"
    IDENTIFIER = "identifier"
    ACCOUNT_NUMBER = "account_number"
    NAME = "name"
    PINYIN = "pinyin"

    @property
    def label(self) -> str:
        return str(QUERY_KIND_LABELS[self])

    @property
    def is_personal_data(self) -> bool:
        """Whether the query is itself personal data (never stored, never echoed in logs)."""
        return self in {
            QueryKind.PHONE,
            QueryKind.EMAIL,
            QueryKind.RESIDENT_ID,
            QueryKind.IDENTIFIER,
            QueryKind.ACCOUNT_NUMBER,
        }


QUERY_KIND_LABELS = {
    QueryKind.EMPTY: _("nothing"),
    QueryKind.PHONE: _("phone number"),
    QueryKind.EMAIL: _("e-mail address"),
    QueryKind.RESIDENT_ID: _("resident ID number"),
    QueryKind.IDENTIFIER: _("document number"),
    QueryKind.ACCOUNT_NUMBER: _("account number"),
    QueryKind.NAME: _("name"),
    QueryKind.PINYIN: _("pinyin"),
}


# --- Names ---------------------------------------------------------------------------------


def name_search_key(text: str | None) -> str:
    """A name as compared by the search: NFKC (full-width to half-width), case-folded,
    inner white space collapsed to one space, trimmed.

    ``"  ＬＩ   Wei "`` and ``"li wei"`` give the same key; Chinese characters are kept.
    """
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    # Case folding can produce characters NFKC would compose differently (e.g. "ǰ").
    folded = unicodedata.normalize("NFKC", folded)
    return " ".join(folded.split())


_COMBINING_DIAERESIS = "\u0308"
# "u:" and "ü" are both written for the same vowel; pypinyin's plain style writes "v".
_U_COLON = re.compile(r"u:", re.IGNORECASE)


def strip_tones(text: str) -> str:
    """Latin text without tone marks or tone numbers, "ü" written "v" as typed on a keyboard.

    ``"Lǚ Wěi"`` → ``"lv wei"``; ``"li3 wei3"`` → ``"li wei"``; other letters lose their
    accents too (``"José"`` → ``"jose"``), which is what a search box should forgive.
    """
    text = _U_COLON.sub("v", unicodedata.normalize("NFKC", text))
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            if ch == _COMBINING_DIAERESIS and out and out[-1] in "uU":
                out[-1] = "v"
            continue
        out.append(ch)
    stripped = "".join(out).casefold()
    # Tone numbers follow a syllable's letters: "li3wei3", "lv4". Digits elsewhere stay.
    return re.sub(r"(?<=[a-z])[1-5](?![0-9])", "", stripped)


# Readings of surnames that differ from the character's everyday reading: a name's first
# character is read with these (曾 is "zeng" as a surname, "ceng" in 曾经).
SURNAME_READINGS: dict[str, str] = {
    "曾": "zeng",
    "单": "shan",
    "仇": "qiu",
    "解": "xie",
    "区": "ou",
    "查": "zha",
    "朴": "piao",
    "覃": "qin",
    "乐": "yue",
    "盖": "ge",
    "种": "chong",
    "召": "shao",
    "缪": "miao",
    "翟": "zhai",
    "华": "hua",
    "繁": "po",
    "句": "gou",
    "阚": "kan",
    "隗": "wei",
    "祭": "zhai",
    "员": "yun",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "长孙": "zhangsun",
    "单于": "chanyu",
    "澹台": "tantai",
}


def _is_han(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY"))


def _han_syllables(text: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return [s.casefold() for s in lazy_pinyin(text, style=Style.NORMAL, errors="default")]


def pinyin_key(text: str | None) -> str:
    """The name's pinyin without tones or spaces, lower case: the form prefix searches use.

    Chinese characters are read with pypinyin (a leading surname with its surname reading);
    Latin text — typed pinyin with or without tone marks or tone numbers — loses its marks.
    ``"李伟"``, ``"Li Wei"``, ``"liwei"``, ``"lǐ wěi"`` and ``"li3 wei3"`` all give
    ``"liwei"``. Anything that is neither a letter nor a digit (spaces, apostrophes
    as in "xi'an", dots of transliterated names) is dropped.
    """
    if not text:
        return ""
    text = _U_COLON.sub("v", unicodedata.normalize("NFKC", str(text)).strip())
    parts: list[str] = []
    rest = text
    for surname in sorted(SURNAME_READINGS, key=len, reverse=True):
        if rest.startswith(surname):
            parts.append(SURNAME_READINGS[surname])
            rest = rest[len(surname) :]
            break
    if any(_is_han(ch) for ch in rest):
        parts.extend(_han_syllables(rest))
    else:
        parts.append(rest)
    # Separators go first, so that a tone number is recognised by the letters before it.
    joined = "".join(ch for ch in "".join(parts) if ch.isalnum() or unicodedata.combining(ch))
    return "".join(ch for ch in strip_tones(joined) if ch.isalnum())


@cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable of pypinyin's dictionary ("ü" as "v")."""
    from pypinyin.pinyin_dict import pinyin_dict

    syllables: set[str] = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            plain = strip_tones(reading.strip())
            if plain.isalpha() and plain.isascii():
                syllables.add(plain)
    return frozenset(syllables)


_LONGEST_SYLLABLE = 6  # "zhuang", "shuang", "chuang"


def segment_pinyin(text: str) -> list[str] | None:
    """``text`` (toneless, no spaces) cut into pinyin syllables, or None when it cannot be.

    Prefers the fewest syllables ("xian" → ["xian"], not ["xi", "an"]). A final incomplete
    syllable is allowed (the box searches as one types: "liw" → ["li", "w"]) when it starts a
    known syllable.
    """
    if not text or not text.isascii() or not text.isalpha():
        return None
    syllables = pinyin_syllables()
    n = len(text)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for start in range(n):
        current = best[start]
        if current is None:
            continue
        for end in range(start + 1, min(n, start + _LONGEST_SYLLABLE) + 1):
            piece = text[start:end]
            candidate = [*current, piece]
            fits = piece in syllables or (end == n and _starts_a_syllable(piece))
            known = best[end]
            if fits and (known is None or len(candidate) < len(known)):
                best[end] = candidate
    return best[n]


def pinyin_segmentations(text: str, limit: int = 3) -> list[list[str]]:
    """Up to ``limit`` ways to cut ``text`` into pinyin syllables, fewest syllables first.

    "xian" is 先 ("xian") or 西安 ("xi an"): a search tries each reading. The last piece may
    be the start of a syllable, as in :func:`segment_pinyin`.
    """
    if not text or not text.isascii() or not text.isalpha() or len(text) > 60:
        return []
    syllables = pinyin_syllables()
    found: list[list[str]] = []
    dead_ends: set[int] = set()  # positions from which no cut reaches the end

    def walk(start: int, sofar: list[str]) -> None:
        if len(found) >= limit * 4 or start in dead_ends:
            return
        if start == len(text):
            found.append(sofar)
            return
        before = len(found)
        for end in range(min(len(text), start + _LONGEST_SYLLABLE), start, -1):
            piece = text[start:end]
            if piece in syllables or (end == len(text) and _starts_a_syllable(piece)):
                walk(end, [*sofar, piece])
        if len(found) == before:
            dead_ends.add(start)

    walk(0, [])
    found.sort(key=len)
    return found[:limit]


@cache
def _syllable_prefixes() -> frozenset[str]:
    return frozenset(s[:i] for s in pinyin_syllables() for i in range(1, len(s) + 1))


def _starts_a_syllable(piece: str) -> bool:
    return piece in _syllable_prefixes()


# --- Query classification ------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_RESIDENT_ID = re.compile(r"^\d{17}[\dx]$", re.IGNORECASE)
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_DOCUMENT = re.compile(r"^[A-Z0-9]{5,30}$")
_TONE_MARKED = re.compile(r"[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]", re.IGNORECASE)
_PINYIN_TONE_NUMBERS = re.compile(r"^(?:[a-zv]+[1-5]?[\s']*)+$", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedQuery:
    """A classified query: its kind, the text as typed (trimmed) and its search forms."""

    kind: QueryKind
    text: str
    #: The name as the name search compares it (names and pinyin only).
    name_key: str = ""
    #: The toneless pinyin without spaces (names and pinyin only).
    pinyin: str = ""

    @property
    def is_name(self) -> bool:
        return self.kind in {QueryKind.NAME, QueryKind.PINYIN}


def _compact(text: str) -> str:
    return "".join(text.split())


def _looks_like_phone(text: str) -> bool:
    stripped = _PHONE_SEPARATORS.sub("", text)
    if stripped.startswith("+"):
        return stripped[1:].isdigit() and 7 <= len(stripped) - 1 <= 15
    if not stripped.isdigit():
        return False
    if stripped.startswith("00"):
        return 9 <= len(stripped) <= 17
    # Mainland mobile numbers: 11 digits starting with 1 (13x-19x).
    if len(stripped) == 11 and stripped[0] == "1" and stripped[1] in "3456789":
        return True
    # Written with a phone's separators ("010-8888 6666", "(021) 5555 0000").
    return stripped != _compact(text) and 7 <= len(stripped) <= 15


def classify_query(raw: str | None) -> ParsedQuery:
    """What the search box's text looks like: phone, e-mail, resident ID, document number,
    account number, pinyin or name (in that order of precedence).

    Digits alone are an account number unless they look like a phone (an international prefix,
    a mainland mobile number, phone separators) or an 18-character resident ID. Letters mixed
    with digits are a document number (passport, tax id) unless shaped like an IBAN.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        return ParsedQuery(QueryKind.EMPTY, "")
    compact = _compact(text)
    if _EMAIL.match(compact):
        return ParsedQuery(QueryKind.EMAIL, compact)
    if _RESIDENT_ID.match(compact):
        return ParsedQuery(QueryKind.RESIDENT_ID, compact.upper())
    if _looks_like_phone(text):
        return ParsedQuery(QueryKind.PHONE, text)
    bare = compact.replace("-", "").upper()
    if bare.isdigit():
        return ParsedQuery(QueryKind.ACCOUNT_NUMBER, bare)
    if _IBAN.match(bare):
        return ParsedQuery(QueryKind.ACCOUNT_NUMBER, bare)
    has_digit = any(ch.isdigit() for ch in bare)
    if has_digit and _DOCUMENT.match(bare) and not _PINYIN_TONE_NUMBERS.match(text):
        return ParsedQuery(QueryKind.IDENTIFIER, bare)
    key = name_search_key(text)
    pinyin = pinyin_key(text)
    if any(_is_han(ch) for ch in text):
        return ParsedQuery(QueryKind.NAME, text, name_key=key, pinyin=pinyin)
    latin = strip_tones(text)
    typed_pinyin = (
        _TONE_MARKED.search(text) is not None
        or (has_digit and _PINYIN_TONE_NUMBERS.match(text) is not None)
        or segment_pinyin("".join(ch for ch in latin if ch.isalpha())) is not None
    )
    if typed_pinyin and pinyin and segment_pinyin(pinyin) is not None:
        return ParsedQuery(QueryKind.PINYIN, text, name_key=key, pinyin=pinyin)
    return ParsedQuery(QueryKind.NAME, text, name_key=key, pinyin=pinyin)


def phone_variants(text: str) -> list[str]:
    """The forms a phone number may have been stored in, for exact blind-index look-ups.

    A mainland mobile number is stored either as typed ("13812345678") or in E.164
    ("+8613812345678"); the search tries both.
    """
    stripped = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text).strip())
    if stripped.startswith("00"):
        stripped = "+" + stripped[2:]
    variants = [stripped]
    if stripped.startswith("+86") and len(stripped) == 14:
        variants.append(stripped[3:])
    elif not stripped.startswith("+") and len(stripped) == 11 and stripped.startswith("1"):
        variants.append("+86" + stripped)
    elif not stripped.startswith("+") and stripped.startswith("0") and 9 <= len(stripped) <= 12:
        # A mainland landline with its trunk zero: E.164 drops the zero.
        variants.append("+86" + stripped[1:])
    return list(dict.fromkeys(variants))


# --- The look-up ---------------------------------------------------------------------------

SEARCH_LIMIT = 25


@dataclass(frozen=True)
class SearchResult:
    """What one search found: the classified query, the parties (at most ``limit``) and
    whether more matched than are shown."""

    query: ParsedQuery
    parties: list[Any]
    has_more: bool


def _blind(model: Any, field: str, values: list[str]) -> list[str]:
    from bankcrm.core.crypto import blind_index

    return [index for index in (blind_index(model, field, v) for v in values) if index]


def _matching_party_pks(parsed: ParsedQuery) -> list[Any]:
    """The keys of the parties a personal-data query names (exact blind-index look-ups).

    Each look-up is its own indexed ``SELECT party_id``, joined with ``UNION`` into one
    query: ORed into a condition on the parties instead, they would make the database
    read every party (an OR across tables cannot use the indexes).
    """
    from bankcrm.banking.models import Account, AccountRole
    from bankcrm.customers.models import ContactPoint, Identifier, OrganisationProfile

    kind = parsed.kind
    lookups: list[QuerySet[Any]] = []
    if kind == QueryKind.EMAIL:
        lookups.append(
            ContactPoint.objects.filter(
                kind=ContactPoint.Kind.EMAIL,
                value_index__in=_blind(ContactPoint, "value_index", [parsed.text]),
            ).values_list("party_id")
        )
    if kind == QueryKind.PHONE or kind == QueryKind.ACCOUNT_NUMBER:
        phones = phone_variants(parsed.text)
        if kind == QueryKind.PHONE or len(parsed.text) >= 7:
            lookups.append(
                ContactPoint.objects.filter(
                    kind=ContactPoint.Kind.PHONE,
                    value_index__in=_blind(ContactPoint, "value_index", phones),
                ).values_list("party_id")
            )
    if kind in {QueryKind.ACCOUNT_NUMBER, QueryKind.IDENTIFIER, QueryKind.PHONE}:
        # Account numbers come in every shape (IBANs, card-like numbers, short legacy
        # numbers): a digit run that looks like a phone may still be one.
        number = _PHONE_SEPARATORS.sub("", parsed.text)
        accounts = Account.objects.filter(
            number_index__in=_blind(Account, "number_index", [number])
        )
        lookups.append(accounts.values_list("owner_id"))
        lookups.append(
            AccountRole.objects.filter(account_id__in=accounts.values("pk")).values_list("party_id")
        )
    if kind in {QueryKind.RESIDENT_ID, QueryKind.IDENTIFIER, QueryKind.ACCOUNT_NUMBER}:
        lookups.append(
            Identifier.objects.filter(
                number_index__in=_blind(Identifier, "number_index", [parsed.text])
            ).values_list("party_id")
        )
        if len(parsed.text) == 18:
            # A Unified Social Credit Code is public register data, kept in clear.
            lookups.append(
                OrganisationProfile.objects.filter(uscc=parsed.text.upper()).values_list("party_id")
            )
    if not lookups:
        return []
    # Models' default orderings are not allowed inside a UNION.
    first, *others = (lookup.order_by() for lookup in lookups)
    query = first.union(*others) if others else first.distinct()
    return [pk for (pk,) in query]


def _name_condition(parsed: ParsedQuery) -> Q:
    from bankcrm.customers.naming import search_name_of

    # The stored column and the query go through the same normaliser.
    condition = Q(search_name__startswith=search_name_of(parsed.text))
    # ``search_pinyin`` starts with the spaced syllables ("li wei liwei"): the query's
    # toneless letters are cut into syllables the same way, whatever spacing was typed.
    for syllables in pinyin_segmentations(parsed.pinyin):
        condition |= Q(search_pinyin__startswith=" ".join(syllables))
    return condition


def customer_search(*, actor: Any, query: str | None, limit: int = SEARCH_LIMIT) -> SearchResult:
    """Customers ``actor`` may see matching the search box's ``query``, best matches first.

    Names match by prefix (characters, case-folded Latin names, pinyin with or without tones
    or spaces); phones, e-mails, document and account numbers only exactly, through their
    blind indexes. A look-up by personal data is itself recorded in the audit trail as
    ``customer.search`` with the kind of query and the number of customers found — never
    the value searched for.
    """
    from bankcrm.core.crypto.envelope import preload_data_keys
    from bankcrm.customers.models import ContactPoint, Party

    parsed = classify_query(query)
    if parsed.kind == QueryKind.EMPTY:
        return SearchResult(query=parsed, parties=[], has_more=False)
    visible = Party.objects.visible_to(actor)
    if parsed.is_name:
        if not parsed.name_key and not parsed.pinyin:
            return SearchResult(query=parsed, parties=[], has_more=False)
        matches = visible.filter(_name_condition(parsed))
    else:
        pks = _matching_party_pks(parsed)
        matches = visible.filter(pk__in=pks) if pks else visible.none()
    rows = list(
        matches.select_related("owning_unit", "portfolio__manager", "person")
        .prefetch_related(
            Prefetch(
                "contact_points",
                queryset=ContactPoint.objects.filter(kind=ContactPoint.Kind.PHONE, is_primary=True),
                to_attr="primary_phones",
            )
        )
        .order_by("display_name", "pk")[: limit + 1]
    )
    # The masked phones are decrypted under each customer's own key: unwrap them at once.
    preload_data_keys({party.data_key_id for party in rows if party.data_key_id})
    result = SearchResult(query=parsed, parties=rows[:limit], has_more=len(rows) > limit)
    if parsed.kind.is_personal_data:
        from .services import customer_search_record

        customer_search_record(
            actor=actor, query_kind=parsed.kind.value, results=len(result.parties)
        )
    return result
