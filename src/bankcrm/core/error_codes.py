"""Stable error codes of the API, shared by every module.

A code never changes meaning once published: clients branch on it. A module adds its own
codes in its ``error_codes.py`` with the same ``ProblemCode`` shape; the problem ``type``
of a code is ``urn:bankcrm:problem:<code>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class ProblemCode:
    """One kind of failure: its stable code, its HTTP status and its short title."""

    code: str
    status: int
    title: str | Promise


# --- Problems (the whole response) ----------------------------------------------------------

BAD_REQUEST = ProblemCode("bad_request", 400, _("The request cannot be processed."))
MALFORMED_JSON = ProblemCode("malformed_json", 400, _("The request body is not valid JSON."))
AUTHENTICATION_REQUIRED = ProblemCode(
    "authentication_required", 401, _("Sign in or send a valid API token.")
)
INVALID_TOKEN = ProblemCode(
    "invalid_token", 401, _("The API token is unknown, expired or revoked.")
)
PERMISSION_DENIED = ProblemCode(
    "permission_denied", 403, _("You do not have permission to do this.")
)
CSRF_FAILED = ProblemCode(
    "csrf_failed", 403, _("The CSRF token is missing or wrong; reload the page and try again.")
)
SIGN_IN_INCOMPLETE = ProblemCode(
    "sign_in_incomplete",
    403,
    _("Finish signing in first: set up two-factor authentication or change your password."),
)
NOT_FOUND = ProblemCode("not_found", 404, _("Nothing was found at this address."))
METHOD_NOT_ALLOWED = ProblemCode(
    "method_not_allowed", 405, _("This method is not allowed on this address.")
)
CONFLICT = ProblemCode("conflict", 409, _("The request conflicts with the current state."))
PAYLOAD_TOO_LARGE = ProblemCode("payload_too_large", 413, _("The request body is too large."))
UNSUPPORTED_MEDIA_TYPE = ProblemCode(
    "unsupported_media_type", 415, _("The request body must be sent as application/json.")
)
VALIDATION_ERROR = ProblemCode("validation_error", 422, _("Some fields are invalid."))
RATE_LIMITED = ProblemCode("rate_limited", 429, _("Too many requests; try again later."))
INTERNAL_ERROR = ProblemCode(
    "internal_error", 500, _("Something went wrong on our side; it has been logged.")
)

GENERIC_BY_STATUS: dict[int, ProblemCode] = {
    problem.status: problem
    for problem in (
        BAD_REQUEST,
        AUTHENTICATION_REQUIRED,
        PERMISSION_DENIED,
        NOT_FOUND,
        METHOD_NOT_ALLOWED,
        CONFLICT,
        PAYLOAD_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        VALIDATION_ERROR,
        RATE_LIMITED,
        INTERNAL_ERROR,
    )
}

# --- Field codes (one entry of ``errors``) --------------------------------------------------

FIELD_REQUIRED = "required"
FIELD_UNKNOWN = "unknown_field"
FIELD_INVALID_TYPE = "invalid_type"
FIELD_INVALID = "invalid"
FIELD_TOO_LONG = "too_long"
FIELD_TOO_SHORT = "too_short"
FIELD_OUT_OF_RANGE = "out_of_range"
FIELD_INVALID_FORMAT = "invalid_format"
FIELD_INVALID_CHOICE = "invalid_choice"
FIELD_INACTIVE = "inactive_field"
