"""Names for search: the normalised name and toneless pinyin stored on each party, and the
same normalisation for what a member of staff types into the search box.

``search_name`` is the display name trimmed, NFKC-normalised (full-width letters to ASCII)
and case-folded. ``search_pinyin`` holds, for a name with Chinese characters, the toneless
pinyin syllables separated by spaces followed by the same syllables run together
(``"zhang san feng zhangsanfeng"``), so that a prefix look-up finds both "zhang san" and
"zhangsan". ``ü`` is written ``v`` (``吕`` is ``lv``), as Chinese keyboards type it.
"""

from __future__ import annotations

import unicodedata

from pypinyin import lazy_pinyin

from bankcrm.core.crypto.fields import normalize_text

_TONE_DIGITS = str.maketrans("", "", "12345")


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a CJK ideograph (a Chinese character)."""
    return any(
        "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"
        for ch in text
    )


def search_name_of(text: str) -> str:
    """The searchable form of a name: trimmed, single-spaced, NFKC, case-folded."""
    return normalize_text(text or "")[:300]


def pinyin_syllables(text: str) -> list[str]:
    """The toneless pinyin syllables of the Chinese characters in ``text`` (others dropped)."""
    syllables: list[str] = []
    for part in lazy_pinyin(text or ""):
        word = part.strip().lower()
        if word and word.isascii() and word.isalpha() and not has_cjk(part):
            syllables.append(word)
    return syllables


def name_pinyin_syllables(name: str) -> list[str]:
    """Pinyin syllables of a Chinese personal name, its leading surname read as a surname
    (曾 is "zeng", not "ceng"), with the search box's table of surname readings."""
    from .search import SURNAME_READINGS

    text = unicodedata.normalize("NFKC", name or "").strip()
    for surname in sorted(SURNAME_READINGS, key=len, reverse=True):
        if text.startswith(surname):
            return [SURNAME_READINGS[surname], *pinyin_syllables(text[len(surname) :])]
    return pinyin_syllables(text)


def search_pinyin_of(*names: str) -> str:
    """``search_pinyin`` of a party: spaced then joined pinyin of each Chinese name given."""
    forms: list[str] = []
    for name in names:
        if not name or not has_cjk(name):
            continue
        syllables = name_pinyin_syllables(name)
        if not syllables:
            continue
        for form in (" ".join(syllables), "".join(syllables)):
            if form not in forms:
                forms.append(form)
    return " ".join(forms)[:600]


def normalize_pinyin_query(query: str) -> str:
    """What to look for in ``search_pinyin``: tone marks and tone digits removed, lower case.

    ``"Zhāng Sān"``, ``"zhang1 san1"`` and ``"ZHANG SAN"`` all give ``"zhang san"``;
    Chinese characters are turned into their pinyin; ``ü`` becomes ``v``.
    """
    text = unicodedata.normalize("NFKC", query or "")
    if has_cjk(text):
        return " ".join(pinyin_syllables(text))
    text = text.replace("ü", "v").replace("Ü", "v")
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = bare.translate(_TONE_DIGITS).casefold()
    return " ".join(bare.split())
