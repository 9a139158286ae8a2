"""Reading one custom field value by its definition: type, bounds, pattern, choices.

Pure functions without database access, shared by the validation service, the filters and
the forms. Cleaned values are JSON-safe and canonical, so equal values are stored alike
and exact filters find them: whole numbers as int, decimals as text without trailing zeros
("1234.5"), dates as ISO text ("2024-03-01"), booleans as bool, choices as their value,
multi-choices as a list in the definition's order.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from bankcrm.core import error_codes
from bankcrm.core.money import parse_amount

from .models import CustomFieldDefinition, CustomFieldType

# Beyond 2**53 a JavaScript client silently loses digits of a whole number.
MAX_SAFE_INTEGER = 2**53 - 1
# Upper bound of a text value when the definition sets none; also bounds regex work.
TEXT_HARD_LIMIT = 10_000
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CHOICE_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple) and not value)


def _error(message: str, code: str, **params: Any) -> ValidationError:
    return ValidationError(message, code=code, params=params or None)


def _wrong_type(definition: CustomFieldDefinition, expected: str) -> ValidationError:
    return _error(
        _("%(label)s must be %(expected)s.") % {"label": definition.label, "expected": expected},
        error_codes.FIELD_INVALID_TYPE,
    )


def canonical_decimal(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def to_integer(value: Any) -> int | None:
    """An int from an int, an integral Decimal or typed text ("１,２００"); None otherwise."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else None
    if isinstance(value, str):
        try:
            number = parse_amount(value)
        except ValueError:
            return None
        return int(number) if number == number.to_integral_value() else None
    return None


def to_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool | float):
        return None  # floats are never exact: send decimals as JSON numbers or text
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        try:
            return parse_amount(value)
        except (ValueError, InvalidOperation):
            return None
    return None


def to_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None  # a moment is not a calendar date; the zone would decide the day
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def bound(field_type: str, text: str) -> int | Decimal | dt.date | None:
    """A definition's stored min/max text as a comparable value of its type."""
    if not text:
        return None
    if field_type == CustomFieldType.NUMBER:
        return to_integer(text)
    if field_type == CustomFieldType.DECIMAL:
        return to_decimal(text)
    if field_type == CustomFieldType.DATE:
        return to_date(text)
    return None


def _check_range(definition: CustomFieldDefinition, value: Any, shown: str) -> None:
    low = bound(definition.field_type, definition.min_value)
    high = bound(definition.field_type, definition.max_value)
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            message = _("%(label)s must be between %(min)s and %(max)s; %(value)s is not.")
        elif low is not None:
            message = _("%(label)s must be at least %(min)s; %(value)s is less.")
        else:
            message = _("%(label)s must be at most %(max)s; %(value)s is more.")
        raise _error(
            message
            % {
                "label": definition.label,
                "min": definition.min_value,
                "max": definition.max_value,
                "value": shown,
            },
            error_codes.FIELD_OUT_OF_RANGE,
        )


def _choice_values(definition: CustomFieldDefinition) -> list[str]:
    return [str(choice.get("value")) for choice in definition.choices or []]


def clean_value(definition: CustomFieldDefinition, value: Any) -> Any:
    """The canonical JSON-safe value, or ValidationError with a stable code.

    Empty input (None, "", []) gives None; whether that is allowed (required fields) is
    the caller's decision.
    """
    if is_empty(value):
        return None
    kind = definition.field_type
    if kind == CustomFieldType.TEXT:
        if not isinstance(value, str):
            raise _wrong_type(definition, _("text"))
        text = value.strip()
        limit = definition.max_length or TEXT_HARD_LIMIT
        if len(text) > limit:
            raise _error(
                _("%(label)s must have at most %(max_length)d characters (it has %(length)d).")
                % {"label": definition.label, "max_length": limit, "length": len(text)},
                error_codes.FIELD_TOO_LONG,
            )
        if definition.regex and not re.fullmatch(definition.regex, text):
            raise _error(
                _("%(label)s does not have the expected format.") % {"label": definition.label},
                error_codes.FIELD_INVALID_FORMAT,
            )
        return text or None
    if kind == CustomFieldType.NUMBER:
        number = to_integer(value)
        if number is None:
            raise _wrong_type(definition, _("a whole number"))
        if abs(number) > MAX_SAFE_INTEGER:
            raise _error(
                _("%(label)s is too large.") % {"label": definition.label},
                error_codes.FIELD_OUT_OF_RANGE,
            )
        _check_range(definition, number, str(number))
        return number
    if kind == CustomFieldType.DECIMAL:
        amount = to_decimal(value)
        if amount is None:
            raise _wrong_type(definition, _("a decimal number"))
        shown = canonical_decimal(amount)
        if len(shown) > 40:
            raise _error(
                _("%(label)s has too many digits.") % {"label": definition.label},
                error_codes.FIELD_OUT_OF_RANGE,
            )
        _check_range(definition, amount, shown)
        return shown
    if kind == CustomFieldType.DATE:
        day = to_date(value)
        if day is None:
            raise _wrong_type(definition, _("a date (YYYY-MM-DD)"))
        _check_range(definition, day, day.isoformat())
        return day.isoformat()
    if kind == CustomFieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _wrong_type(definition, _("true or false"))
    if kind == CustomFieldType.CHOICE:
        if not isinstance(value, str):
            raise _wrong_type(definition, _("one of the listed values"))
        if value not in _choice_values(definition):
            raise _error(
                _("%(value)s is not a choice of %(label)s.")
                % {"value": value[:100], "label": definition.label},
                error_codes.FIELD_INVALID_CHOICE,
            )
        return value
    if kind == CustomFieldType.MULTI_CHOICE:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _wrong_type(definition, _("a list of the listed values"))
        allowed = _choice_values(definition)
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise _error(
                _("%(values)s: not a choice of %(label)s.")
                % {"values": ", ".join(v[:100] for v in unknown[:5]), "label": definition.label},
                error_codes.FIELD_INVALID_CHOICE,
            )
        chosen = set(value)
        return [v for v in allowed if v in chosen]
    raise _error(_("Unknown field type %(type)s.") % {"type": kind}, error_codes.FIELD_INVALID)
