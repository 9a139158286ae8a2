"""Name normalisation for sanctions and PEP screening.

Turns a name written in any script into a list of :class:`Token` objects in a common Latin
form, with the keys the matcher and the index compare on:

* Latin with diacritics, Cyrillic, Greek and other scripts go through ``rigour``'s
  transliteration (``Шевченко`` -> ``shevchenko``); Arabic, Hebrew and other abjads through
  ``normality`` (vowels are mostly absent, so the token also carries a consonant skeleton).
* Chinese characters become Hanyu pinyin (``习近平`` -> ``xi`` + ``jinping``): the family name
  (one or two characters) is one token and the given name another, like the usual
  romanisation; tone marks and tone digits of pinyin input are dropped.
* Hangul becomes Revised Romanisation (``김정은`` -> ``gim`` + ``jeongeun``), and Korean and
  Chinese family names carry their romanisation variants (Park/Pak/Bak, Lee/Yi/Rhee, ...).
* Person prefixes (Mr, Dr, Sheikh ...) and organisation legal forms (LLC, Ltd, GmbH, 有限公司,
  ООО ...) are removed.

Everything here is pure Python without Django and is cached per distinct string.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from rigour.names import remove_org_types, remove_person_prefixes
from rigour.text.phonetics import metaphone
from rigour.text.translit import ascii_text

__all__ = [
    "ORG_SCHEMAS",
    "PERSON_SCHEMAS",
    "NameForm",
    "Token",
    "analyze_name",
    "hangul_romanize",
    "loose_key",
    "make_token",
    "name_variants",
    "skeleton",
    "surname_group",
]


def _split(text: str) -> list[str]:
    return text.split()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PERSON_SCHEMAS = frozenset({"person"})
ORG_SCHEMAS = frozenset({"organisation", "organization", "company", "legalentity"})

# ---------------------------------------------------------------------------------------------
# Script detection
# ---------------------------------------------------------------------------------------------

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")
_ABJAD_RE = re.compile(r"[\u0590-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def script_of(text: str) -> str:
    """The dominant non-Latin script family of ``text``: han, hangul, abjad or latin."""
    if _HANGUL_RE.search(text):
        return "hangul"
    if _HAN_RE.search(text):
        return "han"
    if _ABJAD_RE.search(text):
        return "abjad"
    return "latin"


# ---------------------------------------------------------------------------------------------
# Romanisation variant groups (family names mostly; Chinese dialect and Korean spellings)
# ---------------------------------------------------------------------------------------------

_VARIANT_GROUPS: tuple[tuple[str, ...], ...] = (
    # Korean family names (Revised Romanisation first)
    ("i", "lee", "yi", "rhee", "ri", "rhie", "lie"),
    ("bak", "park", "pak", "bahk", "piao"),
    ("gim", "kim"),
    ("choe", "choi", "chwe", "cui", "tsui"),
    ("jeong", "jung", "chung", "cheong", "chong", "joung"),
    ("gang", "kang"),
    ("jo", "cho", "joe"),
    ("yun", "yoon", "youn"),
    ("jang", "chang"),
    ("im", "lim", "rim", "yim"),
    ("sin", "shin"),
    ("o", "oh"),
    ("seo", "suh", "seoh"),
    ("gwon", "kwon", "kwun"),
    ("an", "ahn"),
    ("yu", "yoo", "ryu", "you", "rhyu", "you"),
    ("jeon", "jun", "chun", "chon", "jon"),
    ("go", "ko", "koh"),
    ("mun", "moon"),
    ("no", "noh", "roh", "ro"),
    ("baek", "paek", "paik", "baik", "back"),
    ("heo", "hur", "huh", "her"),
    ("u", "woo", "wu"),
    ("gu", "koo", "ku", "goo"),
    ("seong", "sung", "seung"),
    ("gwak", "kwak"),
    ("ju", "joo", "chu", "choo"),
    ("son", "sohn"),
    ("byeon", "byun", "pyon", "byon"),
    ("gil", "kil"),
    ("eom", "um", "uhm", "eum"),
    ("cheon", "chun", "chon"),
    ("hyeon", "hyun", "hyon"),
    # Chinese: pinyin, Wade-Giles, Cantonese, Hokkien spellings
    ("zhang", "chang", "cheung", "teo", "cheong"),
    ("chen", "chan", "chin", "tan", "chern"),
    ("wang", "wong", "ong", "heng"),
    ("li", "lee", "lei", "lie", "ly"),
    ("liu", "lau", "lao", "low", "lew"),
    ("huang", "hwang", "wong", "ng", "wee"),
    ("zhou", "chou", "chow", "chau", "chew"),
    ("wu", "woo", "ng", "goh"),
    ("zhao", "chao", "chiu", "chew"),
    ("xu", "hsu", "hsui", "tsui", "choi", "koh"),
    ("guo", "kuo", "kwok", "quek", "kwek"),
    ("he", "ho", "hoh"),
    ("lin", "lam", "lim", "lum"),
    ("gao", "kao", "ko", "koh"),
    ("luo", "lo", "law", "loh"),
    ("zheng", "cheng", "chang", "tay", "tee"),
    ("liang", "leung", "neo", "leong"),
    ("xie", "hsieh", "tse", "cheah", "chia"),
    ("song", "sung", "soong"),
    ("tang", "tong", "teng"),
    ("deng", "teng", "tang"),
    ("ye", "yeh", "yip", "yap", "ip"),
    ("cai", "tsai", "choi", "chua", "choy"),
    ("zeng", "tseng", "tsang", "chan"),
    ("jiang", "chiang", "kong", "keung"),
    ("xi", "hsi"),
    ("mao", "mau"),
    ("qian", "chien", "chin"),
    ("zhu", "chu", "chue", "choo"),
    ("hu", "hoo", "wu", "foo"),
    ("yang", "yeung", "yeo", "yong"),
    ("feng", "fung", "fong"),
    ("sun", "suen", "soon", "sng"),
    ("ma", "mah"),
    ("yu", "yue", "yee", "u"),
    ("jin", "chin", "kam", "kim"),
    # frequent Latin-script given-name spellings
    ("mohammed", "muhammad", "mohammad", "mohamed", "muhammed", "mohamad", "mohd", "mhmd"),
    ("aleksandr", "alexander", "aleksander", "alexandr", "oleksandr"),
    ("yuri", "yury", "yuriy", "iurii", "jurij", "juri"),
    ("sergei", "sergey", "serhiy", "sergej", "serguei"),
    ("dmitri", "dmitry", "dmitriy", "dmytro", "dimitri"),
    ("yevgeny", "evgeny", "evgeniy", "yevgeniy", "yevhen", "evgenii"),
    ("bin", "ibn", "ben", "bn", "ebn"),
    ("abu", "abou", "abo", "bou"),
    ("abd", "abdul", "abdel", "abdal", "abdoul", "abdu", "abdel"),
    ("al", "el", "ul", "ad", "ar", "as", "ash", "at", "az", "an", "ud"),
    ("xi", "hsi", "si", "shi"),
)


def _build_groups() -> dict[str, frozenset[int]]:
    out: dict[str, set[int]] = {}
    for number, group in enumerate(_VARIANT_GROUPS):
        for spelling in group:
            out.setdefault(spelling, set()).add(number)
    return {k: frozenset(v) for k, v in out.items()}


_GROUPS = _build_groups()


def surname_group(token: str) -> frozenset[int]:
    """Ids of the romanisation variant groups a token belongs to (empty when none)."""
    return _GROUPS.get(token, frozenset())


# ---------------------------------------------------------------------------------------------
# Chinese
# ---------------------------------------------------------------------------------------------

_CN_COMPOUND_SURNAMES = _words(
    "欧阳 司马 诸葛 上官 东方 皇甫 令狐 慕容 司徒 夏侯 尉迟 公孙 长孙 宇文 轩辕 端木 西门 "
    "南宫 独孤 百里 呼延 万俟 司空 澹台 公冶 宗政 濮阳 淳于 单于 太叔 申屠 闻人 赫连"
)
_CN_SURNAME_READING = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "区": "ou",
    "查": "zha",
    "乐": "yue",
    "盖": "ge",
    "华": "hua",
    "任": "ren",
    "覃": "qin",
    "缪": "miao",
    "翟": "zhai",
    "秘": "bi",
    "折": "she",
    "员": "yun",
    "黑": "he",
    "燕": "yan",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "长孙": "zhangsun",
    "单于": "chanyu",
    "沈": "shen",
    "石": "shi",
    "柏": "bai",
    "瞿": "qu",
    "繁": "po",
    "隗": "wei",
    "那": "na",
    "纪": "ji",
    "种": "chong",
}
_CN_LEGAL_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团公司",
    "控股集团",
    "股份公司",
    "总公司",
    "分公司",
    "公司",
    "集团",
    "有限",
    "株式会社",
    "合伙企业",
    "企业",
)
_CN_LEGAL_RE = re.compile("|".join(_CN_LEGAL_FORMS))
_HAN_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u00b7\u30fb]+")


def _pinyin(text: str) -> list[str]:
    return [s for s in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if s.strip()]


def han_person_tokens(text: str) -> list[str]:
    """Chinese personal name in characters -> [family, given] pinyin tokens."""
    text = text.replace("·", " ").replace("・", " ")
    if " " in text.strip() or len(text) > 4 or len(text) < 2:
        # transliterated foreign name or unusual length: syllables joined per word
        return ["".join(_pinyin(word)) for word in text.split() if word]
    family = text[:2] if text[:2] in _CN_COMPOUND_SURNAMES else text[:1]
    given = text[len(family) :]
    fam = _CN_SURNAME_READING.get(family) or "".join(_pinyin(family))
    return [t for t in (fam, "".join(_pinyin(given))) if t]


def han_org_tokens(text: str) -> list[str]:
    """Chinese organisation name -> pinyin syllables (legal forms removed)."""
    stripped = _CN_LEGAL_RE.sub(" ", text)
    return _pinyin(stripped) or _pinyin(text)


# ---------------------------------------------------------------------------------------------
# Korean (Revised Romanisation of Hangul syllables)
# ---------------------------------------------------------------------------------------------

_KO_INITIAL = _split("g kk n d tt r m b pp s ss - j jj ch k t p h")
_KO_MEDIAL = _split("a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i")
_KO_FINAL = ["", *_split("k k k n n n t l k m l l l p l m p p t t ng t t k t p t")]


def _ko_syllable(ch: str) -> str:
    code = ord(ch) - 0xAC00
    ini, rest = divmod(code, 588)
    med, fin = divmod(rest, 28)
    initial = _KO_INITIAL[ini]
    return ("" if initial == "-" else initial) + _KO_MEDIAL[med] + _KO_FINAL[fin]


def hangul_romanize(word: str) -> str:
    """Revised Romanisation of a Hangul word, syllable by syllable (no sound changes)."""
    return "".join(_ko_syllable(c) if _HANGUL_RE.match(c) else c for c in word)


def hangul_person_tokens(text: str) -> list[str]:
    words = text.split()
    if len(words) == 1 and 2 <= len(words[0]) <= 4 and _HANGUL_RE.fullmatch(words[0][0]):
        word = words[0]
        fam_len = 2 if len(word) == 4 else 1
        return [hangul_romanize(word[:fam_len]), hangul_romanize(word[fam_len:])]
    return [hangul_romanize(w) for w in words]


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------

_LOOSE_RULES = (
    ("yeo", "yo"),
    ("eo", "o"),
    ("eu", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("ou", "u"),
    ("ung", "ong"),
    ("tch", "j"),
    ("sch", "s"),
    ("sh", "s"),
    ("ch", "j"),
    ("tz", "z"),
    ("ts", "z"),
    ("dz", "z"),
    ("zh", "j"),
    ("kh", "h"),
    ("ph", "f"),
    ("th", "t"),
    ("ck", "k"),
    ("dh", "d"),
    ("gh", "g"),
    ("w", "v"),
    ("x", "ks"),
    ("q", "k"),
    ("c", "k"),
    ("k", "g"),
    ("t", "d"),
    ("p", "b"),
    ("l", "r"),
    ("y", "i"),
)
_DOUBLE_RE = re.compile(r"(.)\1+")
_VOWEL_RE = re.compile(r"[aeiouy]")


@lru_cache(maxsize=200_000)
def loose_key(token: str) -> str:
    """Spelling-insensitive key used for romanisation variants (jong/jeong, kh/h, ...)."""
    out = token
    for old, new in _LOOSE_RULES:
        out = out.replace(old, new)
    out = _DOUBLE_RE.sub(r"\1", out)
    out = out.rstrip("h") or out
    return out


_SKEL_RULES = (
    ("kh", "h"),
    ("sh", "s"),
    ("ch", "s"),
    ("th", "t"),
    ("dh", "d"),
    ("gh", "g"),
    ("ph", "f"),
    ("ou", "u"),
    ("p", "b"),
    ("v", "f"),
    ("q", "k"),
    ("c", "k"),
    ("z", "s"),
    ("x", "ks"),
    ("e", "a"),
    ("o", "a"),
    ("i", "a"),
    ("u", "a"),
    ("y", "a"),
    ("w", "a"),
)
_SKEL_VOWEL_RE = re.compile(r"a+")


@lru_cache(maxsize=200_000)
def skeleton(token: str) -> str:
    """Consonant skeleton, the way abjads write names: mhmd == mohammed, frnndw == fernando.

    A leading vowel is kept as ``a`` (``usama`` and ``osama`` both give ``asm``)."""
    out = token
    for old, new in _SKEL_RULES:
        out = out.replace(old, new)
    out = _DOUBLE_RE.sub(r"\1", out)
    lead = "a" if out.startswith("a") else ""
    return lead + _SKEL_VOWEL_RE.sub("", out)


_PINYIN_TONE_RE = re.compile(r"^(?:[a-z]+[1-5])+$")


@dataclass(frozen=True, slots=True, eq=False)
class Token:
    text: str  # ASCII lower-case form used for display and exact comparison
    origin: str  # latin | han | hangul | abjad
    phonetic: str  # metaphone
    loose: str
    skel: str
    groups: frozenset[int]
    weight: float
    legal: bool = False


@dataclass(frozen=True, slots=True)
class NameForm:
    original: str
    tokens: tuple[Token, ...]
    origin: str
    compact: str = field(default="")


# person prefixes rigour does not drop, and words that carry little identifying weight
_PERSON_NOISE = _words(
    "mr mrs ms miss dr prof sir madam mister herr frau haji hajji al-haji sheikh shaikh "
    "general gen col colonel lt major maj capt captain adm admiral brig sayyid sayed"
)
_ORG_LOW_WEIGHT = _words(
    "the of and for in de la du des der die das und et y e del van von al el co company group "
    "holding holdings international intl trading trade bank corporation corp limited ltd "
    "enterprise enterprises industries industry services service global general national "
    "import export management investment investments development commercial shipping "
    "llc inc jsc ojsc pjsc cjsc ooo zao oao sa ag gmbh plc bv nv srl spa sarl sl lp llp"
)
_PERSON_LOW_WEIGHT = _words("al el bin ibn bint abu ben van von de der da di du la le y")


def _token_weight(text: str, schema_kind: str) -> float:
    if schema_kind == "org" and text in _ORG_LOW_WEIGHT:
        return 0.3
    if schema_kind != "org" and text in _PERSON_LOW_WEIGHT:
        return 0.3
    if len(text) == 1:
        return 0.5
    if len(text) == 2:
        return 0.8
    return 1.0


def schema_kind(schema: str) -> str:
    s = (schema or "").lower()
    if s in PERSON_SCHEMAS:
        return "person"
    if s in ORG_SCHEMAS:
        return "org"
    if s in ("vessel", "aircraft"):
        return "object"
    return ""


_SPLIT_RE = re.compile(r"[^a-z0-9]+")
_PARTICLE_RE = re.compile(
    r"(?<![a-z0-9])(al|el|ul|ad|ar|as|ash|at|az|an|ud|bin|ibn|bint|abu|abd|abdul|abdel|ben|"
    r"ould|ait|d|l|o)['\u2019`\-\u2010\u2011](?=[a-z])"
)
_JOINER_RE = re.compile(r"(?<=[a-z0-9])['\u2019`\-\u2010\u2011](?=[a-z0-9])")
_ACRONYM_RE = re.compile(r"(?<![a-z0-9])((?:[a-z]\.){2,}[a-z]?)(?![a-z0-9])")


def _latin_tokens(text: str, acronyms: bool = False) -> list[str]:
    text = _PARTICLE_RE.sub(r"\1 ", text)
    text = _JOINER_RE.sub("", text)
    if acronyms:
        text = _ACRONYM_RE.sub(lambda m: m.group(1).replace(".", ""), text)
    out = []
    for raw in _SPLIT_RE.split(text):
        if not raw:
            continue
        if _PINYIN_TONE_RE.match(raw):
            raw = re.sub(r"[1-5]", "", raw)
        out.append(raw)
    return out


def _is_article(word: str) -> bool:
    return word.startswith("al") and len(word) >= 5


_ALT_SPLIT_RE = re.compile(r"\s*/\s*")


def name_variants(name: str) -> list[str]:
    """A name and, when it lists alternatives with slashes ("Al-Qa'ida/Islamic Army"), each."""
    if "/" not in name:
        return [name]
    parts = [p for p in _ALT_SPLIT_RE.split(name) if sum(c.isalpha() for c in p) >= 3]
    if len(parts) < 2:
        return [name]
    return [name, *parts]


@lru_cache(maxsize=300_000)
def make_token(text: str, origin: str, kind: str, legal: bool = False) -> Token:
    """The token of ``text`` (one shared object per distinct argument set, so the matcher's
    per-token-pair cache also serves other names and queries holding the same word)."""
    return Token(
        text=text,
        origin=origin,
        phonetic=metaphone(text) if text.isalpha() else text,
        loose=loose_key(text),
        skel=skeleton(text),
        groups=surname_group(text),
        weight=0.2 if legal else 1.0 if origin in ("han", "hangul") else _token_weight(text, kind),
        legal=legal,
    )


@lru_cache(maxsize=100_000)
def analyze_name(name: str, schema: str = "") -> NameForm:
    """Normalise one name into tokens. ``schema`` is a Candidate/Query schema or FtM schema."""
    kind = schema_kind(schema)
    text = unicodedata.normalize("NFKC", name or "").strip()
    origin = script_of(text)
    parts: list[str] = []
    if origin in ("han", "hangul"):
        # Latin portions of a mixed name are handled separately
        native = "".join(c if not c.isascii() or c == " " else " " for c in text)
        latin = "".join(c if c.isascii() else " " for c in text)
        if origin == "han":
            if kind == "org" or (kind == "" and len(native.strip()) > 4):
                parts = han_org_tokens(native)
            else:
                parts = han_person_tokens(native.strip())
        else:
            if kind == "org":
                parts = [hangul_romanize(w) for w in native.split()]
            else:
                parts = hangul_person_tokens(native.strip())
        parts = [p.lower() for p in parts if p]
        if latin.strip():
            parts += _latin_tokens(ascii_text(latin).lower())
    else:
        ascii_form = ascii_text(text).lower()
        parts = _latin_tokens(ascii_form, acronyms=kind != "person")
        if origin == "abjad":
            # the Arabic article is written joined to the word: الأسد -> al + asd
            parts = [q for p in parts for q in (["al", p[2:]] if _is_article(p) else [p])]
    legal_flags = [False] * len(parts)
    if kind in ("org", "") and origin not in ("han", "hangul"):
        # legal forms are found on the original words (rigour's table is casefolded text)
        lowered = text.casefold()
        stripped_text = remove_org_types(lowered)
        if stripped_text != lowered:
            kept = Counter(_latin_tokens(ascii_text(stripped_text).lower(), kind != "person"))
            flags = []
            for p in parts:
                if kept[p] > 0:
                    kept[p] -= 1
                    flags.append(False)
                else:
                    flags.append(True)
            if not all(flags):
                legal_flags = flags
    if kind != "org":
        cleaned = remove_person_prefixes(" ".join(parts)).split()
        if cleaned and len(cleaned) < len(parts):
            parts = cleaned
            legal_flags = [False] * len(parts)
        if len(parts) > 1:
            keep = [p not in _PERSON_NOISE for p in parts]
            if any(keep):
                legal_flags = [f for f, k in zip(legal_flags, keep, strict=True) if k]
                parts = [p for p, k in zip(parts, keep, strict=True) if k]
    tokens = tuple(
        make_token(p, origin, kind, legal=f) for p, f in zip(parts, legal_flags, strict=True)
    )
    compact = "".join(t.text for t in tokens if not t.legal)
    return NameForm(original=name, tokens=tokens, origin=origin, compact=compact)
