"""Stable error codes of the customization module (field codes of ``errors`` entries).

The problem codes are the generic ones of ``bankcrm.core.error_codes``; these name what
is wrong with one custom field value or definition attribute.
"""

from bankcrm.core.error_codes import (
    FIELD_INACTIVE,
    FIELD_INVALID,
    FIELD_INVALID_CHOICE,
    FIELD_INVALID_FORMAT,
    FIELD_INVALID_TYPE,
    FIELD_OUT_OF_RANGE,
    FIELD_REQUIRED,
    FIELD_TOO_LONG,
    FIELD_UNKNOWN,
)

# A record type (``model``) that carries no custom fields.
UNKNOWN_RECORD_TYPE = "unknown_record_type"
# A key already used by another field of the same record type.
DUPLICATE_KEY = "duplicate_key"

__all__ = [
    "DUPLICATE_KEY",
    "FIELD_INACTIVE",
    "FIELD_INVALID",
    "FIELD_INVALID_CHOICE",
    "FIELD_INVALID_FORMAT",
    "FIELD_INVALID_TYPE",
    "FIELD_OUT_OF_RANGE",
    "FIELD_REQUIRED",
    "FIELD_TOO_LONG",
    "FIELD_UNKNOWN",
    "UNKNOWN_RECORD_TYPE",
]
