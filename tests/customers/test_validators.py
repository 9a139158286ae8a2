"""Resident ID and Unified Social Credit Code validators, with generated numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from bankcrm.customers.validators import (
    PROVINCE_CODES,
    USCC_ALPHABET,
    normalize_email_address,
    normalize_phone_e164,
    resident_id_check_character,
    resident_id_gender,
    uscc_check_character,
    validate_resident_id,
    validate_uscc,
)

TODAY = dt.date(2025, 1, 1)

resident_ids = st.builds(
    lambda province, rest, birth, seq: (
        (body := f"{province}{rest:04d}{birth:%Y%m%d}{seq:03d}")
        and body + resident_id_check_character(body)
    ),
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.integers(min_value=101, max_value=9999),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY),
    st.integers(min_value=0, max_value=999),
)

_USCC_FIRST = "123456789ABCDEFGHNY"
usccs = st.builds(
    lambda first, second, region, org: (
        (body := f"{first}{second}{region:06d}{org}") and body + uscc_check_character(body)
    ),
    st.sampled_from(_USCC_FIRST),
    st.sampled_from(USCC_ALPHABET),
    st.integers(min_value=110000, max_value=659999),
    st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9),
)


def test_known_resident_id_is_valid():
    # The standard's own example number (GB 11643-1999, appendix).
    assert validate_resident_id("11010519491231002X", today=TODAY) == "11010519491231002X"
    assert validate_resident_id("11010519491231002x", today=TODAY) == "11010519491231002X"
    assert resident_id_gender("11010519491231002X") == "female"


@given(resident_ids)
def test_generated_resident_ids_are_valid(number):
    assert validate_resident_id(number, today=TODAY) == number


@given(resident_ids, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_any_single_character_change_fails(number, position, replacement):
    if number[position] == replacement:
        replacement = "X" if replacement != "X" else "0"
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(ValidationError):
        validate_resident_id(changed, today=TODAY)


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("1101051949123100", "resident_id_length"),
        ("11010519491231002Y", "resident_id_format"),
        ("99010519491231002X", "resident_id_region"),
        ("110105194902300021", "resident_id_birth_date"),
        ("110105194912310021", "resident_id_check"),
    ],
)
def test_invalid_resident_ids_name_the_reason(number, code):
    with pytest.raises(ValidationError) as caught:
        validate_resident_id(number, today=TODAY)
    assert caught.value.code == code


def test_resident_id_birth_date_must_match_the_date_of_birth():
    with pytest.raises(ValidationError) as caught:
        validate_resident_id("11010519491231002X", date_of_birth=dt.date(1949, 12, 30))
    assert caught.value.code == "resident_id_birth_mismatch"
    assert validate_resident_id("11010519491231002X", date_of_birth=dt.date(1949, 12, 31))


def test_known_uscc_is_valid():
    # A published code (Alibaba (China) Network Technology Co., Ltd.).
    assert validate_uscc("91330100716105852F") == "91330100716105852F"


@given(usccs)
def test_generated_usccs_are_valid(code):
    assert validate_uscc(code) == code


@given(usccs, st.integers(min_value=0, max_value=17), st.sampled_from(USCC_ALPHABET))
def test_any_single_character_change_of_a_uscc_fails(code, position, replacement):
    if code[position] == replacement:
        replacement = "0" if replacement != "0" else "1"
    changed = code[:position] + replacement + code[position + 1 :]
    with pytest.raises(ValidationError):
        validate_uscc(changed)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("0086 13800138000", "+8613800138000"),
        ("010 8888 6666", "+861088886666"),
        ("+44 20 7946 0958", "+442079460958"),
        ("１３８００１３８０００", "+8613800138000"),
    ],
)
def test_phone_numbers_to_e164(value, expected):
    assert normalize_phone_e164(value) == expected


@pytest.mark.parametrize("value", ["12345", "13800abc000", "1380013800", "+86+138"])
def test_not_phone_numbers(value):
    with pytest.raises(ValidationError):
        normalize_phone_e164(value)


def test_email_normalised_and_checked():
    assert normalize_email_address("  Li.Na@Bank.CN ") == "li.na@bank.cn"
    with pytest.raises(ValidationError):
        normalize_email_address("li.na@bank")
