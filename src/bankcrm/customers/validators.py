"""Validators for the identity numbers and contact values a bank records about a customer.

* Chinese resident identity card numbers (GB 11643-1999): 18 characters, six-digit
  administrative region code, birth date ``YYYYMMDD``, three-digit sequence (odd for men,
  even for women) and an ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``).
* Unified Social Credit Codes of organisations (GB 32100-2015): 18 characters from a
  31-character alphabet (no I, O, S, V, Z), a registration-authority code, an organisation
  type code, a six-digit region code, a nine-character organisation code and a check
  character computed MOD 31 with the weights 3^i mod 31.
* Phone numbers to E.164 (``+`` and 8 to 15 digits), reading national numbers as Chinese.
* ISO 3166-1 alpha-2 country codes (format only: two upper-case letters).

Each validator raises ``django.core.exceptions.ValidationError`` with a stable code.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# --- Chinese resident identity card numbers ------------------------------------------------

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"

# First two digits of the administrative division code (GB/T 2260): the 31 mainland
# provinces, autonomous regions and municipalities, Taiwan (71), Hong Kong (81), Macao (82),
# and 83 for the residence permits of Hong Kong, Macao and Taiwan residents.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip

_RESIDENT_ID_RE = re.compile(r"^\d{17}[\dX]$")
# Resident ids were introduced in 1984; nobody alive was born before 1900.
_EARLIEST_BIRTH = dt.date(1900, 1, 1)


def normalize_resident_id(value: str) -> str:
    """Full-width characters to ASCII, spaces removed, a trailing ``x`` upper-cased."""
    text = unicodedata.normalize("NFKC", str(value))
    return "".join(text.split()).upper()


def resident_id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("a resident id body is 17 digits")
    total = sum(
        int(digit) * weight for digit, weight in zip(first17, RESIDENT_ID_WEIGHTS, strict=True)
    )
    return RESIDENT_ID_CHECK[total % 11]


def resident_id_birth_date(number: str) -> dt.date | None:
    """The birth date embedded in an 18-character resident id, or None if not a date."""
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def validate_resident_id(
    value: str, *, date_of_birth: dt.date | None = None, today: dt.date | None = None
) -> str:
    """Validate a resident id and return it normalised (upper-case ``X``).

    When ``date_of_birth`` is known it must equal the birth date embedded in the number.
    """
    number = normalize_resident_id(value)
    if len(number) != 18:
        raise ValidationError(
            _("A resident ID number has 18 characters; this one has %(count)d."),
            code="resident_id_length",
            params={"count": len(number)},
        )
    if not _RESIDENT_ID_RE.match(number):
        raise ValidationError(
            _("A resident ID number is 17 digits followed by a digit or X."),
            code="resident_id_format",
        )
    if number[:2] not in PROVINCE_CODES or (
        number[2:6] == "0000"
        and number[:2]
        not in {
            "71",
            "81",
            "82",
            "83",
        }
    ):
        raise ValidationError(
            _("%(region)s is not a region code of a Chinese province."),
            code="resident_id_region",
            params={"region": number[:6]},
        )
    birth = resident_id_birth_date(number)
    today = today or dt.date.today()
    if birth is None or birth < _EARLIEST_BIRTH or birth > today:
        raise ValidationError(
            _("%(digits)s is not a valid birth date."),
            code="resident_id_birth_date",
            params={"digits": number[6:14]},
        )
    if number[17] != resident_id_check_character(number[:17]):
        raise ValidationError(
            _("The check character of this resident ID number is wrong."),
            code="resident_id_check",
        )
    if date_of_birth is not None and birth != date_of_birth:
        raise ValidationError(
            _("The birth date in the resident ID (%(embedded)s) differs from the date of "
              "birth (%(recorded)s)."),
            code="resident_id_birth_mismatch",
            params={"embedded": birth.isoformat(), "recorded": date_of_birth.isoformat()},
        )  # fmt: skip
    return number


def resident_id_gender(number: str) -> str:
    """ "male" or "female" from the sequence digit (odd for men)."""
    return "male" if int(number[16]) % 2 else "female"


# --- Unified Social Credit Code ----------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# Registration authorities: 1 organisation departments, 5 civil affairs, 9 market
# regulation (industry and commerce), Y others; the letters A-H, N for the rest of
# the authorities listed in GB 32100-2015.
USCC_AUTHORITIES = frozenset("123456789ABCDEFGHNY")
_USCC_RE = re.compile(r"^[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}$")


def normalize_uscc(value: str) -> str:
    """Full-width characters to ASCII, spaces and dashes removed, upper-cased."""
    text = unicodedata.normalize("NFKC", str(value))
    return "".join(ch for ch in text if not ch.isspace() and ch != "-").upper()


def uscc_check_character(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters."""
    if len(first17) != 17 or any(ch not in USCC_ALPHABET for ch in first17):
        raise ValueError("a USCC body is 17 characters of the USCC alphabet")
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """Validate a Unified Social Credit Code and return it normalised."""
    code = normalize_uscc(value)
    if len(code) != 18:
        raise ValidationError(
            _("A Unified Social Credit Code has 18 characters; this one has %(count)d."),
            code="uscc_length",
            params={"count": len(code)},
        )
    if not _USCC_RE.match(code) or code[0] not in USCC_AUTHORITIES:
        raise ValidationError(
            _("This is not a Unified Social Credit Code: check the letters and digits."),
            code="uscc_format",
        )
    if code[17] != uscc_check_character(code[:17]):
        raise ValidationError(
            _("The check character of this Unified Social Credit Code is wrong."),
            code="uscc_check",
        )
    return code


# --- Phone numbers and countries -----------------------------------------------------------


def normalize_phone_e164(value: str, *, default_country_code: str = "86") -> str:
    """A phone number in E.164 (``+8613800138000``); ValidationError when not a number.

    ``+`` or ``00`` starts an international number; otherwise the number is national to
    ``default_country_code`` (a leading trunk ``0`` is dropped, as in ``010 8888 6666``).
    """
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if re.search(r"[^\d\s+()\-./]", text) or text.count("+") > 1 or "+" in text[1:]:
        raise ValidationError(
            _("%(value)s is not a phone number."), code="phone_format", params={"value": value}
        )
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        full = digits
    elif digits.startswith("00"):
        full = digits[2:]
    else:
        national = digits[1:] if digits.startswith("0") else digits
        full = default_country_code + national
    if not 8 <= len(full) <= 15 or full.startswith("0"):
        raise ValidationError(
            _("%(value)s is not a phone number."), code="phone_format", params={"value": value}
        )
    # Mainland mobiles are 1[3-9] and 11 digits; +86 10 is Beijing's area code.
    if full.startswith("86") and full[2:3] == "1" and full[3:4] in "3456789" and len(full) != 13:
        raise ValidationError(
            _("A Chinese mobile number has 11 digits."), code="phone_cn_mobile_length"
        )
    return "+" + full


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email_address(value: str) -> str:
    """Trimmed and lower-cased; ValidationError when it is not an e-mail address."""
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if not _EMAIL_RE.match(text) or len(text) > 254:
        raise ValidationError(
            _("%(value)s is not an e-mail address."), code="email_format", params={"value": value}
        )
    return text


def validate_country_code(value: str) -> None:
    """ISO 3166-1 alpha-2: two upper-case letters."""
    if not re.fullmatch(r"[A-Z]{2}", value or ""):
        raise ValidationError(
            _("%(value)s is not a two-letter ISO country code."),
            code="country_code",
            params={"value": value},
        )


def validate_uscc_field(value: str) -> None:
    """Model-field form of :func:`validate_uscc` (empty allowed by blank=True)."""
    if value:
        validate_uscc(value)
