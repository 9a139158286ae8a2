"""Money: exact amounts in one ISO 4217 currency."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.template import Context, Template

from bankcrm.core.currencies import CURRENCIES
from bankcrm.core.money import (
    AmountField,
    CurrencyField,
    CurrencyMismatch,
    Money,
    UnknownCurrency,
    format_money,
    parse_amount,
    parse_money,
)

D = Decimal


def test_currency_table_minor_units():
    expected = {
        "CNY": 2,
        "USD": 2,
        "EUR": 2,
        "JPY": 0,
        "KRW": 0,
        "BHD": 3,
        "KWD": 3,
        "CZK": 2,
        "HKD": 2,
        "CLF": 4,
        "UYW": 4,
        "ISK": 0,
        "VND": 0,
        "TND": 3,
    }
    assert {code: CURRENCIES[code].minor_units for code in expected} == expected
    assert CURRENCIES["CNY"].numeric == "156"
    assert len(CURRENCIES) == 166
    assert all(len(code) == 3 and code.isupper() for code in CURRENCIES)
    # Withdrawn codes are not accepted for new amounts.
    assert not {"HRK", "LTL", "VEF", "MRO", "STD", "ZMK", "BYR"} & set(CURRENCIES)


def test_construction_is_exact_and_validated():
    assert Money(D("1.10"), "cny") == Money(D("1.10"), "CNY")
    assert Money(5, "JPY").amount == D(5)
    assert Money("12.30", "USD").amount == D("12.30")
    with pytest.raises(TypeError):
        Money(1.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Money(D("NaN"), "USD")
    with pytest.raises(UnknownCurrency):
        Money(1, "XYZ")
    with pytest.raises(UnknownCurrency):
        Money(1, "HRK")


def test_money_is_immutable():
    money = Money(1, "USD")
    with pytest.raises(AttributeError):
        money.amount = D(2)  # type: ignore[misc]


def test_arithmetic_within_one_currency_only():
    a, b = Money(D("10.25"), "CNY"), Money(D("0.75"), "CNY")
    assert a + b == Money(D("11.00"), "CNY")
    assert a - b == Money(D("9.50"), "CNY")
    assert a * 2 == Money(D("20.50"), "CNY")
    assert 3 * b == Money(D("2.25"), "CNY")
    assert a / 4 == Money(D("2.5625"), "CNY")
    assert -a == Money(D("-10.25"), "CNY")
    assert abs(Money(-1, "CNY")) == Money(1, "CNY")
    assert sum([a, b]) == Money(D("11.00"), "CNY")
    assert a > b and b < a and a >= a and a <= a
    usd = Money(1, "USD")
    with pytest.raises(CurrencyMismatch):
        a + usd
    with pytest.raises(CurrencyMismatch):
        a - usd
    with pytest.raises(CurrencyMismatch):
        a < usd
    assert a != Money(D("10.25"), "USD")
    with pytest.raises(TypeError):
        a * 1.5
    with pytest.raises(TypeError):
        a * a
    with pytest.raises(TypeError):
        a + 1


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.125", "USD", "0.12"),  # half-even: to the even cent
        ("0.135", "USD", "0.14"),
        ("-0.125", "USD", "-0.12"),
        ("2.5", "JPY", "2"),
        ("3.5", "JPY", "4"),
        ("1.0005", "KWD", "1.000"),
        ("1.0015", "KWD", "1.002"),
        ("1.00005", "CLF", "1.0000"),
    ],
)
def test_rounding_per_currency_half_even(amount, currency, expected):
    rounded = Money(D(amount), currency).rounded()
    assert str(rounded.amount) == expected


def test_rounding_mode_is_configurable(settings):
    assert Money(D("0.125"), "USD").rounded(ROUND_HALF_UP).amount == D("0.13")
    settings.MONEY_ROUNDING = "ROUND_HALF_UP"
    assert Money(D("0.125"), "USD").rounded().amount == D("0.13")
    settings.MONEY_ROUNDING = "ROUND_SOMETIMES"
    with pytest.raises(ValueError):
        Money(D("0.125"), "USD").rounded()


def test_allocation_never_loses_a_cent():
    assert Money(D("100.00"), "CNY").split(3) == [
        Money(D("33.34"), "CNY"),
        Money(D("33.33"), "CNY"),
        Money(D("33.33"), "CNY"),
    ]
    assert Money(D("0.05"), "USD").allocate([3, 7]) == [
        Money(D("0.02"), "USD"),
        Money(D("0.03"), "USD"),
    ]
    assert Money(-100, "JPY").allocate([1, 2]) == [Money(-33, "JPY"), Money(-67, "JPY")]
    assert Money(D("10"), "KWD").allocate([1, 0, 1]) == [
        Money(D("5.000"), "KWD"),
        Money(D("0.000"), "KWD"),
        Money(D("5.000"), "KWD"),
    ]
    with pytest.raises(ValueError):
        Money(1, "USD").allocate([])
    with pytest.raises(ValueError):
        Money(1, "USD").allocate([0, 0])
    with pytest.raises(ValueError):
        Money(1, "USD").allocate([1, -1])


def test_minor_units_round_trip():
    assert Money.from_minor_units(123450, "CNY") == Money(D("1234.50"), "CNY")
    assert Money(D("1234.5"), "CNY").to_minor_units() == 123450
    assert Money.from_minor_units(1234, "BHD").amount == D("1.234")


@pytest.mark.parametrize(
    ("money", "language", "expected"),
    [
        (Money(D("1234.5"), "CNY"), "en", "CNY 1,234.50"),
        (Money(D("1234.5"), "CNY"), "zh-hans", "¥1,234.50"),
        (Money(D("-1234.5"), "CNY"), "zh-hans", "-¥1,234.50"),
        (Money(D("-1234.5"), "CNY"), "en", "CNY -1,234.50"),
        (Money(D("1234567.891"), "USD"), "zh-hans", "USD 1,234,567.89"),
        (Money(D("1234.5"), "JPY"), "en", "JPY 1,234"),
        (Money(D("0.5"), "KWD"), "en", "KWD 0.500"),
    ],
)
def test_format_per_language(money, language, expected):
    assert format_money(money, language) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.5", D("1234.5")),
        ("１２３", D("123")),
        ("１，２３４．５０", D("1234.50")),
        (" -0.50 ", D("-0.50")),
        ("−7", D("-7")),
        ("1 234", D("1234")),
        (".5", D("0.5")),
    ],
)
def test_parse_amount(text, expected):
    assert parse_amount(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1,23", "1.2.3", "12,34,567", "1e5", "NaN", "--1"])
def test_parse_amount_refuses(text):
    with pytest.raises(ValueError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("CNY 1,234.50", None, Money(D("1234.50"), "CNY")),
        ("¥1,234.50", None, Money(D("1234.50"), "CNY")),
        ("￥１２３", None, Money(D("123"), "CNY")),
        ("1,234.50 元", None, Money(D("1234.50"), "CNY")),
        ("-¥1,234.50", None, Money(D("-1234.50"), "CNY")),
        ("CNY -1,234.50", None, Money(D("-1234.50"), "CNY")),
        ("12.5 usd", None, Money(D("12.5"), "USD")),
        ("99", "JPY", Money(99, "JPY")),
    ],
)
def test_parse_money(text, currency, expected):
    assert parse_money(text, currency) == expected


def test_parse_money_refuses_mismatch_and_missing_currency():
    with pytest.raises(CurrencyMismatch):
        parse_money("USD 1", "CNY")
    with pytest.raises(ValueError):
        parse_money("12.00")
    with pytest.raises(UnknownCurrency):
        parse_money("ABC 12.00")


def test_model_fields_are_portable_and_validated():
    amount = AmountField()
    assert (amount.max_digits, amount.decimal_places) == (20, 4)
    currency = CurrencyField()
    assert currency.max_length == 3
    currency.run_validators("CNY")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        currency.run_validators("XXX")
    assert excinfo.value.error_list[0].code == "invalid_currency"
    form_field = currency.formfield()
    assert ("CNY", "CNY — Yuan Renminbi") in form_field.choices
    *_ignored, kwargs = currency.deconstruct()
    assert "choices" not in kwargs  # a new ISO code never needs a migration


def test_money_template_filter():
    template = Template("{% load bankcrm_money %}{{ m|money }}|{{ a|money:'JPY' }}|{{ x|money }}")
    from django.utils import translation

    with translation.override("zh-hans"):
        text = template.render(Context({"m": Money(D("5"), "CNY"), "a": D("1200"), "x": 1.5}))
    assert text == "¥5.00|JPY 1,200|"
