"""Money: an exact ``Decimal`` amount in one ISO 4217 currency, never a float.

- Arithmetic only within one currency; mixing currencies raises ``CurrencyMismatch``.
- ``rounded()`` rounds to the currency's minor units (CNY 2, JPY 0, KWD 3) with banker's
  rounding (ROUND_HALF_EVEN) unless told otherwise, or ``settings.MONEY_ROUNDING`` names
  another ``decimal`` rounding mode.
- ``allocate()`` splits an amount by ratios without losing or inventing a minor unit.
- ``format_money()``: English shows the ISO code ("CNY 1,234.50", "CNY -1,234.50");
  Simplified Chinese shows "¥1,234.50" for renminbi (the symbol a Chinese reader expects)
  and the ISO code for every other currency ("USD 1,234.50"), since "¥" alone is ambiguous
  with the yen.
- ``parse_amount()`` / ``parse_money()`` read what people type: grouping commas,
  full-width digits ("１２３"), a currency code, "¥" or "元".

Model columns: ``AmountField`` (Decimal, 20 digits, 4 places) beside a ``CurrencyField``
(three letters, validated against the ISO table): portable to SQLite and PostgreSQL.
"""

from __future__ import annotations

import decimal
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .currencies import CURRENCIES, CURRENCY_CHOICES, Currency

__all__ = [
    "AmountField",
    "CurrencyField",
    "CurrencyMismatch",
    "Money",
    "UnknownCurrency",
    "currency_info",
    "format_money",
    "parse_amount",
    "parse_money",
]


class UnknownCurrency(ValueError):
    """The code is not an active ISO 4217 currency."""


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


def currency_info(code: str) -> Currency:
    try:
        return CURRENCIES[code]
    except (KeyError, TypeError):
        raise UnknownCurrency(f"{code!r} is not an active ISO 4217 currency code") from None


def default_rounding() -> str:
    from django.conf import settings

    mode = getattr(settings, "MONEY_ROUNDING", decimal.ROUND_HALF_EVEN)
    if not (isinstance(mode, str) and mode.startswith("ROUND_") and hasattr(decimal, mode)):
        raise ValueError(f"MONEY_ROUNDING must name a decimal rounding mode, not {mode!r}")
    return mode


def _to_decimal(value: Any) -> Decimal:
    # bool is an int subclass: True is not one yuan.
    if isinstance(value, bool | float):
        raise TypeError(f"Money amounts must be Decimal, int or str, never {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    else:
        raise TypeError(f"Money amounts must be Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError("Money amounts must be finite numbers")
    return result


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of money in one currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _to_decimal(self.amount))
        code = self.currency.upper() if isinstance(self.currency, str) else self.currency
        currency_info(code)
        object.__setattr__(self, "currency", code)

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor_units(cls, units: int, currency: str) -> Money:
        """``Money.from_minor_units(123450, "CNY")`` is CNY 1,234.50."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError("minor units must be an int")
        exponent = currency_info(currency.upper()).minor_units
        return cls(Decimal(units).scaleb(-exponent), currency)

    # --- currency facts -------------------------------------------------------------------

    @property
    def minor_units(self) -> int:
        return currency_info(self.currency).minor_units

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.minor_units)

    def to_minor_units(self, rounding: str | None = None) -> int:
        return int(self.rounded(rounding).amount.scaleb(self.minor_units))

    # --- rounding -------------------------------------------------------------------------

    def rounded(self, rounding: str | None = None) -> Money:
        """The amount rounded to the currency's minor units (banker's rounding by default)."""
        amount = self.amount.quantize(self.quantum, rounding=rounding or default_rounding())
        return Money(amount, self.currency)

    def is_rounded(self) -> bool:
        return self.amount == self.amount.quantize(self.quantum, rounding=decimal.ROUND_DOWN)

    # --- arithmetic -----------------------------------------------------------------------

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: object) -> Money:
        if isinstance(other, Money):
            self._same_currency(other)
            return Money(self.amount + other.amount, self.currency)
        return NotImplemented

    def __radd__(self, other: object) -> Money:
        # Lets sum() start from 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return self.__add__(other)

    def __sub__(self, other: object) -> Money:
        if isinstance(other, Money):
            self._same_currency(other)
            return Money(self.amount - other.amount, self.currency)
        return NotImplemented

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, Money):
            raise TypeError("cannot multiply money by money")
        if isinstance(factor, Decimal | int) and not isinstance(factor, bool):
            return Money(self.amount * _to_decimal(factor), self.currency)
        if isinstance(factor, float):
            raise TypeError("cannot multiply money by a float; use Decimal")
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, divisor: object) -> Money:
        if isinstance(divisor, Decimal | int) and not isinstance(divisor, bool):
            return Money(self.amount / _to_decimal(divisor), self.currency)
        if isinstance(divisor, float):
            raise TypeError("cannot divide money by a float; use Decimal")
        if isinstance(divisor, Money):
            raise TypeError("divide amounts explicitly: a.amount / b.amount")
        return NotImplemented

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __bool__(self) -> bool:
        return bool(self.amount)

    def _compare(self, other: object) -> Decimal:
        if not isinstance(other, Money):
            raise TypeError(f"cannot compare Money with {type(other).__name__}")
        self._same_currency(other)
        return self.amount - other.amount

    def __lt__(self, other: object) -> bool:
        return self._compare(other) < 0

    def __le__(self, other: object) -> bool:
        return self._compare(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._compare(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._compare(other) >= 0

    # --- allocation -----------------------------------------------------------------------

    def allocate(self, ratios: Sequence[int | Decimal], rounding: str | None = None) -> list[Money]:
        """Split the (rounded) amount by ``ratios``; the parts add up exactly to it.

        Minor units left over by flooring go one each to the parts with the largest
        remainders (earlier parts first on ties), so ``[1, 1, 1]`` of CNY 100.00 gives
        33.34, 33.33, 33.33.
        """
        if not ratios:
            raise ValueError("allocate needs at least one ratio")
        weights = [_to_decimal(r) for r in ratios]
        if any(w < 0 for w in weights):
            raise ValueError("ratios must not be negative")
        total_weight = sum(weights, Decimal(0))
        if total_weight == 0:
            raise ValueError("ratios must not all be zero")
        units = self.to_minor_units(rounding)
        sign = -1 if units < 0 else 1
        units = abs(units)
        floors: list[int] = []
        remainders: list[Decimal] = []
        for weight in weights:
            exact = Decimal(units) * weight / total_weight
            floor = int(exact.to_integral_value(rounding=decimal.ROUND_FLOOR))
            floors.append(floor)
            remainders.append(exact - floor)
        leftover = units - sum(floors)
        by_remainder = sorted(range(len(floors)), key=lambda i: (-remainders[i], i))
        for index in by_remainder[:leftover]:
            floors[index] += 1
        return [Money.from_minor_units(sign * floor, self.currency) for floor in floors]

    def split(self, parts: int, rounding: str | None = None) -> list[Money]:
        """``allocate`` into ``parts`` equal shares."""
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise ValueError("parts must be a positive int")
        return self.allocate([1] * parts, rounding)

    # --- text -----------------------------------------------------------------------------

    def __str__(self) -> str:
        return format_money(self, "en")

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"


# --- formatting -------------------------------------------------------------------------------


def _grouped(amount: Decimal, places: int) -> str:
    return f"{abs(amount):,.{places}f}"


def format_money(money: Money, language: str | None = None, *, rounding: str | None = None) -> str:
    """Show an amount for people, rounded to its minor units (see the module docstring)."""
    if language is None:
        from django.utils import translation

        language = translation.get_language() or "en"
    value = money.rounded(rounding)
    digits = _grouped(value.amount, value.minor_units)
    sign = "-" if value.amount < 0 else ""
    if language.lower().startswith("zh") and value.currency == "CNY":
        return f"{sign}¥{digits}"
    return f"{value.currency} {sign}{digits}"


# --- parsing ----------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^[+-]?\.\d+$")
_YUAN_MARKS = ("RMB", "¥", "元")  # NFKC has already folded "￥" to "¥"


def _normalise(text: str) -> str:
    # NFKC turns full-width digits, comma, point and minus ("１２３，４５６．７") into ASCII.
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2212", "-")  # the typographic minus sign
    return re.sub(r"[\s\u00a0\u202f]+", "", text)


def parse_amount(text: str) -> Decimal:
    """Read a number as typed: "1,234.5", "１２３", "-0.50"; raises ValueError otherwise."""
    if not isinstance(text, str):
        raise TypeError("parse_amount reads text")
    cleaned = _normalise(text)
    if not _NUMBER.match(cleaned):
        raise ValueError(f"{text!r} is not an amount")
    return Decimal(cleaned.replace(",", ""))


def parse_money(text: str, currency: str | None = None) -> Money:
    """Read an amount with its currency: "CNY 1,234.50", "¥1,234.50", "1,234.50 元".

    ``currency`` is used when the text names none; a text naming a different currency
    than ``currency`` is an error.
    """
    cleaned = _normalise(text)
    sign = ""
    if cleaned[:1] in "+-":
        sign, cleaned = cleaned[:1], cleaned[1:]
    found: str | None = None
    upper = cleaned.upper()
    for mark in _YUAN_MARKS:
        if upper.startswith(mark):
            found, cleaned = "CNY", cleaned[len(mark) :]
            break
        if upper.endswith(mark):
            found, cleaned = "CNY", cleaned[: -len(mark)]
            break
    else:
        leading = re.fullmatch(r"([A-Za-z]{3})(.+)", cleaned)
        trailing = re.fullmatch(r"(.+?)([A-Za-z]{3})", cleaned)
        if leading:
            found, cleaned = leading.group(1).upper(), leading.group(2)
        elif trailing:
            found, cleaned = trailing.group(2).upper(), trailing.group(1)
    if found is not None:
        currency_info(found)
    if currency is not None and found is not None and found != currency.upper():
        raise CurrencyMismatch(f"{text!r} is in {found}, expected {currency.upper()}")
    code = found or currency
    if code is None:
        raise ValueError(f"{text!r} names no currency")
    return Money(parse_amount(sign + cleaned), code)


# --- model and form fields --------------------------------------------------------------------


def validate_currency_code(value: str) -> None:
    if value not in CURRENCIES:
        raise ValidationError(
            _("%(value)s is not an ISO 4217 currency code."),
            code="invalid_currency",
            params={"value": value},
        )


class AmountField(models.DecimalField):
    """An amount column: Decimal with 20 digits, 4 after the point (covers every currency)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 4)
        super().__init__(*args, **kwargs)


class CurrencyField(models.CharField):
    """An ISO 4217 currency code column; forms offer the list of currencies."""

    default_validators = [validate_currency_code]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 3)
        super().__init__(*args, **kwargs)

    def formfield(self, **kwargs: Any) -> Any:
        # Choices live in the form, not the column, so a new ISO code needs no migration.
        choices = ([("", "---------")] if self.blank else []) + CURRENCY_CHOICES
        defaults: dict[str, Any] = {
            "required": not self.blank,
            "label": self.verbose_name,
            "help_text": self.help_text,
            "choices": choices,
        }
        defaults.update(kwargs)
        return forms.ChoiceField(**defaults)
