"""The search box's normaliser: name keys, pinyin keys and query classification."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bankcrm.customers.search import (
    QueryKind,
    classify_query,
    name_search_key,
    phone_variants,
    pinyin_key,
    segment_pinyin,
    strip_tones,
)

# Tone-marked spellings of some syllables, each with its plain form.
TONED = {
    "lǐ": "li",
    "wěi": "wei",
    "zhāng": "zhang",
    "wáng": "wang",
    "lǜ": "lv",
    "nǚ": "nv",
    "chén": "chen",
    "yáng": "yang",
    "ōu": "ou",
    "xiǎo": "xiao",
    "míng": "ming",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("李伟", "liwei"),
        ("Li Wei", "liwei"),
        ("liwei", "liwei"),
        ("lǐ wěi", "liwei"),
        ("li3 wei3", "liwei"),
        ("ＬＩ　ＷＥＩ", "liwei"),
        ("欧阳娜娜", "ouyangnana"),
        ("曾小贤", "zengxiaoxian"),  # the surname reading, not "ceng"
        ("单田芳", "shantianfang"),
        ("吕伟", "lvwei"),
        ("lǚ wěi", "lvwei"),
        ("lu:wei", "lvwei"),
        ("Xi'an", "xian"),
        ("", ""),
        (None, ""),
    ],
)
def test_pinyin_key(text, expected):
    assert pinyin_key(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  ＬＩ   Wei ", "li wei"),
        ("李　伟", "李 伟"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
        ("", ""),
    ],
)
def test_name_search_key(text, expected):
    assert name_search_key(text) == expected


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("li wei", QueryKind.PINYIN),
        ("liwei", QueryKind.PINYIN),
        ("lǐ wěi", QueryKind.PINYIN),
        ("li3 wei3", QueryKind.PINYIN),
        ("李伟", QueryKind.NAME),
        ("Smith", QueryKind.NAME),
        ("13812345678", QueryKind.PHONE),
        ("+86 138 1234 5678", QueryKind.PHONE),
        ("0086 13812345678", QueryKind.PHONE),
        ("010-8888 6666", QueryKind.PHONE),
        ("li.wei@bank.example", QueryKind.EMAIL),
        ("11010519491231002X", QueryKind.RESIDENT_ID),
        ("11010519491231002x", QueryKind.RESIDENT_ID),
        ("E12345678", QueryKind.IDENTIFIER),
        ("6222020200112233445", QueryKind.ACCOUNT_NUMBER),
        ("1787", QueryKind.ACCOUNT_NUMBER),
        ("DE89370400440532013000", QueryKind.ACCOUNT_NUMBER),
        ("   ", QueryKind.EMPTY),
        (None, QueryKind.EMPTY),
    ],
)
def test_classify_examples(query, kind):
    assert classify_query(query).kind == kind


def test_classified_values_are_compact():
    assert classify_query(" 11010519491231002x ").text == "11010519491231002X"
    assert classify_query("6222 0202 0011").text == "622202020011"
    parsed = classify_query("lǐ wěi")
    assert (parsed.name_key, parsed.pinyin) == ("lǐ wěi", "liwei")


def test_personal_data_kinds():
    personal = {kind for kind in QueryKind if kind.is_personal_data}
    assert personal == {
        QueryKind.PHONE,
        QueryKind.EMAIL,
        QueryKind.RESIDENT_ID,
        QueryKind.IDENTIFIER,
        QueryKind.ACCOUNT_NUMBER,
    }


def test_segment_pinyin():
    assert segment_pinyin("zhangsan") == ["zhang", "san"]
    assert segment_pinyin("xian") == ["xian"]
    assert segment_pinyin("liw") == ["li", "w"]
    assert segment_pinyin("smith") is None
    assert segment_pinyin("") is None


def test_phone_variants():
    assert phone_variants("+86 138 1234 5678") == ["+8613812345678", "13812345678"]
    assert phone_variants("13812345678") == ["13812345678", "+8613812345678"]
    assert phone_variants("0086-138-1234-5678") == ["+8613812345678", "13812345678"]
    assert phone_variants("010 8888 6666") == ["01088886666", "+861088886666"]
    assert phone_variants("+44 20 7946 0958") == ["+442079460958"]


# --- Properties ----------------------------------------------------------------------------

syllable_lists = st.lists(st.sampled_from(sorted(TONED)), min_size=1, max_size=4)


@given(syllable_lists, st.sampled_from(["", " ", "  ", "'"]))
def test_tones_and_spaces_never_change_the_pinyin_key(syllables, separator):
    plain = "".join(TONED[s] for s in syllables)
    assert pinyin_key(separator.join(syllables)) == plain
    assert pinyin_key(" ".join(TONED[s] for s in syllables)) == plain
    assert pinyin_key(plain.upper()) == plain


@given(syllable_lists)
def test_typed_pinyin_is_classified_as_pinyin(syllables):
    parsed = classify_query(" ".join(syllables))
    assert parsed.kind == QueryKind.PINYIN
    assert parsed.pinyin == "".join(TONED[s] for s in syllables)


@given(st.text(max_size=40))
def test_name_search_key_is_idempotent(text):
    key = name_search_key(text)
    assert name_search_key(key) == key
    assert key == key.strip()
    assert "  " not in key


@given(st.text(max_size=40))
def test_pinyin_key_is_idempotent_and_compact(text):
    key = pinyin_key(text)
    assert pinyin_key(key) == key
    assert all(ch.isalnum() for ch in key)


@given(st.text(alphabet=string.ascii_letters + " ", max_size=30))
def test_strip_tones_keeps_plain_ascii(text):
    assert strip_tones(text) == text.casefold()


@given(st.text(max_size=60))
def test_classify_never_fails(text):
    parsed = classify_query(text)
    assert parsed.kind in set(QueryKind)
    assert (parsed.kind == QueryKind.EMPTY) == (parsed.text == "")


def _resident_id_check(body: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


@given(st.text(alphabet=string.digits, min_size=17, max_size=17))
def test_resident_ids_are_recognised(body):
    number = body + _resident_id_check(body)
    parsed = classify_query(f" {number.lower()} ")
    assert parsed.kind == QueryKind.RESIDENT_ID
    assert parsed.text == number.upper()


@given(
    st.sampled_from("3456789"),
    st.text(alphabet=string.digits, min_size=9, max_size=9),
    st.sampled_from(["", "+86 ", "0086", "+86-"]),
)
def test_mainland_mobile_numbers_are_phones(second, rest, prefix):
    number = f"1{second}{rest}"
    parsed = classify_query(prefix + number)
    assert parsed.kind == QueryKind.PHONE
    assert "+86" + number in phone_variants(parsed.text)
    assert number in phone_variants(parsed.text)


@given(
    st.text(alphabet=string.ascii_lowercase + string.digits + "._", min_size=1, max_size=12),
    st.sampled_from(["bank.example", "mail.cn", "例子.中国"]),
)
def test_email_addresses_are_recognised(local, domain):
    assert classify_query(f"{local}@{domain}").kind == QueryKind.EMAIL


@given(st.text(alphabet=string.digits, min_size=1, max_size=6))
def test_short_digit_runs_are_account_numbers(digits):
    parsed = classify_query(digits)
    assert parsed.kind == QueryKind.ACCOUNT_NUMBER
    assert parsed.text == digits
