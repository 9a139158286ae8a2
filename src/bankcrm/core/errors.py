"""API errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has the same shape::

    {"type": "urn:bankcrm:problem:validation_error", "title": "Some fields are invalid.",
     "status": 422, "detail": "...", "code": "validation_error", "instance": "/api/v1/...",
     "errors": [{"field": "body.amount", "message": "...", "code": "invalid_type"}],
     "request_id": "..."}

``type`` is a URN rather than a web address: bank intranets are offline, so a link that
cannot be opened would promise documentation that is not there. ``code`` is the stable
identifier clients branch on; ``title`` and messages follow the caller's language.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pydantic
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from . import error_codes
from .context import current_context
from .error_codes import ProblemCode

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger("bankcrm.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:bankcrm:problem:"


def problem_type(code: str) -> str:
    return f"{PROBLEM_TYPE_PREFIX}{code}"


def field_error(field: str, message: str | Promise, code: str) -> dict[str, str]:
    """One entry of a problem's ``errors``: which field, what is wrong, a stable code."""
    return {"field": field, "message": str(message), "code": code}


class ProblemError(Exception):
    """Raise anywhere under the API to answer with this exact problem.

    ``ProblemError(404, "not_found", "Customer not found")``, or from a registered code:
    ``ProblemError.of(error_codes.CONFLICT, detail=...)``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str | Promise,
        detail: str | Promise | None = None,
        errors: Iterable[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = [dict(item) for item in errors] if errors else []
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {detail or title}")

    @classmethod
    def of(
        cls,
        problem: ProblemCode,
        detail: str | Promise | None = None,
        errors: Iterable[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ProblemError:
        return cls(problem.status, problem.code, problem.title, detail, errors, headers)


def _request_id(request: HttpRequest | None) -> str:
    request_id = getattr(request, "request_id", None)
    return str(request_id) if request_id else current_context().request_id


def problem_body(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    title: str | Promise,
    detail: str | Promise | None = None,
    errors: Iterable[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": str(title),
        "status": status,
        "detail": str(detail) if detail is not None else str(title),
        "code": code,
        "errors": [dict(item) for item in errors] if errors else [],
        "request_id": _request_id(request),
    }
    if request is not None:
        body["instance"] = request.path
    return body


def problem_response(
    request: HttpRequest | None,
    *,
    status: int,
    code: str,
    title: str | Promise,
    detail: str | Promise | None = None,
    errors: Iterable[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    body = problem_body(
        request, status=status, code=code, title=title, detail=detail, errors=errors
    )
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=f"{PROBLEM_CONTENT_TYPE}; charset=utf-8",
    )
    for name, value in (headers or {}).items():
        response[name] = value
    if status == 401:
        response.setdefault("WWW-Authenticate", 'Bearer realm="bankcrm"')
    return response


def response_for_problem(request: HttpRequest | None, exc: ProblemError) -> HttpResponse:
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
    )


def response_for_code(
    request: HttpRequest | None,
    problem: ProblemCode,
    detail: str | Promise | None = None,
    errors: Iterable[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    return problem_response(
        request,
        status=problem.status,
        code=problem.code,
        title=problem.title,
        detail=detail,
        errors=errors,
        headers=headers,
    )


# --- Field errors from pydantic / ninja ------------------------------------------------------

_PYDANTIC_CODES = {
    "missing": error_codes.FIELD_REQUIRED,
    "extra_forbidden": error_codes.FIELD_UNKNOWN,
    "string_too_long": error_codes.FIELD_TOO_LONG,
    "too_long": error_codes.FIELD_TOO_LONG,
    "string_too_short": error_codes.FIELD_TOO_SHORT,
    "too_short": error_codes.FIELD_TOO_SHORT,
    "greater_than": error_codes.FIELD_OUT_OF_RANGE,
    "greater_than_equal": error_codes.FIELD_OUT_OF_RANGE,
    "less_than": error_codes.FIELD_OUT_OF_RANGE,
    "less_than_equal": error_codes.FIELD_OUT_OF_RANGE,
    "decimal_max_digits": error_codes.FIELD_OUT_OF_RANGE,
    "decimal_max_places": error_codes.FIELD_OUT_OF_RANGE,
    "decimal_whole_digits": error_codes.FIELD_OUT_OF_RANGE,
    "finite_number": error_codes.FIELD_INVALID,
    "string_pattern_mismatch": error_codes.FIELD_INVALID_FORMAT,
    "literal_error": error_codes.FIELD_INVALID_CHOICE,
    "enum": error_codes.FIELD_INVALID_CHOICE,
    "uuid_parsing": error_codes.FIELD_INVALID_FORMAT,
    "date_from_datetime_parsing": error_codes.FIELD_INVALID_FORMAT,
    "date_parsing": error_codes.FIELD_INVALID_FORMAT,
    "datetime_parsing": error_codes.FIELD_INVALID_FORMAT,
    "datetime_from_date_parsing": error_codes.FIELD_INVALID_FORMAT,
    "time_parsing": error_codes.FIELD_INVALID_FORMAT,
    "timezone_aware": error_codes.FIELD_INVALID_FORMAT,
}


def _field_code(pydantic_type: str) -> str:
    if pydantic_type in _PYDANTIC_CODES:
        return _PYDANTIC_CODES[pydantic_type]
    if pydantic_type.endswith(("_type", "_parsing")) or pydantic_type.startswith(
        ("int_from", "bool_", "decimal_")
    ):
        return error_codes.FIELD_INVALID_TYPE
    return error_codes.FIELD_INVALID


def _field_message(item: Mapping[str, Any], code: str) -> str:
    ctx = item.get("ctx") or {}
    if code == error_codes.FIELD_REQUIRED:
        return _("This field is required.")
    if code == error_codes.FIELD_UNKNOWN:
        return _("This field is not allowed here.")
    if code == error_codes.FIELD_TOO_LONG and "max_length" in ctx:
        return _("Ensure this value has at most %(max_length)s characters or items.") % {
            "max_length": ctx["max_length"]
        }
    if code == error_codes.FIELD_TOO_SHORT and "min_length" in ctx:
        return _("Ensure this value has at least %(min_length)s characters or items.") % {
            "min_length": ctx["min_length"]
        }
    # pydantic's own sentence names the expected type or bound precisely.
    message = str(item.get("msg") or _("This value is invalid."))
    return message.removeprefix("Value error, ")


def dotted(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc)


def field_errors_from_ninja(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``errors`` of a ninja ValidationError (locations already prefixed by source)."""
    result = []
    for item in errors:
        code = _field_code(str(item.get("type", "")))
        result.append(field_error(dotted(item.get("loc", ())), _field_message(item, code), code))
    return result


def field_errors_from_pydantic(
    exc: pydantic.ValidationError, prefix: str = ""
) -> list[dict[str, str]]:
    result = []
    for item in exc.errors(include_url=False):
        code = _field_code(item["type"])
        loc = dotted(item["loc"])
        field = ".".join(part for part in (prefix, loc) if part)
        result.append(field_error(field, _field_message(item, code), code))
    return result


def field_errors_from_django(exc: DjangoValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Flatten a Django ValidationError; ``__all__`` errors name the prefix (or nothing)."""
    result = []
    if hasattr(exc, "error_dict"):
        items: list[tuple[str, list[DjangoValidationError]]] = list(exc.error_dict.items())
    else:
        items = [("__all__", exc.error_list)]
    for name, errors in items:
        path = "" if name in ("__all__", None) else str(name)
        field = ".".join(part for part in (prefix, path) if part)
        for error in errors:
            for message in error:  # iterating a ValidationError yields formatted messages
                code = error.code or error_codes.FIELD_INVALID
                result.append(field_error(field, str(message), code))
    return result


# --- Handlers installed on the NinjaAPI -------------------------------------------------------


def _on_problem(request: HttpRequest, exc: ProblemError) -> HttpResponse:
    return response_for_problem(request, exc)


def _on_ninja_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = field_errors_from_ninja(exc.errors)
    return response_for_code(
        request,
        error_codes.VALIDATION_ERROR,
        detail=ngettext(
            "%(count)d field is invalid: %(fields)s.",
            "%(count)d fields are invalid: %(fields)s.",
            len(errors),
        )
        % {"count": len(errors), "fields": ", ".join(e["field"] for e in errors)},
        errors=errors,
    )


def _on_pydantic_validation(request: HttpRequest, exc: pydantic.ValidationError) -> HttpResponse:
    errors = field_errors_from_pydantic(exc)
    return response_for_code(request, error_codes.VALIDATION_ERROR, errors=errors)


def _on_django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = field_errors_from_django(exc)
    return response_for_code(
        request,
        error_codes.VALIDATION_ERROR,
        detail="; ".join(
            f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
        ),
        errors=errors,
    )


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, ProblemError):
        return response_for_problem(request, cause)
    if isinstance(cause, RequestDataTooBig):
        return _on_too_big(request, cause)
    if isinstance(exc, Throttled):
        headers = {"Retry-After": str(int(exc.wait))} if exc.wait else {}
        return response_for_code(request, error_codes.RATE_LIMITED, headers=headers)
    if isinstance(exc, AuthenticationError):
        return response_for_code(request, error_codes.AUTHENTICATION_REQUIRED)
    if exc.status_code == 400 and cause is not None and exc.message.startswith("Cannot parse"):
        # ninja raises 400 "Cannot parse request body" from the JSON parser's error.
        return response_for_code(
            request,
            error_codes.MALFORMED_JSON,
            detail=_("The body could not be read as JSON: %(reason)s")
            % {"reason": _json_reason(cause)},
        )
    problem = error_codes.GENERIC_BY_STATUS.get(exc.status_code)
    if problem is None:
        problem = error_codes.BAD_REQUEST if exc.status_code < 500 else error_codes.INTERNAL_ERROR
        return problem_response(
            request,
            status=exc.status_code,
            code=problem.code,
            title=problem.title,
            detail=exc.message,
        )
    return response_for_code(request, problem, detail=exc.message)


def _json_reason(cause: BaseException) -> str:
    if isinstance(cause, json.JSONDecodeError):
        return _("%(message)s (line %(line)d, column %(column)d)") % {
            "message": cause.msg,
            "line": cause.lineno,
            "column": cause.colno,
        }
    if isinstance(cause, UnicodeDecodeError):
        return _("the body is not UTF-8 text")
    if isinstance(cause, RecursionError):
        return _("the document is nested too deeply")
    return str(cause)


def _on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    from django.conf import settings

    return response_for_code(
        request,
        error_codes.PAYLOAD_TOO_LARGE,
        detail=_("Send at most %(limit)d bytes in one request.")
        % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
    )


def _on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    logger.warning("suspicious API request %s: %s", request.path, exc.__class__.__name__)
    return response_for_code(request, error_codes.BAD_REQUEST)


def _on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return response_for_code(request, error_codes.NOT_FOUND)


def _on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    detail = str(exc) if exc.args and exc.args[0] else None
    return response_for_code(request, error_codes.PERMISSION_DENIED, detail=detail)


def _on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The caller gets the request id to quote to support; the traceback stays in the log.
    logger.exception(
        "unhandled API error on %s %s (request %s)",
        request.method,
        request.path,
        _request_id(request),
        exc_info=exc,
    )
    return response_for_code(request, error_codes.INTERNAL_ERROR)


def _add(api: NinjaAPI, exc_class: type[Exception], handler: Callable[..., HttpResponse]) -> None:
    api.add_exception_handler(exc_class, handler)


def install_problem_handlers(api: NinjaAPI) -> None:
    """Answer every error under ``api`` with problem+json (most specific class wins)."""
    _add(api, ProblemError, _on_problem)
    _add(api, NinjaValidationError, _on_ninja_validation)
    _add(api, pydantic.ValidationError, _on_pydantic_validation)
    _add(api, DjangoValidationError, _on_django_validation)
    _add(api, HttpError, _on_http_error)
    _add(api, RequestDataTooBig, _on_too_big)
    _add(api, SuspiciousOperation, _on_suspicious)
    _add(api, Http404, _on_not_found)
    _add(api, ObjectDoesNotExist, _on_not_found)
    _add(api, PermissionDenied, _on_permission_denied)
    _add(api, Exception, _on_unexpected)
